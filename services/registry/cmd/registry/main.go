// Command registry runs esrflow's Confluent-compatible schema registry.
//
// Every flag can also be set from the environment: ESRFLOW_REGISTRY_ plus the
// flag name in upper case with dots as underscores, e.g.
// ESRFLOW_REGISTRY_KAFKA_BROKERS, ESRFLOW_REGISTRY_HTTP_ADDR.
package main

import (
	"context"
	"errors"
	"flag"
	"os"

	"github.com/esrflow/esrflow/platform/config"
	"github.com/esrflow/esrflow/platform/lifecycle"
	"github.com/esrflow/esrflow/platform/service"
	"github.com/esrflow/esrflow/services/registry"
)

func main() {
	os.Exit(service.Main(spec(), os.Args[1:], os.Stderr))
}

// spec describes the binary; it is separate from main so a test can run it.
func spec() service.Spec {
	var (
		brokers = config.StringList{"localhost:9092"}
		cfg     registry.Config
		rf      int
	)
	return service.Spec{
		Name:            "registry",
		DefaultHTTPAddr: ":8081", // Confluent Schema Registry's port
		RegisterFlags: func(fs *flag.FlagSet) {
			fs.Var(&brokers, "kafka.brokers", "comma-separated Kafka seed brokers")
			fs.StringVar(&cfg.Topic, "topic", registry.DefaultTopic, "compacted topic holding the registry's state")
			fs.StringVar(&cfg.DefaultCompatibility, "compatibility", "BACKWARD", "global compatibility level until one is PUT to /config")
			fs.IntVar(&rf, "topic.replication-factor", -1, "replication factor when creating the topic (-1: broker default)")
			fs.DurationVar(&cfg.WriteTimeout, "write-timeout", 0, "bound on one write to the topic (0: 30s)")
		},
		Build: func(_ context.Context, env service.Env) (service.Built, error) {
			if len(brokers) == 0 {
				return service.Built{}, errors.New("kafka.brokers is empty")
			}
			cfg.ReplicationFactor = int16(rf)
			reg, err := registry.New(cfg, registry.Deps{Brokers: brokers, Logger: env.Log, Metrics: env.Metrics})
			if err != nil {
				return service.Built{}, err
			}
			env.Ready.Add("schemas-topic", reg.Ready)
			return service.Built{
				Parts:   []lifecycle.Part{lifecycle.Named("registry", lifecycle.Func(reg.Run))},
				Handler: reg.Handler(),
				Close:   reg.Close,
			}, nil
		},
	}
}
