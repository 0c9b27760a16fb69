// Package embedded runs an in-process Kafka-protocol broker (franz-go kfake)
// for tests and for `esrflow up`, so the whole platform runs on one machine with
// nothing installed. Clients talk to it over real TCP with the real protocol;
// only the broker is embedded.
//
// With a data folder the broker persists topics, offsets, consumer groups and
// transactions and reloads them on the next start, so a stopped stack resumes
// where it left off.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TopicSpec describes a topic the broker must have.
type TopicSpec struct {
	Name       string
	Partitions int32
	// Compact selects cleanup.policy=compact: the topic keeps the last value per
	// key (changelogs, the schema registry's _schemas).
	Compact bool
	// Configs are extra topic configs, e.g. retention.ms.
	Configs map[string]string
}

// Config configures the embedded broker.
type Config struct {
	// DataDir persists the broker's state; empty keeps everything in memory.
	DataDir string
	// Port to listen on; 0 picks a free port.
	Port int
	// SyncWrites fsyncs every produced batch. Off by default, as in Kafka:
	// transactions still make each stage's output atomic, and a machine crash
	// (not a process crash) is not what the embedded mode protects against.
	SyncWrites bool
	// Topics are created at start if missing.
	Topics []TopicSpec
	// DefaultPartitions applies to topics created implicitly by clients.
	DefaultPartitions int32
}

// noCompactionMs is the compaction interval of the embedded broker: about
// ten years, i.e. never while it runs.
const noCompactionMs = "315360000000"

// Broker is a running embedded broker.
type Broker struct {
	cluster  *kfake.Cluster
	recovery Recovery
}

// Start starts the broker and creates the configured topics.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(cfg.Port),
		kfake.ClusterID("esrflow-embedded"),
		// No periodic compaction: kfake compacts a partition by deleting
		// its segment files and writing the survivors anew, so a process
		// killed in between loses the partition (a changelog, _schemas).
		// Crash safety comes first; compacted topics keep their history
		// and are still read as the last value per key
		// (docs/embedded-broker.md).
		kfake.BrokerConfigs(map[string]string{"log.cleaner.backoff.ms": noCompactionMs}),
	}
	var (
		rec  Recovery
		open []openTxn
	)
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
		// Before kfake loads the folder: cut what a crash left half
		// written, undo a commit it tore (recover.go).
		var err error
		if rec, open, err = rollBackTornCommits(cfg.DataDir); err != nil {
			return nil, fmt.Errorf("recovering the embedded kafka data folder: %w", err)
		}
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	if cfg.DefaultPartitions > 0 {
		opts = append(opts, kfake.DefaultNumPartitions(int(cfg.DefaultPartitions)), kfake.AllowAutoTopicCreation())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting embedded kafka: %w", err)
	}
	b := &Broker{cluster: c, recovery: rec}
	if cfg.DataDir != "" {
		// Before any client can produce: make the aborts of transactions
		// a crash left open durable (recover.go).
		if err := recoverTransactions(ctx, b.Seeds(), open, &b.recovery); err != nil {
			c.Close()
			return nil, fmt.Errorf("recovering the embedded kafka data folder: %w", err)
		}
	}
	if err := b.EnsureTopics(ctx, cfg.Topics...); err != nil {
		c.Close()
		return nil, err
	}
	return b, nil
}

// Recovery is what Start repaired in the data folder after a crash.
func (b *Broker) Recovery() Recovery { return b.recovery }

// Seeds are the bootstrap addresses (host:port) clients connect to.
func (b *Broker) Seeds() []string { return b.cluster.ListenAddrs() }

// Cluster exposes the underlying kfake cluster, for tests that inject faults.
func (b *Broker) Cluster() *kfake.Cluster { return b.cluster }

// Close stops the broker, flushing persisted state.
func (b *Broker) Close() { b.cluster.Close() }

// EnsureTopics creates the topics that do not exist yet. An existing topic is
// left as it is: after a restart the persisted topics are reloaded and their
// partition counts must not silently change, since keys would move.
func (b *Broker) EnsureTopics(ctx context.Context, topics ...TopicSpec) error {
	if len(topics) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Seeds()...))
	if err != nil {
		return err
	}
	defer cl.Close()
	return EnsureTopics(ctx, kadm.NewClient(cl), topics...)
}

// EnsureTopics creates missing topics through an admin client; it works against
// any Kafka cluster, embedded or not.
func EnsureTopics(ctx context.Context, adm *kadm.Client, topics ...TopicSpec) error {
	for _, t := range topics {
		parts := t.Partitions
		if parts <= 0 {
			parts = 1
		}
		configs := map[string]*string{}
		for k, v := range t.Configs {
			configs[k] = kadm.StringPtr(v)
		}
		if t.Compact {
			configs["cleanup.policy"] = kadm.StringPtr("compact")
		}
		resp, err := adm.CreateTopic(ctx, parts, 1, configs, t.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("creating topic %s (%s partitions): %w", t.Name, strconv.Itoa(int(parts)), err)
		}
	}
	return nil
}
