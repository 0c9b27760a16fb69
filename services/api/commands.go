package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/kafka/kafkax"
	"github.com/esrflow/esrflow/platform/kafka/tenantpart"
	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/schemas/registrar"
	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/store"
)

// MaxReasonLength is the longest reason an operator may give, in characters.
const MaxReasonLength = 500

// commandProducer writes operator requests: commands to
// esr.ops.commands.v1 and replay requests to esr.ops.replays.v1. It is a
// plain idempotent producer, not transactional: each request is one record,
// produced synchronously so the HTTP request can answer whether Kafka has it.
type commandProducer struct {
	cl      *kgo.Client
	sr      *sr.Client
	serde   *avrox.Serde
	timeout time.Duration

	mu      sync.Mutex
	writers map[string]avrox.Writer // by topic
}

func newCommandProducer(k kafkax.Config, timeout time.Duration, tenants tenantpart.Assignment, srCl *sr.Client, serde *avrox.Serde) (*commandProducer, error) {
	if k.ClientID != "" {
		k.ClientID += "-commands"
	}
	cl, err := k.NewClient(
		kgo.RecordDeliveryTimeout(timeout),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// A request goes to its tenant's assigned partition, as the
		// pipeline's own records do (without --tenants.file: by hash).
		kgo.RecordPartitioner(tenantpart.Partitioner(tenants, schemas.TenantKeyedTopics...)),
	)
	if err != nil {
		return nil, fmt.Errorf("command producer: %w", err)
	}
	return &commandProducer{cl: cl, sr: srCl, serde: serde, timeout: timeout, writers: map[string]avrox.Writer{}}, nil
}

func (p *commandProducer) close() { p.cl.Close() }

// writerFor registers the topic's schema under the topic's subject (every
// version, as every producer in esrflow does) on first use.
func (p *commandProducer) writerFor(ctx context.Context, topic string) (avrox.Writer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w, ok := p.writers[topic]; ok {
		return w, nil
	}
	b, err := schemas.SchemaForTopic(topic)
	if err != nil {
		return avrox.Writer{}, err
	}
	if _, err := registrar.RegisterTopic(ctx, p.sr, topic); err != nil {
		return avrox.Writer{}, err
	}
	p.ensureTopic(ctx, topic)
	_, text, err := schemas.Latest(b.Schema)
	if err != nil {
		return avrox.Writer{}, err
	}
	w, err := p.serde.Register(ctx, schemas.Subject(topic), text)
	if err != nil {
		return avrox.Writer{}, err
	}
	p.writers[topic] = w
	return w, nil
}

// ensureTopic creates an ops topic the api may be the first to write (no
// consumer of esr.ops.intake.v1 has started yet, say), with
// schemas.DefaultOpsPartitions partitions: keyed by tenant, so its consumer
// can run as several instances. Best effort: a topic that exists,
// or a broker that refuses the api creating topics (ACLs), leaves the
// produce to say whether the topic is there.
func (p *commandProducer) ensureTopic(ctx context.Context, topic string) {
	_, _ = kadm.NewClient(p.cl).CreateTopic(ctx, schemas.DefaultOpsPartitions, -1, nil, topic)
}

// send writes v to topic keyed by tenant, so the consuming stage sees it in
// order with that tenant's files, and waits until Kafka acknowledges it.
func (p *commandProducer) send(ctx context.Context, topic, tenant string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	w, err := p.writerFor(ctx, topic)
	if err != nil {
		return fmt.Errorf("registering %s: %w", topic, err)
	}
	b, err := w.Encode(nil, v)
	if err != nil {
		return err
	}
	return p.cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(tenant), Value: b}).FirstErr()
}

// produce writes one operator command.
func (p *commandProducer) produce(ctx context.Context, cmd *internalv1.OperatorCommand) error {
	return p.send(ctx, schemas.TopicCommands, cmd.Tenant, cmd)
}

// decisionRequest is the body of a release or reject.
type decisionRequest struct {
	Reason string `json:"reason"`
}

// decisionResponse answers an accepted decision (202).
type decisionResponse struct {
	CommandID string `json:"command_id"`
	BatchID   string `json:"batch_id"`
	Action    string `json:"action"`
	Status    string `json:"status"`
}

// decide handles POST …/held-batches/{batch_id}/release and …/reject.
//
// The audit row is written first, under a lock on the batch row, so two
// concurrent decisions cannot both be sent; then the command is produced. If
// Kafka does not take it the row is marked FAILED and the caller gets 503
// and may retry. The decision takes effect when publish applies the command;
// its HeldBatch record then completes the audit row.
func (s *Service) decide(action internalv1.OperatorAction) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req decisionRequest
		t, client, ok := operatorBody(w, r, 16<<10, &req, &req.Reason, `body must be JSON {"reason": "..."}`)
		if !ok {
			return
		}
		cmd := &internalv1.OperatorCommand{
			CommandID: uuid.NewString(), Tenant: t, Action: action, BatchID: r.PathValue("batch_id"),
			Actor: client.Name(), Reason: req.Reason,
			// timestamp-millis: truncate so the audit row and the record agree.
			RequestedAt: time.Now().UTC().Truncate(time.Millisecond),
		}
		err := s.store.RequestDecision(r.Context(), cmd)
		switch {
		case errors.Is(err, store.ErrNotFound):
			writeError(w, http.StatusNotFound, "held batch not found")
			return
		case errors.Is(err, store.ErrNotHeld), errors.Is(err, store.ErrPending):
			writeError(w, http.StatusConflict, "batch "+cmd.BatchID+" cannot be decided: "+err.Error())
			return
		case err != nil:
			s.internal(w, r, err)
			return
		}
		if err := s.commands.produce(r.Context(), cmd); err != nil {
			s.m.commands.WithLabelValues(string(action), "kafka_unavailable").Inc()
			s.log.Error("operator command not written", logx.Tenant(t), zap.String("command_id", cmd.CommandID), zap.Error(err))
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
			defer cancel()
			if ferr := s.store.FailDecision(ctx, cmd.CommandID); ferr != nil {
				s.log.Error("marking the command failed", zap.String("command_id", cmd.CommandID), zap.Error(ferr))
			}
			writeError(w, http.StatusServiceUnavailable, "Kafka did not confirm the command (unavailable?); retry later")
			return
		}
		s.m.commands.WithLabelValues(string(action), "requested").Inc()
		s.log.Info("operator command requested", logx.Tenant(t), zap.String("command_id", cmd.CommandID),
			zap.String("batch_id", cmd.BatchID), zap.String("action", string(action)), zap.String("actor", cmd.Actor))
		writeJSON(w, http.StatusAccepted, decisionResponse{CommandID: cmd.CommandID, BatchID: cmd.BatchID, Action: string(action), Status: store.AuditRequested})
	}
}

// operatorBody starts an operator endpoint (a decision on a held batch, a
// replay): the tenant from the path, the calling client, and a body of one
// JSON object read into req — unknown fields refused, and nothing after it,
// so `{"reason":"a"}{"reason":"b"}` is not read as its first half — whose
// reason (a field of req) it trims and checks. false: the answer is written.
func operatorBody(w http.ResponseWriter, r *http.Request, maxBytes int64, req any, reason *string, help string) (string, *auth.Caller, bool) {
	t, ok := tenant(w, r)
	if !ok {
		return "", nil, false
	}
	client := clientOf(r)
	if client == nil { // guard refuses operate without clients; never reached
		writeError(w, http.StatusUnauthorized, errOperateNeedsKey)
		return "", nil, false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(req); err != nil || dec.Decode(&struct{}{}) != io.EOF {
		writeError(w, http.StatusBadRequest, help)
		return "", nil, false
	}
	*reason = strings.TrimSpace(*reason)
	switch n := utf8.RuneCountInString(*reason); {
	case n == 0:
		writeError(w, http.StatusBadRequest, "reason is required")
		return "", nil, false
	case n > MaxReasonLength:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("reason must be at most %d characters", MaxReasonLength))
		return "", nil, false
	}
	return t, client, true
}
