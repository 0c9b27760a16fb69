package validate_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/normalise"
	"github.com/esrflow/esrflow/services/registry/registrytest"
	"github.com/esrflow/esrflow/services/validate"
)

// TestRejectedFileThroughRunners runs normalise and validate as services on
// the real stage runner, validate taking two records per transaction so
// every file's buffer spans many committed transactions: a baseline, a file
// over its budget and a good file. esr.validated.v1 holds the first and the
// last file only; the rejected one has its REJECTED report and its broken
// rows quarantined.
func TestRejectedFileThroughRunners(t *testing.T) {
	var topics []embedded.TopicSpec
	for _, tp := range []string{schemas.TopicRaw, schemas.TopicNormalised, schemas.TopicValidated, schemas.TopicQuarantine, schemas.TopicFileReports} {
		topics = append(topics, embedded.TopicSpec{Name: tp, Partitions: 1})
	}
	k := testkit.Kafka(t, topics...)
	url := registrytest.Start(t, k.Seeds(), schemas.TopicRaw, schemas.TopicNormalised, schemas.TopicValidated, schemas.TopicQuarantine, schemas.TopicFileReports)
	enc := newHarnessOn(t, url)
	var bad []string
	for i := range 12 {
		bad = append(bad, numberless(i))
	}
	var raws []internalv1.RawRecord
	raws = append(raws, baseline()...)
	raws = append(raws, file(2, append(bad, linePOA)...)...)
	raws = append(raws, file(3, lineASA)...)
	prod := testkit.Client(t, k.Seeds())
	for _, r := range raws {
		if err := prod.ProduceSync(context.Background(), enc.encodeRaw(r)).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	now := func() time.Time { return fixedNow }
	norm, err := normalise.New(normalise.Config{Brokers: k.Seeds(), RegistryURL: url, InstanceID: "n0"},
		normalise.Deps{Log: zaptest.NewLogger(t), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	val, err := validate.New(validate.Config{Brokers: k.Seeds(), RegistryURL: url, InstanceID: "v0", MaxPollRecords: 2},
		validate.Deps{Log: zaptest.NewLogger(t), Now: now})
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

	cons := testkit.Client(t, k.Seeds(), kgo.ConsumeTopics(schemas.TopicValidated, schemas.TopicQuarantine, schemas.TopicFileReports),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	rctx, rcancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer rcancel()
	var ends []int64
	var reports []internalv1.FileReport
	quarantined := map[int64]int{}
	validatedOf := map[int64]int{}
	for len(ends) < 2 || len(reports) < 1 {
		fs := cons.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("read FILE_ENDs %v and %d reports, want files 1 and 3 and one report", ends, len(reports))
		}
		fs.EachRecord(func(r *kgo.Record) {
			switch r.Topic {
			case schemas.TopicValidated:
				e := enc.decodeEntity(r)
				validatedOf[e.File.Sequence]++
				if e.Kind == internalv1.EntityRecordKindFileEnd {
					ends = append(ends, e.File.Sequence)
				}
			case schemas.TopicQuarantine:
				quarantined[enc.decodeQuarantine(r).File.Sequence]++
			case schemas.TopicFileReports:
				reports = append(reports, enc.decodeReport(r))
			}
		})
	}
	if len(ends) != 2 || ends[0] != 1 || ends[1] != 3 || validatedOf[2] != 0 || validatedOf[3] != 3 {
		t.Errorf("FILE_ENDs of files %v, validated records per file %v; want files 1 and 3, none of file 2", ends, validatedOf)
	}
	if r := reports[0]; r.Status != internalv1.FileStatusRejected || r.File.Sequence != 2 || len(r.TopRules) != 1 || r.TopRules[0].Rule != "ESR-R011" {
		t.Errorf("report %+v", r)
	}
	if quarantined[2] != 12 || len(quarantined) != 1 {
		t.Errorf("quarantined per file %v, want 12 of file 2", quarantined)
	}
}
