package validate_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/normalise"
	"github.com/esrflow/esrflow/services/registry/registrytest"
	"github.com/esrflow/esrflow/services/validate"
)

// TestPipelineThroughRunners runs normalise and validate as services on the
// real stage runner, sharing one metrics registry as in `esrflow up`, over a
// synthetic trust with faults: esr.quarantine.v1 holds exactly the truth's
// quarantine lines and esr.validated.v1 ends every file with reconciled
// counts.
func TestPipelineThroughRunners(t *testing.T) {
	cfg := truthCfg
	cfg.Staff, cfg.Days, cfg.Faults = 300, 3, true
	g := generate(t, cfg)

	var topics []embedded.TopicSpec
	for _, tp := range []string{schemas.TopicRaw, schemas.TopicNormalised, schemas.TopicValidated, schemas.TopicQuarantine} {
		topics = append(topics, embedded.TopicSpec{Name: tp, Partitions: 3})
	}
	k := testkit.Kafka(t, topics...)
	url := registrytest.Start(t, k.Seeds(), schemas.TopicRaw, schemas.TopicNormalised, schemas.TopicValidated, schemas.TopicQuarantine)
	enc := newHarnessOn(t, url) // raw writer and decoders on the pipeline's registry
	prod := testkit.Client(t, k.Seeds())
	for _, r := range flatten(g.files) {
		if err := prod.ProduceSync(context.Background(), enc.encodeRaw(r)).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	reg := prometheus.NewRegistry()
	now := func() time.Time { return fixedNow }
	norm, err := normalise.New(normalise.Config{Brokers: k.Seeds(), RegistryURL: url, InstanceID: "n0"},
		normalise.Deps{Log: zaptest.NewLogger(t), Metrics: reg, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	val, err := validate.New(validate.Config{Brokers: k.Seeds(), RegistryURL: url, InstanceID: "v0"},
		validate.Deps{Log: zaptest.NewLogger(t), Metrics: reg, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- norm.Run(ctx) }()
	go func() { done <- val.Run(ctx) }()
	defer func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil && ctx.Err() == nil {
				t.Errorf("Run: %v", err)
			}
		}
	}()

	want := map[string]bool{}
	for _, tl := range g.truth {
		if tl.Kind == gen.KindQuarantine {
			want[fmt.Sprintf("%s:%d %s %s %q", tl.File, tl.Line, tl.RecordType, tl.Rule, tl.Field)] = true
		}
	}
	cons := testkit.Client(t, k.Seeds(), kgo.ConsumeTopics(schemas.TopicValidated, schemas.TopicQuarantine),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	rctx, rcancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer rcancel()
	got := map[string]bool{}
	var ends []internalv1.EntityRecord
	for len(ends) < len(g.res.Files) || len(got) < len(want) {
		fs := cons.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("read %d FILE_END and %d quarantine records, want %d and %d", len(ends), len(got), len(g.res.Files), len(want))
		}
		fs.EachRecord(func(r *kgo.Record) {
			switch r.Topic {
			case schemas.TopicValidated:
				if e := enc.decodeEntity(r); e.Kind == internalv1.EntityRecordKindFileEnd {
					ends = append(ends, e)
				}
			case schemas.TopicQuarantine:
				q := enc.decodeQuarantine(r)
				for _, v := range q.Violations {
					if v.Severity == internalv1.SeverityWarning {
						continue // a quarantined row carries its warnings too
					}
					k := fmt.Sprintf("%s:%d %s %s %q", q.Lineage.FileName, q.Lineage.Line, q.Raw.RecordType, v.Rule, v.Field)
					if got[k] {
						t.Errorf("quarantined twice: %s", k)
					}
					got[k] = true
				}
			}
		})
	}
	for _, k := range sorted(want) {
		if !got[k] {
			t.Errorf("missing quarantine: %s", k)
		}
	}
	for _, k := range sorted(got) {
		if !want[k] {
			t.Errorf("unexpected quarantine: %s", k)
		}
	}
	rows := map[string]int64{}
	for _, fi := range g.res.Files {
		rows[fi.Name] = int64(fi.Rows)
	}
	for i, e := range ends {
		c := e.Counts
		if e.File.Name != g.res.Files[i].Name || c == nil || c.RowsRead != rows[e.File.Name] ||
			c.RowsRead != c.Entities+c.Corrections+c.Ignored+c.Quarantined || (i > 0 && c.Quarantined != 8) || (i == 0 && c.Quarantined != 0) {
			t.Errorf("file %d %s: counts %+v (rows %d)", i, e.File.Name, c, rows[e.File.Name])
		}
	}
	if err := val.Ready(); err != nil {
		t.Errorf("validate not ready: %v", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var seen int
	for _, mf := range mfs {
		switch mf.GetName() {
		case "esrflow_normalise_quarantined_total", "esrflow_validate_quarantined_total", "esrflow_stage_records_consumed_total":
			seen++
		}
	}
	if seen != 3 {
		t.Errorf("shared registry lacks stage or service metrics (%d of 3 families)", seen)
	}
}
