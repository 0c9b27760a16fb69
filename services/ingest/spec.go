package ingest

import (
	"context"
	"flag"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/platform/kafka/kafkax"
	"github.com/esrflow/esrflow/platform/lifecycle"
	"github.com/esrflow/esrflow/platform/service"
)

// Spec describes the ingest binary: the common service flags, the Kafka
// flags and Config's flags (environment ESRFLOW_INGEST_<FLAG>).
func Spec() service.Spec {
	var (
		cfg   Config
		kafka kafkax.Config
	)
	return service.Spec{
		Name:            "ingest",
		DefaultHTTPAddr: ":8080",
		RegisterFlags: func(fs *flag.FlagSet) {
			kafka.RegisterFlags(fs, "esrflow-ingest")
			cfg.RegisterFlags(fs)
		},
		Build: func(ctx context.Context, env service.Env) (service.Built, error) {
			if err := kafka.Validate(); err != nil {
				return service.Built{}, err
			}
			cfg.Brokers = kafka.Brokers
			if kafka.ClientID != "" {
				cfg.ClientOpts = append(cfg.ClientOpts, kgo.ClientID(kafka.ClientID))
			}
			svc, err := New(cfg, Deps{Log: env.Log, Metrics: env.Metrics})
			if err != nil {
				return service.Built{}, err
			}
			env.Ready.Add("ingest", svc.Ready)
			return service.Built{Parts: []lifecycle.Part{lifecycle.Named("ingest", svc)}}, nil
		},
	}
}
