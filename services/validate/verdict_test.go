package validate_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/esrflow/esrflow/esr/rules"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/platform/kafka/stage"
	"github.com/esrflow/esrflow/platform/tracing"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// baseline is a file defining what lineASA refers to.
func baseline() []internalv1.RawRecord { return file(1, lineLCA, lineORA, linePOA, linePRA, lineASA) }

// numberless is the n-th assignment of the person without an assignment
// number (ESR-R011), distinct ids so no two rows are duplicates.
func numberless(n int) string {
	return set(set(set(lineASA, 2, fmt.Sprint(41877200+n)), 7, ""), 21, "No")
}

func tenants(t *testing.T, v tenant.Validation) *tenant.Set {
	t.Helper()
	set, err := tenant.New(tenant.Tenant{Code: "RXX", VPDs: []string{"412"}, Validation: v})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// Nothing of a file leaves validate before its FILE_END: its verdict needs
// the whole file.
func TestNothingBeforeFileEnd(t *testing.T) {
	h := newHarness(t)
	f := baseline()
	out := h.run(f[:len(f)-1])
	if len(out.validated)+len(out.quarantined)+len(out.reports) != 0 {
		t.Fatalf("%d validated, %d quarantined, %d reports before FILE_END, want none",
			len(out.validated), len(out.quarantined), len(out.reports))
	}
	if files, recs := h.val.OpenFiles("RXX"); files != 1 || recs != 5 {
		t.Errorf("open: %d files, %d records; want 1, 5", files, recs)
	}
	out = h.run(f[len(f)-1:])
	if len(out.validated) != 7 {
		t.Errorf("%d validated at FILE_END, want 7 (start, 5 entities, end)", len(out.validated))
	}
	if files, _ := h.val.OpenFiles("RXX"); files != 0 {
		t.Errorf("%d files open after FILE_END", files)
	}
	// Every record the file buffered in the changelog is deleted again.
	live := map[string]bool{}
	for _, s := range out.valState {
		live[string(s.Key)] = s.Value != nil
	}
	for k, v := range live {
		if (strings.HasPrefix(k, "buf/") || strings.HasPrefix(k, "file/")) && v {
			t.Errorf("changelog key %s still set after FILE_END", k)
		}
	}
}

// A file over its error budget is rejected whole: nothing of it on
// esr.validated.v1, its broken rows quarantined, a REJECTED report naming
// the top rules, what validate knows unchanged. The next good file flows.
func TestOverBudgetFileRejectedWhole(t *testing.T) {
	h := newHarness(t)
	out := h.run(baseline())
	if len(out.validated) != 7 || len(out.quarantined) != 0 {
		t.Fatalf("baseline: %d validated, %d quarantined", len(out.validated), len(out.quarantined))
	}
	persons, positions := h.val.KnownCounts("RXX")

	// 12 of 13 rows broken (default budget: >= 10 errors and > 10 %); the
	// good row is a new position, which must not become known.
	var lines []string
	for i := range 12 {
		lines = append(lines, numberless(i))
	}
	lines = append(lines, set(linePOA, 1, "8812999"))
	bad := h.run(file(2, lines...))
	if len(bad.validated) != 0 {
		t.Errorf("rejected file: %d records on esr.validated.v1, want 0", len(bad.validated))
	}
	if len(bad.quarantined) != 12 {
		t.Errorf("rejected file: %d quarantine records, want 12", len(bad.quarantined))
	}
	if len(bad.reports) != 1 {
		t.Fatalf("%d file reports, want 1", len(bad.reports))
	}
	r := h.decodeReport(bad.reports[0])
	if r.Status != internalv1.FileStatusRejected || r.Reason == nil || !strings.HasPrefix(*r.Reason, "ESR-F025 error-budget: 12 of 13 rows") ||
		!strings.Contains(*r.Reason, "ESR-R011") {
		t.Errorf("report status %s reason %v", r.Status, r.Reason)
	}
	if fmt.Sprint(r.TopRules) != fmt.Sprint([]internalv1.RuleCount{{Rule: "ESR-R011", Count: 12}}) {
		t.Errorf("top rules %+v", r.TopRules)
	}
	if r.RowsRead != 13 || r.Quarantined != 12 || r.EntitiesAccepted != 0 || r.Corrections != 0 || r.Ignored != 0 ||
		len(r.EventsEmitted) != 0 || r.RuleSetVersion != rules.Baseline().Version() || r.Tenant != "RXX" || r.File.Sequence != 2 {
		t.Errorf("report %+v", r)
	}
	if p, q := h.val.KnownCounts("RXX"); p != persons || q != positions {
		t.Errorf("known after a rejected file: %d persons %d positions, want %d %d", p, q, persons, positions)
	}

	// The next file names the position the rejected file defined: unknown.
	// Its other row flows.
	next := h.run(file(3, lineASA, set(set(set(lineASA, 28, "8812999"), 2, "41877300"), 21, "No")))
	s := summarise(h, next)
	if fmt.Sprint(s.validated) != "[FILE_START:0 ENTITY:2 FILE_END:0]" {
		t.Errorf("next file validated %v", s.validated)
	}
	if fmt.Sprint(s.quarantined) != "[VALIDATE ASA:3 ESR-X002/position_id]" {
		t.Errorf("next file quarantined %v", s.quarantined)
	}
	if len(next.reports) != 0 {
		t.Errorf("next file: %d reports from validate, want 0 (publish reports accepted files)", len(next.reports))
	}
}

// A tenant's overrides change outcomes: a disabled rule lets a row through;
// a rule turned into a warning passes the row, flagged.
// TestReplayBatchIsNeverOverBudget: the same 12-of-13 broken rows, sent as a
// replay batch, are judged row by row: the 12 are quarantined again, the good
// row flows, and no file is rejected.
func TestReplayBatchIsNeverOverBudget(t *testing.T) {
	h := newHarness(t)
	h.run(baseline())
	var lines []string
	for i := range 12 {
		lines = append(lines, numberless(i))
	}
	lines = append(lines, set(linePOA, 1, "8812999"))
	batch := file(2, lines...)
	id := "rp-0c1d2e3f4a5b"
	for i := range batch {
		batch[i].ReplayID = &id
	}
	out := h.run(batch)
	if len(out.reports) != 0 {
		t.Errorf("a replay batch got %d file reports from validate (a rejection), want none", len(out.reports))
	}
	if len(out.quarantined) != 12 {
		t.Errorf("%d quarantine records, want 12", len(out.quarantined))
	}
	if s := summarise(h, out); fmt.Sprint(s.validated) != "[FILE_START:0 ENTITY:14 FILE_END:0]" { // kind:line; the good row is line 14
		t.Errorf("validated %v, want the batch with its good row", s.validated)
	}
}

func TestTenantOverrideChangesOutcome(t *testing.T) {
	unknownPosition := set(set(lineASA, 28, "99000001"), 2, "41877121")
	for _, tt := range []struct {
		name     string
		v        tenant.Validation
		line     string
		warnings string
	}{
		{"baseline quarantines", tenant.Validation{}, unknownPosition, "quarantined"},
		{"disabled", tenant.Validation{Rules: map[string]tenant.RuleOverride{"ESR-X002": {Disabled: true}}}, unknownPosition, "[]"},
		{"baseline quarantines", tenant.Validation{}, numberless(1), "quarantined"},
		{"warning", tenant.Validation{Rules: map[string]tenant.RuleOverride{"ESR-R011": {Severity: "warning"}}}, numberless(1),
			"[ESR-R011/assignment_number/WARNING]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			cfg := tenants(t, tt.v)
			h.val = h.newValidateWith(cfg)
			h.run(baseline())
			out := h.run(file(2, tt.line))
			want, err := rules.Compile(mustGet(t, cfg))
			if err != nil {
				t.Fatal(err)
			}
			if tt.warnings == "quarantined" {
				if len(out.quarantined) != 1 || len(out.validated) != 2 {
					t.Fatalf("%d quarantined %d validated, want 1 and 2 (markers)", len(out.quarantined), len(out.validated))
				}
				return
			}
			if len(out.quarantined) != 0 || len(out.validated) != 3 {
				t.Fatalf("%d quarantined %d validated, want 0 and 3", len(out.quarantined), len(out.validated))
			}
			for _, r := range out.validated {
				e := h.decodeEntity(r)
				if e.RuleSetVersion != want.Version() || want.Version() == rules.Baseline().Version() {
					t.Errorf("%s: rule_set_version %q, want the tenant's %q (not the baseline's)", e.Kind, e.RuleSetVersion, want.Version())
				}
				if e.Kind != internalv1.EntityRecordKindEntity {
					if e.ValidatedAt != nil {
						t.Errorf("%s: validated_at set on a control record", e.Kind)
					}
					continue
				}
				// Lineage: a passed record says when validate passed it, and
				// keeps what normalise stamped.
				if e.ValidatedAt == nil || !e.ValidatedAt.Equal(fixedNow) {
					t.Errorf("validated_at %v, want %v", e.ValidatedAt, fixedNow)
				}
				if e.NormalisedAt == nil || e.MappingVersion == nil {
					t.Errorf("normalise's lineage lost: normalised_at %v mapping_version %v", e.NormalisedAt, e.MappingVersion)
				}
				var ws []string
				for _, w := range e.Warnings {
					ws = append(ws, w.Rule+"/"+w.Field+"/"+string(w.Severity))
				}
				if got := fmt.Sprint(ws); got != tt.warnings && !(tt.warnings == "[]" && len(ws) == 0) {
					t.Errorf("warnings %v, want %s", ws, tt.warnings)
				}
			}
		})
	}
}

func mustGet(t *testing.T, s *tenant.Set) tenant.Tenant {
	t.Helper()
	tn, ok := s.Get("RXX")
	if !ok {
		t.Fatal("tenant RXX not configured")
	}
	return tn
}

// A tenant override that does not compile stops validate from starting.
func TestBadOverrideFailsStart(t *testing.T) {
	h := newHarness(t)
	_, err := newValidateErr(h, tenants(t, tenant.Validation{Rules: map[string]tenant.RuleOverride{"ESR-Z999": {Disabled: true}}}))
	if err == nil || !strings.Contains(err.Error(), "RXX") || !strings.Contains(err.Error(), "ESR-Z999") {
		t.Fatalf("err = %v, want one naming the tenant and the rule", err)
	}
}

// Quarantine v2: every violation, the canonical entity, the file, the
// rule-set version, no replay id outside a replay.
func TestQuarantineRecordFields(t *testing.T) {
	h := newHarness(t)
	h.run(baseline())
	raws := file(2, set(numberless(1), 28, "99000001"))
	hash := strings.Repeat("c3", 32)
	for i := range raws {
		if raws[i].Kind == internalv1.RawKindRecord {
			raws[i].RawSha256 = &hash
		}
	}
	out := h.run(raws)
	if len(out.quarantined) != 1 {
		t.Fatalf("%d quarantined, want 1", len(out.quarantined))
	}
	q := h.decodeQuarantine(out.quarantined[0])
	// Quarantine v3: the row's raw hash, carried from raw through entity.
	if q.RawSha256 == nil || *q.RawSha256 != hash {
		t.Errorf("quarantine raw_sha256 %v, want %s", q.RawSha256, hash)
	}
	if q.Stage != internalv1.StageValidate || q.RuleSetVersion != rules.Baseline().Version() || q.EntityKind != "assignment" ||
		q.File == nil || q.File.Sequence != 2 || q.ReplayID != nil || q.Raw.RecordType != "ASA" || q.Lineage.Line != 2 {
		t.Errorf("quarantine record %+v", q)
	}
	if len(q.Violations) == 0 || q.Violations[0].Rule != "ESR-R011" || strings.Contains(q.Violations[0].Message, "31004581") {
		t.Errorf("violations %+v", q.Violations)
	}
	var canon map[string]any
	if q.Canonical == nil || json.Unmarshal([]byte(*q.Canonical), &canon) != nil || fmt.Sprint(canon["PositionID"], canon["position_id"]) == "<nil> <nil>" {
		t.Errorf("canonical %v", q.Canonical)
	}
}

// A file cut by a crash after some of its records were committed finishes
// from the changelog with the records' headers intact, and every output
// names validate's own span of the file in its traceparent (the same span,
// restored or not).
func TestRestoreKeepsHeaders(t *testing.T) {
	h := newHarness(t)
	var in []*kgo.Record
	for _, r := range h.run(baseline()).normalised {
		in = append(in, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value,
			Headers: []kgo.RecordHeader{{Key: "x-kept", Value: []byte(strconv.Itoa(len(in)))},
				{Key: "traceparent", Value: []byte(fmt.Sprintf("00-%032d-%016d-01", len(in), len(in)))}}})
	}
	feed := func(p stage.Processor, recs []*kgo.Record) (out, state []*kgo.Record) {
		for _, r := range recs {
			tx := step(t, p, r)
			out = append(out, tx.Records()...)
			state = append(state, tx.StateChanges()...)
		}
		return out, state
	}
	want, _ := feed(h.newValidate(), in)
	first, state := feed(h.newValidate(), in[:3])
	if len(first) != 0 {
		t.Fatalf("%d outputs before FILE_END", len(first))
	}
	p := h.restoredValidate(state)
	got, _ := feed(p, in[3:])
	if len(got) != len(want) || len(got) != 7 {
		t.Fatalf("%d outputs after restore, want %d", len(got), len(want))
	}
	for i := range got {
		if !h.same(got[i], want[i]) || fmt.Sprint(got[i].Headers) != fmt.Sprint(want[i].Headers) {
			t.Errorf("output %d differs: headers %v, want %v", i, got[i].Headers, want[i].Headers)
		}
	}
	start := h.decodeEntity(got[0])
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tracing.FileTraceID(start.File.Sha256),
		SpanID: tracing.StageSpanID("validate", start.Lineage.Tenant, start.File.Sha256), TraceFlags: trace.FlagsSampled})
	for i := range 2 {
		want := fmt.Sprint([]kgo.RecordHeader{in[i].Headers[0], {Key: "traceparent", Value: []byte(tracing.Traceparent(sc))}})
		if fmt.Sprint(got[i].Headers) != want {
			t.Errorf("output %d headers %v, want %v", i, got[i].Headers, want)
		}
	}
}
