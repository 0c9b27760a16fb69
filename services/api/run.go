package api

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Run consumes until ctx ends, and meanwhile delivers webhooks (they
// follow what the consumer commits) and, on PostgreSQL, listens for other
// instances' commits.
func (s *Service) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	listening := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.webhooks.Run(ctx) // ends with ctx; its failures are logged and retried inside
	}()
	go func() {
		defer close(listening)
		s.listenFeed(ctx)
	}()
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		s.sweepAccessLog(ctx)
	}()
	defer func() {
		cancel()
		<-done
		<-listening
		<-swept
	}()
	return s.mat.Run(ctx)
}

// metrics count the api's HTTP side; the consumer's are materialise's.
type metrics struct {
	commands    *prometheus.CounterVec
	requests    *prometheus.CounterVec
	replays     *prometheus.CounterVec
	uploads     *prometheus.CounterVec
	uploadBytes *prometheus.CounterVec
	intake      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_api_operator_commands_total",
			Help: "Operator decisions on held batches, by action and result (requested, kafka_unavailable)."}, []string{"action", "result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_api_requests_total",
			Help: "HTTP requests to /v1, by route pattern and status code."}, []string{"route", "code"}),
		replays: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_api_replays_total",
			Help: "Replay requests, by result (requested, kafka_unavailable)."}, []string{"result"}),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_api_uploads_total",
			Help: "Files uploaded over HTTP into a tenant's drop folder."}, []string{"tenant"}),
		uploadBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_api_upload_bytes_total",
			Help: "Bytes of files uploaded over HTTP into a tenant's drop folder."}, []string{"tenant"}),
		intake: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_api_intake_decisions_total",
			Help: "Operator releases and discards of held files, by action and result (requested, retried, kafka_unavailable)."}, []string{"action", "result"}),
	}
	for _, c := range []prometheus.Collector{m.commands, m.requests, m.replays, m.uploads, m.uploadBytes, m.intake} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering api metrics: %w", err)
		}
	}
	return m, nil
}
