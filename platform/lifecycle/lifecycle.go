// Package lifecycle runs a process's long-lived parts under one supervisor.
//
// Every part runs until the shared context ends. If any part returns, for any
// reason, the others are cancelled and Run returns the first error: a service
// that has lost one of its loops must exit (and be restarted by its supervisor)
// rather than stay half-alive holding Kafka partitions.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.uber.org/zap"
)

// Runner is a long-lived part of a process.
type Runner interface {
	Run(ctx context.Context) error
}

// Func adapts a function to Runner.
type Func func(ctx context.Context) error

// Run calls f.
func (f Func) Run(ctx context.Context) error { return f(ctx) }

// Part is a named Runner.
type Part struct {
	Name string
	Runner
}

// Named names a runner for logs and errors.
func Named(name string, r Runner) Part { return Part{Name: name, Runner: r} }

// Run runs every part until ctx ends or one part stops. A part that stops
// because ctx ended is a clean stop and yields no error.
func Run(ctx context.Context, log *zap.Logger, parts ...Part) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := p.Run(ctx)
			if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
				err = nil
			}
			if err != nil {
				log.Error("part failed", zap.String("part", p.Name), zap.Error(err))
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", p.Name, err)
				}
				mu.Unlock()
			} else if ctx.Err() == nil {
				log.Info("part stopped", zap.String("part", p.Name))
			}
			cancel()
		}()
	}
	wg.Wait()
	return firstErr
}
