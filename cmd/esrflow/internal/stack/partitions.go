package stack

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/schemas"
)

// Partitions are the partition counts of the tenant-keyed topics, applied
// when a topic is created (an existing topic keeps its count: changing it
// would move tenants, and with them a stateful stage's state, between
// partitions). A zero count takes the default: Config.Partitions for the
// internal topics, schemas.DefaultOpsPartitions for the ops topics.
// docs/partitioning.md sizes them.
type Partitions struct {
	Raw, Normalised, Validated, Quarantine int32
	// Ops is the count of every ops topic (file reports, commands, held
	// batches, replays, intake, lineage).
	Ops int32
}

// partitionNames are the names `esrflow up --partitions` takes.
var partitionNames = []string{"raw", "normalised", "validated", "quarantine", "ops"}

func (p *Partitions) field(name string) *int32 {
	switch name {
	case "raw":
		return &p.Raw
	case "normalised":
		return &p.Normalised
	case "validated":
		return &p.Validated
	case "quarantine":
		return &p.Quarantine
	case "ops":
		return &p.Ops
	}
	return nil
}

// ParsePartitions reads `--partitions`: one count for every internal topic
// ("12"), or counts by topic ("raw=12,normalised=12,validated=6,ops=3";
// an unnamed topic keeps its default).
func ParsePartitions(s string) (Partitions, error) {
	var p Partitions
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 32); err == nil {
		if n < 1 {
			return p, fmt.Errorf("partitions %q: must be at least 1", s)
		}
		return Partitions{Raw: int32(n), Normalised: int32(n), Validated: int32(n), Quarantine: int32(n)}, nil
	}
	for _, part := range strings.Split(s, ",") {
		name, count, ok := strings.Cut(strings.TrimSpace(part), "=")
		f := p.field(strings.TrimSpace(name))
		if !ok || f == nil {
			return p, fmt.Errorf("partitions %q: want a count, or NAME=COUNT,... with NAME one of %s", part, strings.Join(partitionNames, ", "))
		}
		n, err := strconv.ParseInt(strings.TrimSpace(count), 10, 32)
		if err != nil || n < 1 {
			return p, fmt.Errorf("partitions %q: the count must be a whole number of at least 1", part)
		}
		*f = int32(n)
	}
	return p, nil
}

// Set parses s into p (flag.Value).
func (p *Partitions) Set(s string) error {
	v, err := ParsePartitions(s)
	if err == nil {
		*p = v
	}
	return err
}

// String is the form ParsePartitions reads: one count when every internal
// topic has it and ops its default.
func (p *Partitions) String() string {
	if p.Ops == 0 && p.Raw > 0 && p.Raw == p.Normalised && p.Raw == p.Validated && p.Raw == p.Quarantine {
		return strconv.Itoa(int(p.Raw))
	}
	var parts []string
	for _, name := range partitionNames {
		if n := *p.field(name); n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", name, n))
		}
	}
	return strings.Join(parts, ",")
}

// withDefaults fills the zero counts: internal topics with internal, ops
// topics with schemas.DefaultOpsPartitions.
func (p Partitions) withDefaults(internal int32) Partitions {
	for _, name := range partitionNames {
		f := p.field(name)
		if *f <= 0 {
			*f = internal
			if name == "ops" {
				*f = schemas.DefaultOpsPartitions
			}
		}
	}
	return p
}

// Topics are the tenant-keyed topics to create with these counts.
func (p Partitions) Topics() []embedded.TopicSpec {
	out := []embedded.TopicSpec{
		{Name: schemas.TopicRaw, Partitions: p.Raw},
		{Name: schemas.TopicNormalised, Partitions: p.Normalised},
		{Name: schemas.TopicValidated, Partitions: p.Validated},
		{Name: schemas.TopicQuarantine, Partitions: p.Quarantine},
	}
	for _, t := range schemas.OpsTopics {
		out = append(out, embedded.TopicSpec{Name: t, Partitions: p.Ops})
	}
	return out
}
