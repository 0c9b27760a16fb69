// Package observe reads what the pipeline published back out of Kafka, as an
// outside consumer would (read committed, decoded through the registry): the
// public events of a tenant and the file reports. The end-to-end tests, the
// benchmark and `esrflow up`'s progress lines use it.
package observe

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// Event is a published event reduced to what the generator's truth
// describes, plus its id and headers, so runs can be compared.
type Event struct {
	gen.TruthLine
	// Value is the whole decoded event (eventsv1.StarterCreated,
	// LeaverConfirmed or PositionUpdated), for what the truth does not
	// describe: snapshots, transfer links, the starting post.
	Value   any
	ID      string
	Topic   string
	Key     string
	Headers map[string]string
}

// Reader decodes published records through the registry.
type Reader struct {
	seeds []string
	opts  []kgo.Opt
	serde *avrox.Serde
}

// NewReader connects to the brokers and the registry.
func NewReader(seeds []string, registryURL string, opts ...kgo.Opt) (*Reader, error) {
	cl, err := sr.NewClient(sr.URLs(registryURL))
	if err != nil {
		return nil, err
	}
	return &Reader{seeds: seeds, opts: opts, serde: avrox.New(cl, internalv1.NewAPI())}, nil
}

// EventTopicPattern matches the event topics of one tenant, or of every
// tenant when tenant is empty.
func EventTopicPattern(tenant, event string) string {
	t := `[a-z0-9]+`
	if tenant != "" {
		t = regexp.QuoteMeta(strings.ToLower(tenant))
	}
	e := `(starter-created|leaver-confirmed|position-updated|leaver-reversed)`
	if event != "" {
		e = regexp.QuoteMeta(event)
	}
	return `^esr\.` + t + `\.` + e + `\.v1$`
}

// Events reads every committed event of a tenant published so far.
func (r *Reader) Events(ctx context.Context, tenant string) ([]Event, error) {
	var out []Event
	err := r.readAll(ctx, EventTopicPattern(tenant, ""), func(rec *kgo.Record) error {
		ev, err := r.DecodeEvent(ctx, rec)
		if err != nil {
			return err
		}
		out = append(out, ev)
		return nil
	})
	return out, err
}

// FileReports reads every committed file report so far.
func (r *Reader) FileReports(ctx context.Context) ([]internalv1.FileReport, error) {
	reader, _, err := schemas.Latest(schemas.FileReport)
	if err != nil {
		return nil, err
	}
	var out []internalv1.FileReport
	err = r.readAll(ctx, "^"+regexp.QuoteMeta(schemas.TopicFileReports)+"$", func(rec *kgo.Record) error {
		var fr internalv1.FileReport
		if _, err := r.serde.Decode(ctx, rec.Value, reader, &fr); err != nil {
			return err
		}
		out = append(out, fr)
		return nil
	})
	return out, err
}

// RawFile is what the raw topic holds of one file: how many times it was
// started and ended, its row records, and the rows its FILE_END counted
// instead of writing (types the tenant's mapping ignores): Records +
// Ignored is every data row of the file.
type RawFile struct {
	Starts, Ends, Records, Ignored int
}

// RawFiles reads every committed record of esr.raw.v1 so far and counts
// them by tenant and file name ("RXX/GO_412_...DAT"); each accepted file
// is exactly one FILE_START, its rows and one FILE_END.
func (r *Reader) RawFiles(ctx context.Context) (map[string]*RawFile, error) {
	reader, _, err := schemas.Latest(schemas.Raw)
	if err != nil {
		return nil, err
	}
	out := map[string]*RawFile{}
	err = r.readAll(ctx, "^"+regexp.QuoteMeta(schemas.TopicRaw)+"$", func(rec *kgo.Record) error {
		var raw internalv1.RawRecord
		if _, err := r.serde.Decode(ctx, rec.Value, reader, &raw); err != nil {
			return err
		}
		k := raw.Tenant + "/" + raw.File.Name
		f := out[k]
		if f == nil {
			f = &RawFile{}
			out[k] = f
		}
		switch raw.Kind {
		case internalv1.RawKindFileStart:
			f.Starts++
		case internalv1.RawKindFileEnd:
			f.Ends++
			if raw.Counts != nil {
				f.Ignored += int(raw.Counts.IgnoredRows)
			}
		default:
			f.Records++
		}
		return nil
	})
	return out, err
}

// Quarantine reads every committed quarantine record so far.
func (r *Reader) Quarantine(ctx context.Context) ([]internalv1.QuarantineRecord, error) {
	reader, _, err := schemas.Latest(schemas.Quarantine)
	if err != nil {
		return nil, err
	}
	var out []internalv1.QuarantineRecord
	err = r.readAll(ctx, "^"+regexp.QuoteMeta(schemas.TopicQuarantine)+"$", func(rec *kgo.Record) error {
		var q internalv1.QuarantineRecord
		if _, err := r.serde.Decode(ctx, rec.Value, reader, &q); err != nil {
			return err
		}
		out = append(out, q)
		return nil
	})
	return out, err
}

// Records calls fn with every committed record of the topics matching
// pattern, from their start up to their last stable offsets at the time of
// the call, undecoded.
func (r *Reader) Records(ctx context.Context, pattern string, fn func(*kgo.Record) error) error {
	return r.readAll(ctx, pattern, fn)
}

// readAll consumes the topics matching pattern from the start up to their
// last stable offsets at the time of the call.
func (r *Reader) readAll(ctx context.Context, pattern string, fn func(*kgo.Record) error) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(r.seeds...)}, r.opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return err
	}
	re := regexp.MustCompile(pattern)
	var names []string
	for _, t := range topics.Sorted() {
		if re.MatchString(t.Topic) {
			names = append(names, t.Topic)
		}
	}
	if len(names) == 0 {
		return nil
	}
	ends, err := adm.ListCommittedOffsets(ctx, names...)
	if err != nil {
		return err
	}
	want := map[string]map[int32]int64{}
	parts := map[string]map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil || o.Offset <= 0 {
			return
		}
		if want[o.Topic] == nil {
			want[o.Topic] = map[int32]int64{}
			parts[o.Topic] = map[int32]kgo.Offset{}
		}
		want[o.Topic][o.Partition] = o.Offset - 1
		parts[o.Topic][o.Partition] = kgo.NewOffset().AtStart()
	})
	if len(want) == 0 {
		return nil
	}
	cons, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(r.seeds...),
		kgo.ConsumePartitions(parts),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	}, r.opts...)...)
	if err != nil {
		return err
	}
	defer cons.Close()
	remaining := 0
	for _, ps := range want {
		remaining += len(ps)
	}
	for remaining > 0 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, fe := range fs.Errors() {
			return fmt.Errorf("reading %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
		}
		var ferr error
		fs.EachRecord(func(rec *kgo.Record) {
			last, ok := want[rec.Topic][rec.Partition]
			if ferr != nil || !ok || rec.Offset > last {
				return
			}
			if !rec.Attrs.IsControl() {
				ferr = fn(rec)
			}
			if rec.Offset >= last {
				delete(want[rec.Topic], rec.Partition)
				remaining--
			}
		})
		if ferr != nil {
			return ferr
		}
	}
	return nil
}

// readerSchema is the latest schema of an event: an outside consumer built
// today reads every older version through it.
func readerSchema(event string) (avro.Schema, error) {
	s, _, err := schemas.Latest(event)
	return s, err
}

// eventName returns the event part of esr.<tenant>.<event>.v1.
func eventName(topic string) string {
	parts := strings.Split(topic, ".")
	if len(parts) != 4 {
		return ""
	}
	return parts[2]
}

func day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

// DecodeEvent decodes one event record.
func (r *Reader) DecodeEvent(ctx context.Context, rec *kgo.Record) (Event, error) {
	ev := Event{Topic: rec.Topic, Key: string(rec.Key), Headers: map[string]string{}}
	for _, h := range rec.Headers {
		ev.Headers[h.Key] = string(h.Value)
	}
	name := eventName(rec.Topic)
	rs, err := readerSchema(name)
	if err != nil {
		return ev, fmt.Errorf("%s: %w", rec.Topic, err)
	}
	t := &ev.TruthLine
	t.Kind, t.Type = gen.KindEvent, name
	src := func(s eventsv1.Source) { t.File, t.Line = s.FileName, int(s.Line) }
	switch name {
	case schemas.StarterCreated:
		var v eventsv1.StarterCreated
		if _, err := r.serde.Decode(ctx, rec.Value, rs, &v); err != nil {
			return ev, err
		}
		ev.Value = v
		ev.ID, t.Tenant, t.VPD, t.PersonID, t.EmployeeNumber, t.EffectiveDate = v.EventID, v.Tenant, v.Vpd, v.PersonID, v.EmployeeNumber, day(v.EffectiveDate)
		src(v.Source)
		t.AssignmentNumber, t.Scheduled, t.Rehire = v.AssignmentNumber, v.Scheduled, v.Rehire
	case schemas.LeaverConfirmed:
		var v eventsv1.LeaverConfirmed
		if _, err := r.serde.Decode(ctx, rec.Value, rs, &v); err != nil {
			return ev, err
		}
		ev.Value = v
		ev.ID, t.Tenant, t.VPD, t.PersonID, t.EmployeeNumber, t.EffectiveDate = v.EventID, v.Tenant, v.Vpd, v.PersonID, v.EmployeeNumber, day(v.EffectiveDate)
		src(v.Source)
		t.LeavingReason, t.DaysLate = v.LeavingReason, v.DaysLate
		if v.LastWorkingDay != nil {
			t.LastWorkingDay = day(*v.LastWorkingDay)
		}
	case schemas.PositionUpdated:
		var v eventsv1.PositionUpdated
		if _, err := r.serde.Decode(ctx, rec.Value, rs, &v); err != nil {
			return ev, err
		}
		ev.Value = v
		ev.ID, t.Tenant, t.VPD, t.PersonID, t.EmployeeNumber, t.EffectiveDate = v.EventID, v.Tenant, v.Vpd, v.PersonID, v.EmployeeNumber, day(v.EffectiveDate)
		src(v.Source)
		t.AssignmentNumber, t.Change = v.AssignmentNumber, string(v.Change)
	case schemas.LeaverReversed:
		// The truth never reverses (files in order, clock gated); Change
		// carries the reversal so a comparison shows it.
		var v eventsv1.LeaverReversed
		if _, err := r.serde.Decode(ctx, rec.Value, rs, &v); err != nil {
			return ev, err
		}
		ev.Value = v
		ev.ID, t.Tenant, t.VPD, t.PersonID, t.EmployeeNumber, t.EffectiveDate = v.EventID, v.Tenant, v.Vpd, v.PersonID, v.EmployeeNumber, day(v.EffectiveDate)
		src(v.Source)
		t.LeavingReason, t.Change = v.LeavingReason, v.Reversal
	default:
		return ev, fmt.Errorf("%s: not an event topic", rec.Topic)
	}
	return ev, nil
}
