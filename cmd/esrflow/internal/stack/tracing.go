package stack

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/platform/tracing"
)

// tracerProvider builds a pipeline service's own TracerProvider, as its
// binary would (service.name esrflow-<name>; OTEL_SERVICE_NAME is not
// applied, since every service of the process needs its own name), and
// flushes it when the stack stops, after the services.
func (s *Stack) tracerProvider(ctx context.Context, name string, b *builtServices) (trace.TracerProvider, error) {
	p, err := tracing.New(ctx, tracing.Options{Service: name, Log: s.cfg.Log.With(logx.Service(name))})
	if err != nil {
		return nil, err
	}
	if p.Exporting() {
		b.closers = append(b.closers, func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = p.Shutdown(sctx)
		})
	}
	return p, nil
}
