package service

import (
	"context"
	"flag"
	"time"

	"github.com/esrflow/esrflow/platform/kafka/kafkax"
	"github.com/esrflow/esrflow/platform/lifecycle"
)

// Placeholder is the spec of a service whose processing is not built yet: it
// has the full operational shape (flags, env, logs, /metrics, /healthz, and a
// /readyz that passes once Kafka answers) and then idles. It lets deploy/ and
// docker-compose run every service from day one; each service replaces it
// with its real parts when they land.
func Placeholder(name string) Spec {
	var kafka kafkax.Config
	return Spec{
		Name:            name,
		DefaultHTTPAddr: ":8080",
		RegisterFlags:   func(fs *flag.FlagSet) { kafka.RegisterFlags(fs, "esrflow-"+name) },
		Build: func(ctx context.Context, env Env) (Built, error) {
			if err := kafka.Validate(); err != nil {
				return Built{}, err
			}
			cl, err := kafka.NewClient()
			if err != nil {
				return Built{}, err
			}
			env.Ready.Add("kafka", func() error {
				pctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				return kafkax.Ping(pctx, cl)
			})
			idle := lifecycle.Func(func(ctx context.Context) error {
				env.Log.Warn("placeholder service: processing not built yet")
				<-ctx.Done()
				return ctx.Err()
			})
			return Built{Parts: []lifecycle.Part{lifecycle.Named(name, idle)}, Close: cl.Close}, nil
		},
	}
}
