package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/stack"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// reportWaiter follows the file reports so the benchmark can wait for the
// n-th without re-reading the topic.
type reportWaiter struct {
	mu   sync.Mutex
	list []internalv1.FileReport
	err  error
	cond chan struct{}
}

func newReportWaiter(ctx context.Context, st *stack.Stack) *reportWaiter {
	w := &reportWaiter{cond: make(chan struct{}, 1)}
	go func() {
		err := st.FollowReportRecords(ctx, true, func(fr internalv1.FileReport) {
			w.mu.Lock()
			w.list = append(w.list, fr)
			w.mu.Unlock()
			select {
			case w.cond <- struct{}{}:
			default:
			}
		})
		w.mu.Lock()
		w.err = err
		w.mu.Unlock()
	}()
	return w
}

func (w *reportWaiter) wait(ctx context.Context, n int, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		got, err := len(w.list), w.err
		w.mu.Unlock()
		if got >= n {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-w.cond:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			return fmt.Errorf("%d of %d file reports after %s", got, n, timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (w *reportWaiter) reports() []internalv1.FileReport {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]internalv1.FileReport(nil), w.list...)
}
