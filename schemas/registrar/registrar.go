// Package registrar publishes esrflow's schemas to a Confluent-compatible
// registry under TopicNameStrategy subjects (<topic>-value).
//
// It registers every released version of a topic's schema in order, oldest
// first, rather than only the newest: the registry then holds the full history,
// so its compatibility check (BACKWARD_TRANSITIVE for events) compares a future
// version against every version consumers may still be reading.
package registrar

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/esrflow/esrflow/schemas"
)

// Registered is the outcome for one topic: its subject and the registry id of
// each version, oldest first.
type Registered struct {
	Topic   string
	Subject string
	IDs     []int
}

// RegisterTopic registers every version of the schema bound to topic. It is
// idempotent: a version the subject already has keeps its id.
func RegisterTopic(ctx context.Context, cl *sr.Client, topic string) (Registered, error) {
	b, err := schemas.SchemaForTopic(topic)
	if err != nil {
		return Registered{}, err
	}
	versions, err := schemas.Versions(b.Schema)
	if err != nil {
		return Registered{}, err
	}
	out := Registered{Topic: topic, Subject: schemas.Subject(topic)}
	for _, v := range versions {
		_, text, err := schemas.Version(b.Schema, v)
		if err != nil {
			return out, err
		}
		ss, err := cl.CreateSchema(ctx, out.Subject, sr.Schema{Schema: text, Type: sr.TypeAvro})
		if err != nil {
			return out, fmt.Errorf("registering %s v%d under %s: %w", b.Schema, v, out.Subject, err)
		}
		out.IDs = append(out.IDs, ss.ID)
	}
	return out, nil
}

// RegisterTopics registers each topic in turn.
func RegisterTopics(ctx context.Context, cl *sr.Client, topics ...string) ([]Registered, error) {
	var out []Registered
	for _, t := range topics {
		r, err := RegisterTopic(ctx, cl, t)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}
