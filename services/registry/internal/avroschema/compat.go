package avroschema

import (
	"fmt"
	"strings"

	"github.com/hamba/avro/v2"
)

// Level is a compatibility level.
type Level string

// Compatibility levels, as in Confluent Schema Registry.
const (
	None               Level = "NONE"
	Backward           Level = "BACKWARD"
	BackwardTransitive Level = "BACKWARD_TRANSITIVE"
	Forward            Level = "FORWARD"
	ForwardTransitive  Level = "FORWARD_TRANSITIVE"
	Full               Level = "FULL"
	FullTransitive     Level = "FULL_TRANSITIVE"
)

// ParseLevel accepts a level in any case.
func ParseLevel(s string) (Level, bool) {
	l := Level(strings.ToUpper(strings.TrimSpace(s)))
	switch l {
	case None, Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive:
		return l, true
	}
	return "", false
}

func (l Level) transitive() bool { return strings.HasSuffix(string(l), "_TRANSITIVE") }
func (l Level) backward() bool   { return strings.HasPrefix(string(l), "BACKWARD") || l.full() }
func (l Level) forward() bool    { return strings.HasPrefix(string(l), "FORWARD") || l.full() }
func (l Level) full() bool       { return strings.HasPrefix(string(l), "FULL") }

// Previous is an existing version to check against.
type Previous struct {
	Version int
	Schema  avro.Schema
}

// Check checks candidate against previous (oldest first) under level and
// returns one message per incompatibility; none means compatible. As in
// Confluent, a non-transitive level looks only at the last of previous.
func Check(level Level, candidate avro.Schema, previous []Previous) []string {
	if level == None || len(previous) == 0 {
		return nil
	}
	against := previous
	if !level.transitive() {
		against = previous[len(previous)-1:]
	}
	var msgs []string
	// Newest first, so the first message is about the version a user most
	// likely changed from.
	for i := len(against) - 1; i >= 0; i-- {
		p := against[i]
		// A fresh checker each time: hamba caches results by Parsing Canonical
		// Form fingerprints, which ignore defaults, so a shared cache could
		// answer for a different schema that only differs in a default.
		if level.backward() {
			if err := avro.NewSchemaCompatibility().Compatible(candidate, p.Schema); err != nil {
				msgs = append(msgs, fmt.Sprintf("%s (backward): the new schema cannot read data written with version %d: %v", level, p.Version, err))
			}
		}
		if level.forward() {
			if err := avro.NewSchemaCompatibility().Compatible(p.Schema, candidate); err != nil {
				msgs = append(msgs, fmt.Sprintf("%s (forward): version %d cannot read data written with the new schema: %v", level, p.Version, err))
			}
		}
	}
	return msgs
}
