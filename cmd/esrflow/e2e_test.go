package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/observe"
	"github.com/esrflow/esrflow/cmd/esrflow/internal/stack"
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// trust is a generated trust: its files, in order, and its truth.
type trust struct {
	res   gen.Result
	sink  *gen.MemSink
	truth []gen.TruthLine
}

func generate(t testing.TB, cfg gen.Config) trust {
	t.Helper()
	sink := &gen.MemSink{}
	res, err := gen.Generate(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := gen.ReadTruth(strings.NewReader(string(sink.Bytes(gen.TruthFile))))
	if err != nil {
		t.Fatal(err)
	}
	return trust{res: res, sink: sink, truth: truth}
}

// lastRunDate is the run date of the last file, as YYYY-MM-DD.
func (tr trust) lastRunDate() string {
	var last string
	for _, l := range tr.truth {
		if l.Kind == gen.KindFile {
			last = l.RunDate
		}
	}
	return last
}

// expectedEvents are the truth's events a pipeline has published after the
// last file: every event except held leavers whose due date is later.
func (tr trust) expectedEvents() (published, held []gen.TruthLine) {
	last := tr.lastRunDate()
	for _, l := range tr.truth {
		if l.Kind != gen.KindEvent {
			continue
		}
		if l.Due != "" && l.Due > last {
			held = append(held, l)
			continue
		}
		l.Due = "" // a fired held leaver carries no due date
		published = append(published, l)
	}
	return published, held
}

// runTrust starts a stack, drops the trust's files into tenant RXX's drop
// folder and waits for their reports.
func runTrust(t *testing.T, tr trust, timeout time.Duration) (*stack.Stack, *observe.Reader, []internalv1.FileReport) {
	t.Helper()
	st := startStack(t, t.TempDir())
	rd, err := observe.NewReader(st.Seeds(), st.RegistryURL())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tr.res.Files {
		dropFile(t, st.DropDir(), "RXX", f.Name, tr.sink.Bytes(f.Name))
	}
	return st, rd, waitReports(t, rd, len(tr.res.Files), timeout)
}

// dropFile writes a file into the tenant's drop folder the way an SFTP
// client should: under a temporary name, then renamed.
func dropFile(t testing.TB, drop, tenantCode, name string, data []byte) {
	t.Helper()
	dir := filepath.Join(drop, tenantCode)
	tmp := filepath.Join(dir, "."+name+".part")
	if err := os.WriteFile(tmp, data, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func startStack(t testing.TB, dir string, without ...string) *stack.Stack {
	t.Helper()
	tenants, err := tenant.Parse("RXX=412")
	if err != nil {
		t.Fatal(err)
	}
	return startStackWith(t, dir, tenants, without...)
}

// e2eClock is publish's clock in these tests: the generated files start on
// gen.DefaultStart (2024-04-01), and the truth has held leavers confirmed by
// later files, so the scheduler's clock must not reach their dates first.
// It still runs (from 03:00 on the start date), so recorded_at orders a
// person's events as a real clock would: the api's state follows it.
func e2eClock() time.Time { return gen.DefaultStart.Add(3 * time.Hour).Add(time.Since(processStart)) }

var processStart = time.Now()

func startStackWith(t testing.TB, dir string, tenants *tenant.Set, without ...string) *stack.Stack {
	t.Helper()
	return startStackConfig(t, e2eStackConfig(t, dir, tenants, without...))
}

// e2eStackConfig is the stack the end-to-end tests run: on dir, e2eClock's
// time, quick polls, the api open (no clients: its operator endpoints refuse
// everyone).
func e2eStackConfig(t testing.TB, dir string, tenants *tenant.Set, without ...string) stack.Config {
	return stack.Config{
		DataDir: dir, KafkaPort: 0, RegistryAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", Partitions: 3,
		Tenants: tenants, Settle: 20 * time.Millisecond, Poll: 50 * time.Millisecond, Without: without,
		Log: zaptest.NewLogger(t, zaptest.Level(zapWarn)), Now: e2eClock,
	}
}

// startStackConfig starts a stack and stops it when the test ends.
func startStackConfig(t testing.TB, cfg stack.Config) *stack.Stack {
	t.Helper()
	st, err := stack.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("stack stopped with %v", err)
		}
	})
	return st
}

// waitReports waits until n file reports are committed and returns them.
func waitReports(t testing.TB, rd *observe.Reader, n int, timeout time.Duration) []internalv1.FileReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		reps, err := rd.FileReports(ctx)
		if err != nil {
			t.Fatalf("reading file reports: %v", err)
		}
		if len(reps) >= n {
			return reps
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d file reports after %s: %+v", len(reps), n, timeout, reps)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// eventKey identifies an event in the truth: the row that caused it and
// what it says.
func eventKey(l gen.TruthLine) string {
	b, _ := json.Marshal(l)
	return string(b)
}

// compareEvents compares the events with the truth as multisets and
// returns how many of the truth's events are missing and how many
// published ones it does not have (duplicates included).
func compareEvents(t *testing.T, got []observe.Event, want []gen.TruthLine) (missing, extra int) {
	t.Helper()
	wantSet := map[string]int{}
	for _, l := range want {
		wantSet[eventKey(l)]++
	}
	gotSet := map[string]int{}
	for _, e := range got {
		gotSet[eventKey(e.TruthLine)]++
	}
	var missingKeys, extraKeys []string
	for k, n := range wantSet {
		if gotSet[k] < n {
			missingKeys = append(missingKeys, k)
			missing += n - gotSet[k]
		}
	}
	for k, n := range gotSet {
		if wantSet[k] < n {
			extraKeys = append(extraKeys, k)
			extra += n - wantSet[k]
		}
	}
	sort.Strings(missingKeys)
	sort.Strings(extraKeys)
	if missing+extra > 0 {
		t.Errorf("published %d events, truth has %d; %d missing, %d unexpected", len(got), len(want), missing, extra)
		for i, m := range missingKeys {
			if i == 10 {
				break
			}
			t.Errorf("missing:    %s", m)
		}
		for i, m := range extraKeys {
			if i == 10 {
				break
			}
			t.Errorf("unexpected: %s", m)
		}
	}
	return missing, extra
}

// checkEnvelope checks what every event carries besides its truth fields:
// a unique id equal to ce_id, the CloudEvents headers, and the person id as
// the plain-text key.
func checkEnvelope(t *testing.T, got []observe.Event) {
	t.Helper()
	ids := map[string]bool{}
	ceTypes := map[string]string{
		schemas.StarterCreated: schemas.CETypeStarterCreated, schemas.LeaverConfirmed: schemas.CETypeLeaverConfirmed,
		schemas.PositionUpdated: schemas.CETypePositionUpdated, schemas.LeaverReversed: schemas.CETypeLeaverReversed,
	}
	for _, e := range got {
		switch {
		case e.ID == "" || ids[e.ID]:
			t.Fatalf("event id %q empty or repeated", e.ID)
		case e.Headers["ce_id"] != e.ID:
			t.Fatalf("ce_id %q != event_id %q", e.Headers["ce_id"], e.ID)
		case e.Headers["ce_type"] != ceTypes[e.Type]:
			t.Fatalf("ce_type %q for a %s", e.Headers["ce_type"], e.Type)
		case e.Key != e.PersonID || e.Headers["ce_subject"] != e.PersonID:
			t.Fatalf("key %q / ce_subject %q, want person id %q", e.Key, e.Headers["ce_subject"], e.PersonID)
		case e.Topic != schemas.EventTopic(e.Tenant, e.Type):
			t.Fatalf("event on %s, want %s", e.Topic, schemas.EventTopic(e.Tenant, e.Type))
		}
		for _, h := range []string{"ce_specversion", "ce_source", "ce_time", "content-type", "traceparent"} {
			if e.Headers[h] == "" {
				t.Fatalf("event %s lacks header %s", e.ID, h)
			}
		}
		ids[e.ID] = true
	}
}

// unmodelled are the GO v2 record types the canonical model does not keep
// (phones, addresses, vehicles, costings and their deletes), written out
// here so the tests check the pipeline's list.
var unmodelled = map[string]bool{"PHA": true, "ADA": true, "VHA": true, "COA": true,
	"PHD": true, "ADD": true, "VHD": true, "COD": true}

// ignoredRows is, for each generated file, how many of its rows the
// pipeline counts as ignored: the rows of unmodelled types, except those the
// truth quarantines (a parse fault, a missing key). Worked out from the
// files' text and the truth, not from what the pipeline says.
func (tr trust) ignoredRows() map[string]int64 {
	quarantined := map[string]bool{}
	for _, l := range tr.truth {
		if l.Kind == gen.KindQuarantine {
			quarantined[l.File+":"+strconv.Itoa(l.Line)] = true
		}
	}
	out := map[string]int64{}
	for _, fi := range tr.res.Files {
		for i, ln := range strings.Split(string(tr.sink.Bytes(fi.Path)), "\n") {
			typ, _, _ := strings.Cut(ln, "~")
			if unmodelled[typ] && !quarantined[fi.Name+":"+strconv.Itoa(i+1)] {
				out[fi.Name]++
			}
		}
	}
	return out
}

// checkReports checks that every accepted file's report reconciles and
// matches the truth's row count and the rows the pipeline must ignore, and
// that events_emitted adds up.
func checkReports(t *testing.T, tr trust, reps []internalv1.FileReport, events []observe.Event) {
	t.Helper()
	rows := map[string]int{}
	for _, l := range tr.truth {
		if l.Kind == gen.KindFile {
			rows[l.File] = l.Rows
		}
	}
	ignored := tr.ignoredRows()
	emitted := map[string]int64{}
	for _, fr := range reps {
		if fr.Status != internalv1.FileStatusAccepted {
			t.Errorf("%s: %s %v", fr.File.Name, fr.Status, fr.Reason)
			continue
		}
		if int(fr.RowsRead) != rows[fr.File.Name] {
			t.Errorf("%s: rows_read %d, file has %d data rows", fr.File.Name, fr.RowsRead, rows[fr.File.Name])
		}
		if want := ignored[fr.File.Name]; fr.Ignored != want {
			t.Errorf("%s: ignored %d, the file has %d rows of unmodelled types not to be quarantined", fr.File.Name, fr.Ignored, want)
		}
		if sum := fr.EntitiesAccepted + fr.Quarantined + fr.Corrections + fr.Ignored; sum != fr.RowsRead {
			t.Errorf("%s does not reconcile: %d accepted + %d quarantined + %d corrections + %d ignored = %d, rows read %d",
				fr.File.Name, fr.EntitiesAccepted, fr.Quarantined, fr.Corrections, fr.Ignored, sum, fr.RowsRead)
		}
		for k, v := range fr.EventsEmitted {
			emitted[k] += v
		}
	}
	byType := map[string]int64{}
	for _, e := range events {
		byType[e.Type]++
	}
	for k, v := range byType {
		if emitted[k] != v {
			t.Errorf("file reports list %d %s events, %d were published", emitted[k], k, v)
		}
	}
}

// checkRawDrops checks that ingest wrote no row the pipeline only ignores
// to esr.raw.v1: each file's rows there are its rows less those, and its
// FILE_END counts those instead.
func checkRawDrops(t *testing.T, tr trust, rd *observe.Reader, tenant string) {
	t.Helper()
	raw, err := rd.RawFiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ignored := tr.ignoredRows()
	var dropped, written int
	for _, fi := range tr.res.Files {
		f := raw[tenant+"/"+fi.Name]
		if f == nil {
			t.Errorf("%s not on esr.raw.v1", fi.Name)
			continue
		}
		if f.Records != fi.Rows-int(ignored[fi.Name]) || f.Ignored != int(ignored[fi.Name]) {
			t.Errorf("%s on esr.raw.v1: %d rows and %d counted on FILE_END; want %d and %d", fi.Name, f.Records, f.Ignored,
				fi.Rows-int(ignored[fi.Name]), ignored[fi.Name])
		}
		dropped += f.Ignored
		written += f.Records
	}
	if dropped == 0 {
		t.Error("ingest dropped no row: the check checks nothing")
	}
	t.Logf("esr.raw.v1: %d rows written, %d counted on FILE_END instead", written, dropped)
}

// checkQuarantine checks the quarantine topic against the truth exactly:
// the error violations of the quarantined rows are the truth's quarantine
// lines, no more and no fewer, and a warning a quarantined row carries is
// one of the truth's warning lines.
func checkQuarantine(t *testing.T, tr trust, got []internalv1.QuarantineRecord) {
	t.Helper()
	want, wantWarn := map[string]bool{}, map[string]bool{}
	for _, l := range tr.truth {
		k := fmt.Sprintf("%s:%d %s %s/%s", l.File, l.Line, l.RecordType, l.Rule, l.Field)
		switch l.Kind {
		case gen.KindQuarantine:
			want[k] = true
		case gen.KindWarning:
			wantWarn[k] = true
		}
	}
	have := map[string]bool{}
	for _, q := range got {
		errors := 0
		for _, v := range q.Violations {
			k := fmt.Sprintf("%s:%d %s %s/%s", q.Lineage.FileName, q.Lineage.Line, q.Raw.RecordType, v.Rule, v.Field)
			if v.Severity == internalv1.SeverityWarning {
				if !wantWarn[k] {
					t.Errorf("unexpected warning: %s", k)
				}
				continue
			}
			errors++
			have[k] = true
		}
		if errors == 0 {
			t.Errorf("quarantine record %s:%d has no error", q.Lineage.FileName, q.Lineage.Line)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d records quarantined, truth has %d", len(got), len(want))
	}
	for k := range want {
		if !have[k] {
			t.Errorf("not quarantined: %s", k)
		}
	}
	for k := range have {
		if !want[k] {
			t.Errorf("quarantined against the truth: %s", k)
		}
	}
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

// TestEndToEndMatchesTruth runs a generated trust (2,000 staff, 10 days of
// change files, with faults; days 4 and 8 are full files and day 4's omits
// 40 % of the people, which under GO's default missing: ignore must publish
// nothing) through the whole embedded stack and compares everything
// published with the generator's truth.
func TestEndToEndMatchesTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	tr := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 2000, Days: 10, Seed: 1, Faults: true, FullEvery: 4})
	st, rd, reps := runTrust(t, tr, 5*time.Minute)
	ctx := context.Background()
	events, err := rd.Events(ctx, "RXX")
	if err != nil {
		t.Fatal(err)
	}
	published, held := tr.expectedEvents()
	compareEvents(t, events, published)
	checkEnvelope(t, events)
	checkReports(t, tr, reps, events)
	checkRawDrops(t, tr, rd, "RXX")
	q, err := rd.Quarantine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkQuarantine(t, tr, q)
	checkHeld(t, st, held)
	t.Logf("%d files, %d events published, %d leavers held, %d rows quarantined", len(reps), len(events), len(held), len(q))

	// Re-delivering a file already accepted is a duplicate: a report that
	// names the file it repeats, and nothing new published.
	again := tr.res.Files[3]
	dropFile(t, st.DropDir(), "RXX", again.Name, tr.sink.Bytes(again.Name))
	reps = waitReports(t, rd, len(tr.res.Files)+1, time.Minute)
	if last := reps[len(reps)-1]; last.Status != internalv1.FileStatusDuplicate || last.File.Name != again.Name ||
		last.DuplicateOf == nil || last.DuplicateOf.Name != again.Name {
		t.Fatalf("re-delivered %s: report %s %v", again.Name, last.Status, last.Reason)
	}
	after, err := rd.Events(ctx, "RXX")
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(events) {
		t.Fatalf("re-delivery published %d new events", len(after)-len(events))
	}

	checkAPI(t, st, published, tr.res.Files[0].Name, tr.sink.Bytes)
}
