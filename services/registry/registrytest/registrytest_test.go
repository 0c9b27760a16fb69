package registrytest_test

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/services/registry/registrytest"
)

func TestStartRegistersTopics(t *testing.T) {
	k := testkit.Kafka(t)
	url := registrytest.Start(t, k.Seeds(), schemas.TopicRaw)
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	subs, err := cl.Subjects(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 1 || subs[0] != schemas.Subject(schemas.TopicRaw) {
		t.Fatalf("subjects = %v", subs)
	}
}
