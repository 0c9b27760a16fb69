// Package registrar publishes esrflow's schemas to a Confluent-compatible
// registry under TopicNameStrategy subjects (<topic>-value).
//
// It registers every released version of a topic's schema in order, oldest
// first, rather than only the newest: the registry then holds the full history,
// so its compatibility check (BACKWARD_TRANSITIVE for events) compares a future
// version against every version consumers may still be reading.
//
// Before registering, it gives the subject its own compatibility level,
// BACKWARD_TRANSITIVE (PUT /config/{subject}), unless the subject already has
// that level or the stricter FULL_TRANSITIVE. A subject without a level of its
// own follows the registry's global one, and clients of other languages set a
// subject's level on their first register() when it has none
// (@kafkajs/confluent-schema-registry PUTs BACKWARD by default), downgrading the
// contract; a subject that has its own level makes such a client fail instead.
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
	if err := EnsureCompatibility(ctx, cl, out.Subject); err != nil {
		return out, err
	}
	for _, v := range versions {
		_, text, err := schemas.Version(b.Schema, v)
		if err != nil {
			return out, err
		}
		// RegisterSchema: only the id is needed (see avrox.Serde.Register).
		id, err := cl.RegisterSchema(ctx, out.Subject, sr.Schema{Schema: text, Type: sr.TypeAvro}, -1, -1)
		if err != nil {
			return out, fmt.Errorf("registering %s v%d under %s: %w", b.Schema, v, out.Subject, err)
		}
		out.IDs = append(out.IDs, id)
	}
	return out, nil
}

// Compatibility is the level every subject gets (docs/schemas.md).
const Compatibility = sr.CompatBackwardTransitive

// EnsureCompatibility gives subject its own level, Compatibility, unless it
// already has it or FULL_TRANSITIVE (which checks backward against every
// version too). The subject need not exist yet.
func EnsureCompatibility(ctx context.Context, cl *sr.Client, subject string) error {
	got := cl.Compatibility(ctx, subject)[0] // 40408 when it has no level of its own
	if got.Err == nil && (got.Level == Compatibility || got.Level == sr.CompatFullTransitive) {
		return nil
	}
	if r := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: Compatibility}, subject)[0]; r.Err != nil {
		return fmt.Errorf("setting %s compatibility of %s: %w", Compatibility, subject, r.Err)
	}
	return nil
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
