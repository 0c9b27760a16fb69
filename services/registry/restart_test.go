package registry_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/services/registry"
)

// TestRestartKeepsState stops both the registry and the broker, starts them
// again on the same data directory, and expects everything back.
func TestRestartKeepsState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	broker := testkit.KafkaAt(t, dir)
	in := startRegistry(t, broker.Seeds(), registry.Config{})
	cl, ctx := in.cl, ctxT(t)
	p1 := mustRegister(t, cl, "person", personV1)
	p2 := mustRegister(t, cl, "person", personGradeDefault)
	o1 := mustRegister(t, cl, "org", orgV1)
	mustRegister(t, cl, "gone", `{"type":"enum","name":"E","symbols":["A"]}`)
	setLevel(t, cl, sr.CompatFullTransitive, "person")
	setLevel(t, cl, sr.CompatForward)
	if r := cl.SetMode(ctx, sr.ModeReadOnly, "org"); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	if err := cl.DeleteSchema(ctx, "person", 1, sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.DeleteSubject(ctx, "gone", sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.DeleteSubject(ctx, "gone", sr.HardDelete); err != nil {
		t.Fatal(err)
	}

	in.stop()
	broker.Close()

	broker = testkit.KafkaAt(t, dir)
	in = startRegistry(t, broker.Seeds(), registry.Config{})
	cl = in.cl

	if ss, err := cl.SchemaByVersion(ctx, "person", -1); err != nil || ss.ID != p2.ID || ss.Version != 2 {
		t.Fatalf("person latest after restart: %+v %v", ss, err)
	}
	if vs, err := cl.SubjectVersions(ctx, "person"); err != nil || !slices.Equal(vs, []int{2}) {
		t.Fatalf("soft delete lost on restart: %v %v", vs, err)
	}
	if s, err := cl.SchemaByID(ctx, p1.ID); err != nil || s.Schema != personV1 {
		t.Fatalf("soft-deleted id after restart: %+v %v", s, err)
	}
	if ss, err := cl.LookupSchema(ctx, "org", avroSchema(orgV1)); err != nil || ss.ID != o1.ID {
		t.Fatalf("org after restart: %+v %v", ss, err)
	}
	if subjects, _ := cl.Subjects(sr.WithParams(ctx, sr.ShowDeleted)); !slices.Equal(subjects, []string{"org", "person"}) {
		t.Fatalf("subjects after restart: %v", subjects)
	}
	if r := cl.Compatibility(ctx, "person"); r[0].Err != nil || r[0].Level != sr.CompatFullTransitive {
		t.Fatalf("subject level after restart: %+v", r[0])
	}
	if r := cl.Compatibility(ctx); r[0].Level != sr.CompatForward {
		t.Fatalf("global level after restart: %+v", r[0])
	}
	if r := cl.Mode(ctx, "org"); r[0].Err != nil || r[0].Mode != sr.ModeReadOnly {
		t.Fatalf("mode after restart: %+v", r[0])
	}
	// Ids continue after the highest ever assigned (4, hard-deleted).
	if ss := mustRegister(t, cl, "new", `{"type":"record","name":"N","fields":[]}`); ss.ID != 5 || ss.Version != 1 {
		t.Fatalf("registration after restart: got id %d version %d, want 5/1", ss.ID, ss.Version)
	}
	// Versions continue too, and compatibility is still enforced.
	if ss := mustRegister(t, cl, "person", personV1); ss.Version != 3 || ss.ID != p1.ID {
		t.Fatalf("person after restart: got %+v, want version 3 id %d", ss, p1.ID)
	}
	_, err := cl.RegisterSchema(ctx, "person", avroSchema(personGradeNoDefault), -1, -1)
	wantCode(t, err, 409)
}

// TestCompactionNeverReusesIDs hard-deletes the newest schema, lets the broker
// compact its records away, and checks a restarted registry still continues
// after the deleted id.
func TestCompactionNeverReusesIDs(t *testing.T) {
	t.Parallel()
	broker := testkit.Kafka(t)
	ctx := ctxT(t)

	// Tombstones expire at once, so compaction removes every trace of the
	// deleted subject except the id watermark.
	adm := kadm.NewClient(testkit.Client(t, broker.Seeds()))
	resp, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy":      kadm.StringPtr("compact"),
		"delete.retention.ms": kadm.StringPtr("0"),
	}, "_schemas")
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}

	in := startRegistry(t, broker.Seeds(), registry.Config{})
	cl := in.cl
	mustRegister(t, cl, "keep", personV1)
	mustRegister(t, cl, "drop", orgV1)
	if _, err := cl.DeleteSubject(ctx, "drop", sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.DeleteSubject(ctx, "drop", sr.HardDelete); err != nil {
		t.Fatal(err)
	}
	// Something after the tombstones, so they are not the last records.
	setLevel(t, cl, sr.CompatFull)
	in.stop()

	broker.Cluster().Compact()
	for _, r := range readTopic(t, broker.Seeds(), "_schemas") {
		var k struct {
			Subject string `json:"subject"`
		}
		_ = json.Unmarshal(r.Key, &k)
		if k.Subject == "drop" && r.Value != nil {
			t.Fatalf("compaction kept a record of the deleted subject: %s", r.Key)
		}
	}

	in = startRegistry(t, broker.Seeds(), registry.Config{})
	if ss := mustRegister(t, in.cl, "next", `{"type":"record","name":"N","fields":[]}`); ss.ID != 3 {
		t.Fatalf("id after compaction: got %d, want 3 (2 was hard-deleted, never reused)", ss.ID)
	}
}

func readTopic(t *testing.T, seeds []string, topic string) []*kgo.Record {
	t.Helper()
	cl := testkit.Client(t, seeds, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctxT(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if len(out) > 0 && out[len(out)-1].Offset >= end.Offset-1 {
			return out
		}
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: got to %d records, end offset %d", topic, len(out), end.Offset)
		}
		out = append(out, fs.Records()...)
	}
}
