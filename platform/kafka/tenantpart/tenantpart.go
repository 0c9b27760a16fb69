// Package tenantpart places tenant-keyed records on the partition their
// tenant is assigned, instead of where the hash of the tenant code happens to
// fall. The tenant is the pipeline's unit of parallelism: with an explicit
// assignment (esr/tenant's Set.Partition: an operator's pin, else the
// tenant's position in the tenants file round robin) the tenants spread
// evenly over the partitions, so instances that split the partitions split
// the work, and a tenant keeps the same partition number in every internal
// topic. Every producer of a tenant-keyed topic uses it: ingest, the stage
// runners' outputs, the api's operator requests.
package tenantpart

import (
	"github.com/twmb/franz-go/pkg/kgo"
)

// Assignment maps a record key (a tenant code) to its partition in a topic
// of n partitions; false for a key it does not know. *tenant.Set is one.
type Assignment interface {
	Partition(key string, n int) (int, bool)
}

// Partitioner places the records of topics with a: a record whose key a
// assigns goes to that partition; any other record (an unknown tenant, no
// key, a topic not listed) is placed like Kafka's default: by the murmur2
// hash of its key (as the Java client does), keyless records sticky. A nil
// a assigns nothing.
func Partitioner(a Assignment, topics ...string) kgo.Partitioner {
	set := make(map[string]bool, len(topics))
	for _, t := range topics {
		set[t] = true
	}
	return &partitioner{a: a, topics: set, fallback: kgo.StickyKeyPartitioner(nil)}
}

type partitioner struct {
	a        Assignment
	topics   map[string]bool
	fallback kgo.Partitioner
}

func (p *partitioner) ForTopic(topic string) kgo.TopicPartitioner {
	fb := p.fallback.ForTopic(topic)
	if p.a == nil || !p.topics[topic] {
		return fb
	}
	return &topicPartitioner{a: p.a, fallback: fb}
}

type topicPartitioner struct {
	a        Assignment
	fallback kgo.TopicPartitioner
}

// RequiresConsistency: an assigned record must land on its partition even
// when that partition's leader is unavailable (kgo otherwise may pick
// another), or its tenant's order would break.
func (t *topicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	if _, ok := t.assigned(r, 1); ok {
		return true
	}
	return t.fallback.RequiresConsistency(r)
}

func (t *topicPartitioner) Partition(r *kgo.Record, n int) int {
	if p, ok := t.assigned(r, n); ok {
		return p
	}
	return t.fallback.Partition(r, n)
}

func (t *topicPartitioner) assigned(r *kgo.Record, n int) (int, bool) {
	if len(r.Key) == 0 {
		return 0, false
	}
	return t.a.Partition(string(r.Key), n)
}

// OnNewBatch passes kgo's new-batch signal on to the fallback, so keyless
// records keep the sticky partitioner's switching.
func (t *topicPartitioner) OnNewBatch() {
	if nb, ok := t.fallback.(kgo.TopicPartitionerOnNewBatch); ok {
		nb.OnNewBatch()
	}
}
