package stack

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/services/publish"
)

// publishRun lets one service of the running stack, publish, be stopped and
// started again on its own, the way a pod restart would: the new instance
// has the same instance id, so it fences the old one's transactions, takes
// its partitions back (static membership) and restores its state from the
// changelog. Tests use it to show that held leavers survive a restart.
type publishRun struct {
	mu         sync.Mutex
	cfg        publish.Config
	stop       context.CancelFunc // stops the current instance's Run
	stopped    chan struct{}      // closed when the current instance's Run returned
	restarting bool
	next       chan struct{} // a new instance is in place
	tracing    trace.TracerProvider
}

// newPublish builds a publish instance from the stack's configuration.
func (s *Stack) newPublish() (*publish.Service, error) {
	return publish.New(s.pub.cfg, publish.Deps{Log: s.cfg.Log.With(logx.Service("publish")), Metrics: s.Registry, Tracing: s.pub.tracing})
}

// runPublish runs the current publish instance until ctx ends, and runs
// each replacement RestartPublish puts in place.
func (s *Stack) runPublish(ctx context.Context) error {
	for {
		p := &s.pub
		p.mu.Lock()
		svc := s.Publish
		runCtx, stop := context.WithCancel(ctx)
		p.stop, p.stopped = stop, make(chan struct{})
		stopped := p.stopped
		p.mu.Unlock()

		err := svc.Run(runCtx)
		stop()
		p.mu.Lock()
		restarting := p.restarting
		p.mu.Unlock()
		close(stopped)
		if !restarting || ctx.Err() != nil {
			return err
		}
		select {
		case <-p.next:
		case <-ctx.Done():
			return nil
		}
	}
}

// publishReady reports the current instance's readiness.
func (s *Stack) publishReady() error {
	s.pub.mu.Lock()
	svc := s.Publish
	s.pub.mu.Unlock()
	return svc.Ready()
}

// PublishService returns the running publish instance.
func (s *Stack) PublishService() *publish.Service {
	s.pub.mu.Lock()
	defer s.pub.mu.Unlock()
	return s.Publish
}

// RestartPublish stops the in-process publish service and starts a new one
// with the same configuration; it returns once the new one has joined its
// group and restored its state. Stack.Publish then is the new instance.
func (s *Stack) RestartPublish(ctx context.Context) error {
	p := &s.pub
	p.mu.Lock()
	if p.stop == nil || p.restarting {
		p.mu.Unlock()
		return errors.New("stack: publish is not running in this process")
	}
	p.restarting = true
	stop, stopped := p.stop, p.stopped
	p.mu.Unlock()

	stop()
	select {
	case <-stopped:
	case <-ctx.Done():
		return ctx.Err()
	}
	svc, err := s.newPublish()
	if err != nil {
		return fmt.Errorf("stack: restarting publish: %w", err)
	}
	p.mu.Lock()
	s.Publish, p.restarting = svc, false
	p.mu.Unlock()
	select {
	case p.next <- struct{}{}:
	case <-s.done:
		return errors.New("stack: stopped while publish restarted")
	case <-ctx.Done():
		return ctx.Err()
	}
	for svc.Ready() != nil {
		select {
		case <-s.done:
			return errors.New("stack: stopped while publish restarted")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}
