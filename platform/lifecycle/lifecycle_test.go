package lifecycle_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/esrflow/esrflow/platform/lifecycle"
)

func TestOnePartFailingStopsTheOthers(t *testing.T) {
	boom := errors.New("boom")
	stopped := make(chan struct{})
	err := lifecycle.Run(context.Background(), zap.NewNop(),
		lifecycle.Named("waits", lifecycle.Func(func(ctx context.Context) error {
			<-ctx.Done()
			close(stopped)
			return ctx.Err()
		})),
		lifecycle.Named("fails", lifecycle.Func(func(context.Context) error { return boom })),
	)
	if !errors.Is(err, boom) {
		t.Fatalf("Run error = %v, want boom", err)
	}
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting part was not cancelled")
	}
}

func TestCancelIsACleanStop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := lifecycle.Run(ctx, zap.NewNop(),
		lifecycle.Named("a", lifecycle.Func(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })),
	)
	if err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
}
