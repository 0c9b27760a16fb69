package publish

import (
	"context"
	"errors"
	"fmt"

	"github.com/hamba/avro/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/kafka/stage"
	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/schemas/registrar"
)

// forwarder moves operators' commands from esr.ops.commands.v1 onto
// publish's own input (esr.validated.v1), keyed by tenant, as COMMAND
// records. Publish's state is partitioned like its input, so a decision must
// arrive on the tenant's input partition to be applied in the same
// transaction as the state it changes and in order with the tenant's files.
// The api may only write to the ops topic; this stage (its own consumer
// group, exactly once) is the one writer of commands into the pipeline.
type forwarder struct {
	input   string
	serde   *avrox.Serde
	sr      *sr.Client
	command avro.Schema
	entity  avrox.Writer
	log     *zap.Logger
	// skipped counts the commands skipped (esrflow_publish_skipped_records_total).
	skipped prometheus.Counter
}

var (
	_ stage.Processor   = (*forwarder)(nil)
	_ stage.Initializer = (*forwarder)(nil)
)

// Init registers the schemas of the topics the forwarder reads and writes
// (the processor's Init has created the topics).
func (f *forwarder) Init(ctx context.Context) error {
	for _, topic := range []string{schemas.TopicCommands, schemas.TopicHeldBatches, f.input} {
		if _, err := registrar.RegisterTopic(ctx, f.sr, topic); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	_, text, err := schemas.Latest(schemas.Entity)
	if err != nil {
		return err
	}
	if f.entity, err = f.serde.Register(ctx, schemas.Subject(f.input), text); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return nil
}

// Process forwards one command. A command that cannot be decoded or names
// no tenant is logged and skipped: it can never be applied.
func (f *forwarder) Process(ctx context.Context, in *kgo.Record, tx *stage.Tx) error {
	var c internalv1.OperatorCommand
	if _, err := f.serde.Decode(ctx, in.Value, f.command, &c); err != nil {
		if errors.Is(err, avrox.ErrNotFramed) || errors.Is(err, avrox.ErrIncompatible) {
			f.log.Error("skipping undecodable operator command", logx.Partition(in.Partition), logx.Offset(in.Offset), zap.Error(err))
			f.skip()
			return nil
		}
		return err
	}
	if c.Tenant == "" || c.BatchID == "" {
		f.log.Error("skipping operator command without tenant or batch", logx.Offset(in.Offset), zap.String("command", c.CommandID))
		f.skip()
		return nil
	}
	rec := internalv1.EntityRecord{Kind: internalv1.EntityRecordKindCommand, Lineage: internalv1.Lineage{Tenant: c.Tenant},
		File: internalv1.FileInfo{Kind: internalv1.FileKindChange}, Entity: c}
	v, err := f.entity.Encode(nil, &rec)
	if err != nil {
		return err
	}
	tx.Produce(&kgo.Record{Topic: f.input, Key: []byte(c.Tenant), Value: v})
	return nil
}

func (f *forwarder) skip() {
	if f.skipped != nil {
		f.skipped.Inc()
	}
}
