// Package kafkax holds the Kafka client settings every service shares and the
// constructor that turns them into a franz-go client, so all services connect
// the same way.
package kafkax

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/platform/config"
)

// Config is the connection to a Kafka cluster.
type Config struct {
	Brokers  config.StringList
	ClientID string
}

// RegisterFlags adds kafka.brokers and kafka.client-id.
func (c *Config) RegisterFlags(fs *flag.FlagSet, defaultClientID string) {
	c.Brokers = config.StringList{"127.0.0.1:9092"}
	fs.Var(&c.Brokers, "kafka.brokers", "comma-separated Kafka bootstrap brokers")
	fs.StringVar(&c.ClientID, "kafka.client-id", defaultClientID, "Kafka client id, shown in broker logs and quotas")
}

// Validate reports a config that cannot work.
func (c *Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("kafka.brokers is empty")
	}
	return nil
}

// NewClient builds a client for the cluster; extra options add consumer or
// transactional behaviour.
func (c *Config) NewClient(opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{kgo.SeedBrokers(c.Brokers...)}
	if c.ClientID != "" {
		base = append(base, kgo.ClientID(c.ClientID))
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client for %v: %w", c.Brokers, err)
	}
	return cl, nil
}

// Ping checks the cluster answers, for readiness checks.
func Ping(ctx context.Context, cl *kgo.Client) error {
	if err := cl.Ping(ctx); err != nil {
		return fmt.Errorf("kafka unreachable: %w", err)
	}
	return nil
}
