package publish

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// stamp is what a validated record says of its own lineage (entity v4):
// its raw row's hash, the mapping and rule-set versions and when it passed
// ingest, normalise and validate. Publish keeps it with the rows of the
// open person group and with held events (in state, as JSON), so an event
// emitted from them — now, after a restart or days later when a held
// leaver falls due — still names where it came from.
type stamp struct {
	RawSHA256      string `json:"raw,omitempty"`
	MappingVersion string `json:"mv,omitempty"`
	RuleSetVersion string `json:"rs,omitempty"`
	IngestedMs     int64  `json:"in,omitempty"`
	NormalisedMs   int64  `json:"no,omitempty"`
	ValidatedMs    int64  `json:"va,omitempty"`
}

// stampOf reads a validated record's stamp; nil when it carries none
// (records written before entity v4).
func stampOf(rec *internalv1.EntityRecord) *stamp {
	s := stamp{RuleSetVersion: rec.RuleSetVersion, IngestedMs: millis(rec.IngestedAt), NormalisedMs: millis(rec.NormalisedAt),
		ValidatedMs: millis(rec.ValidatedAt)}
	if rec.RawSha256 != nil {
		s.RawSHA256 = *rec.RawSha256
	}
	if rec.MappingVersion != nil {
		s.MappingVersion = *rec.MappingVersion
	}
	if s.RawSHA256 == "" && s.MappingVersion == "" && s.ValidatedMs == 0 {
		return nil
	}
	return &s
}

func millis(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) *time.Time {
	if ms == 0 {
		return nil
	}
	t := time.UnixMilli(ms).UTC()
	return &t
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// lineageOf is the esr.ops.lineage.v1 record of an event written at
// published. What the event's source did not record is null, never guessed.
func lineageOf(e *event, topic string, published time.Time) *internalv1.EventLineage {
	l := &internalv1.EventLineage{EventID: e.ID, Tenant: e.Tenant, Topic: topic, PublishedAt: published.UTC()}
	if s := e.Stamp; s != nil {
		l.RawSha256, l.MappingVersion, l.RuleSetVersion = optString(s.RawSHA256), optString(s.MappingVersion), optString(s.RuleSetVersion)
		l.IngestedAt, l.NormalisedAt, l.ValidatedAt = fromMillis(s.IngestedMs), fromMillis(s.NormalisedMs), fromMillis(s.ValidatedMs)
	}
	return l
}

// produceLineage writes an event's lineage record in the event's
// transaction, so the two are committed (or not) together.
func (w *work) produceLineage(e *event, topic string, published time.Time) error {
	wr, err := w.writerLocked(schemas.TopicLineage, schemas.EventLineage)
	if err != nil {
		return err
	}
	b, err := wr.Encode(nil, lineageOf(e, topic, published))
	if err != nil {
		return err
	}
	w.tx.Produce(&kgo.Record{Topic: schemas.TopicLineage, Key: []byte(e.Tenant), Value: b})
	return nil
}

// stampEvents gives each event derived from a group the stamp of the row it
// names (its line).
func (g *group) stampEvents(out *outcome) {
	for i := range out.emit {
		out.emit[i].Stamp = g.Stamps[out.emit[i].Line]
	}
	if out.hold != nil {
		out.hold.Stamp = g.Stamps[out.hold.Line]
	}
}

// stampRow remembers a row's stamp in the group.
func (g *group) stampRow(line int64, s *stamp) {
	if s == nil {
		return
	}
	if g.Stamps == nil {
		g.Stamps = map[int64]*stamp{}
	}
	g.Stamps[line] = s
}
