package ingest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/gov2"
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/rules"
	"github.com/esrflow/esrflow/platform/service"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/ingest"
)

// parserRule are the row rules the GO v2 parser reports on a row it still
// passes on, by the parser's names (the catalogue's names for them).
var parserRule = map[string]bool{
	format.RuleRecordType: true, format.RuleColumnCount: true, format.RuleDeleteID: true,
	format.RuleDate: true, format.RuleTimestamp: true,
}

func TestAcceptedFileIsOneTransactionOnRaw(t *testing.T) {
	began := time.Now().Truncate(time.Millisecond)
	st := newStack(t)
	svc := st.start(t, st.config(t, "a"))
	sink, res := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 40, Days: 1, Seed: 7, Faults: true})

	truth, err := gen.ReadTruth(bytes.NewReader(sink.Bytes(gen.TruthFile)))
	if err != nil {
		t.Fatal(err)
	}
	var want []internalv1.RawRecord
	var ignored int
	for _, fi := range res.Files {
		data := sink.Bytes(fi.Name)
		waitGone(t, st.drop(t, "RXX", fi.Name, data))
		// The original is archived by content hash, byte for byte: the
		// rows ingest does not write included.
		got, err := os.ReadFile(filepath.Join(st.archive, "RXX", fi.SHA256))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("archive of %s: %v (equal=%v)", fi.Name, err, bytes.Equal(got, data))
		}
		recs := expectRaw(t, fi, data, quarantinedLines(truth))
		want = append(want, recs...)
		ignored += int(recs[len(recs)-1].Counts.IgnoredRows)
	}
	if ignored == 0 {
		t.Fatal("the files have no row ingest drops: the drop is not checked")
	}
	// Parser problems travel on their rows: every row the generator planted
	// as a parse fault carries that rule and field; every other row none.
	faults := map[string]gen.TruthLine{}
	for _, tl := range truth {
		// The truth names catalogue codes; the parser's faults are those of
		// rules with the parser's names (esr/format.Rule*).
		if r, ok := rules.Lookup(tl.Rule); tl.Kind == gen.KindQuarantine && ok && parserRule[r.Name] {
			faults[tl.File+":"+strconv.Itoa(tl.Line)] = tl
		}
	}
	if len(faults) == 0 {
		t.Fatal("the generator planted no parse faults: the problem check checks nothing")
	}

	got := st.rawRecords(t)
	if len(got) != len(want) {
		t.Fatalf("raw has %d records, want %d", len(got), len(want))
	}
	seen := 0
	ended := time.Now()
	for i := range want {
		g := got[i]
		// Every record says when ingest read it (lineage); the time is the
		// clock's, so it is checked against the test's span, then dropped.
		if g.IngestedAt == nil || g.IngestedAt.Before(began) || g.IngestedAt.After(ended) {
			t.Fatalf("raw record %d: ingested_at %v, want between %v and %v", i, g.IngestedAt, began, ended)
		}
		g.IngestedAt = nil
		if hg, hw := str(g.RawSha256), str(want[i].RawSha256); hg != hw {
			t.Fatalf("raw record %d (%s:%d): raw_sha256 %q, want %q", i, g.File.Name, g.Line, hg, hw)
		}
		g.RawSha256, want[i].RawSha256 = nil, nil
		if tl, ok := faults[g.File.Name+":"+strconv.FormatInt(g.Line, 10)]; ok && g.Kind == internalv1.RawKindRecord {
			if len(g.Problems) == 0 || rules.CodeOf(g.Problems[0].Rule) != tl.Rule || g.Problems[0].Field != tl.Field {
				t.Errorf("%s:%d: problems %+v, want rule %s field %s", tl.File, tl.Line, g.Problems, tl.Rule, tl.Field)
			}
			g.Problems = []internalv1.Problem{}
			seen++
		}
		if gs, ws := show(g), show(want[i]); gs != ws {
			t.Fatalf("raw record %d:\n got %s\nwant %s", i, gs, ws)
		}
	}
	if seen != len(faults) {
		t.Fatalf("found %d of %d planted faults on raw", seen, len(faults))
	}
	if r := st.reports(t); len(r) != 0 {
		t.Fatalf("accepted files wrote %d reports: %+v", len(r), r)
	}

	// rows_total is every data row read (the quarantine-rate alerts divide
	// by it), written or not.
	rows := float64(res.Rows)
	if v := counter(t, svc.metrics, "esrflow_ingest_files_total", "tenant", "RXX", "status", "accepted"); v != 2 {
		t.Errorf("accepted files = %v, want 2", v)
	}
	if v := counter(t, svc.metrics, "esrflow_ingest_rows_total", "tenant", "RXX"); v != rows {
		t.Errorf("rows = %v, want %v", v, rows)
	}
	if v := counter(t, svc.metrics, "esrflow_ingest_rows_ignored_total", "tenant", "RXX"); v != float64(ignored) {
		t.Errorf("rows ignored = %v, want %v", v, ignored)
	}
	if v := counter(t, svc.metrics, "esrflow_ingest_last_accepted_timestamp_seconds", "tenant", "RXX"); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last accepted = %v", v)
	}
	if ents, _ := os.ReadDir(filepath.Join(st.dropRoot, "RXX")); len(ents) != 0 {
		t.Errorf("drop folder not emptied: %d entries", len(ents))
	}
}

// str is *p, or "<nil>".
func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// unmodelled are the GO v2 record types the canonical model does not keep:
// ingest counts their rows on FILE_END instead of writing them. Written out
// here rather than taken from esr/tenant, so the test checks the decision.
var unmodelled = map[string]bool{"PHA": true, "ADA": true, "VHA": true, "COA": true,
	"PHD": true, "ADD": true, "VHD": true, "COD": true}

// quarantinedLines are the rows ("file:line") the generator's truth says
// the pipeline quarantines.
func quarantinedLines(truth []gen.TruthLine) map[string]bool {
	out := map[string]bool{}
	for _, tl := range truth {
		if tl.Kind == gen.KindQuarantine {
			out[tl.File+":"+strconv.Itoa(tl.Line)] = true
		}
	}
	return out
}

// expectRaw is what ingest must write for an accepted generated file,
// worked out from the file's text: every row, except the rows of unmodelled
// types that are not to be quarantined (a parse fault or a missing key on
// such a row travels on, for normalise to quarantine), which FILE_END
// counts instead. Line numbers stay those of the file.
func expectRaw(t *testing.T, fi gen.FileInfo, data []byte, quarantined map[string]bool) []internalv1.RawRecord {
	t.Helper()
	runDate, err := time.Parse(time.DateOnly, fi.RunDate)
	if err != nil {
		t.Fatal(err)
	}
	kind := internalv1.FileKindChange
	if fi.Type == "GOF" {
		kind = internalv1.FileKindFull
	}
	info := internalv1.FileInfo{Name: fi.Name, Sha256: fi.SHA256, Dialect: "go-v2", Kind: kind, Sequence: int64(fi.Seq),
		RunDate: runDate, Size: int64(len(data))}
	out := []internalv1.RawRecord{{Kind: internalv1.RawKindFileStart, Tenant: "RXX", Vpd: "412", File: info,
		Fields: []string{}, Problems: []internalv1.Problem{}}}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	byType, ignoredByType := map[string]int64{}, map[string]int64{}
	var ignored int64
	for i, ln := range lines[1 : len(lines)-1] {
		f := strings.Split(strings.TrimSuffix(ln, "\r"), "~")
		if unmodelled[f[0]] && !quarantined[fi.Name+":"+strconv.Itoa(i+2)] {
			ignored++
			ignoredByType[f[0]]++
			continue
		}
		if spec := gov2.Spec(f[0]); spec != nil {
			format.BlankSpecial(spec, f)
		}
		// Lineage: the hash of the line's bytes as in the file, without
		// its terminator.
		sum := sha256.Sum256([]byte(strings.TrimSuffix(ln, "\r")))
		hash := hex.EncodeToString(sum[:])
		out = append(out, internalv1.RawRecord{Kind: internalv1.RawKindRecord, Tenant: "RXX", Vpd: "412", File: info,
			Line: int64(i + 2), RecordType: f[0], Fields: f[1:], Problems: []internalv1.Problem{}, RawSha256: &hash})
		byType[f[0]]++
	}
	if len(out)-1+int(ignored) != fi.Rows || len(lines) != fi.Lines {
		t.Fatalf("%s: split %d rows / %d lines, generator says %d / %d", fi.Name, len(out)-1+int(ignored), len(lines), fi.Rows, fi.Lines)
	}
	out = append(out, internalv1.RawRecord{Kind: internalv1.RawKindFileEnd, Tenant: "RXX", Vpd: "412", File: info,
		Fields: []string{}, Problems: []internalv1.Problem{},
		Counts: &internalv1.RawCounts{Lines: int64(fi.Lines), Rows: int64(len(out) - 1), RowsByType: byType,
			IgnoredRows: ignored, IgnoredByType: ignoredByType}})
	return out
}

func TestFileLevelFailuresAreRejectedWhole(t *testing.T) {
	// Big enough (over kgo's 10,000 buffered records) that rows reach the
	// broker before the trailer is read, so the abort is really exercised.
	sink, res := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 2000, Days: 0, Seed: 3})
	full := res.Files[0]
	if full.Rows <= 10_000 {
		t.Fatalf("full file has %d rows; want more than kgo buffers", full.Rows)
	}
	data := sink.Bytes(full.Name)
	otherSink, other := generate(t, gen.Config{Tenant: "RYY", VPD: "413", Staff: 10, Days: 0, Seed: 3})

	trailer := fmt.Sprintf("TRL~%d\n", full.Lines)
	if !bytes.HasSuffix(data, []byte(trailer)) {
		t.Fatalf("generated file does not end with %q", trailer)
	}
	badCount := append(bytes.TrimSuffix(bytes.Clone(data), []byte(trailer)), fmt.Sprintf("TRL~%d\n", full.Lines+1)...)
	truncated := data[:bytes.LastIndex(bytes.TrimSuffix(data, []byte(trailer)), []byte("\n"))+1]

	tests := []struct {
		name, folder, file string
		data               []byte
		rule               string
		line               int
		tenant, vpd        string
		streamed           bool // rows were written, then the transaction aborted
	}{
		{"bad trailer count", "RXX", full.Name, badCount, "trailer-count", full.Lines, "RXX", "412", true},
		{"truncated file", "RXX", full.Name, truncated, "missing-trailer", full.Lines - 1, "RXX", "412", true},
		{"wrong VPD", "RXX", other.Files[0].Name, otherSink.Bytes(other.Files[0].Name), "unexpected-vpd", 1, "RXX", "413", false},
		{"unknown tenant", "RZZ", full.Name, data, "unknown-tenant", 0, "RZZ", "412", false},
		{"not an ESR name", "RXX", "staff.csv", data, "file-name", 0, "RXX", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStack(t)
			cfg := st.config(t, "a")
			// The truncated file waits for its trailer this long.
			cfg.IncompleteAfter = 100 * time.Millisecond
			svc := st.start(t, cfg)
			waitGone(t, st.drop(t, tt.folder, tt.file, tt.data))

			reports := st.reports(t)
			if len(reports) != 1 {
				t.Fatalf("%d reports, want 1: %+v", len(reports), reports)
			}
			r := reports[0]
			if r.Status != internalv1.FileStatusRejected || r.Tenant != tt.tenant || r.Vpd != tt.vpd || r.Reason == nil {
				t.Fatalf("report = %+v", r)
			}
			sum := sha(tt.data)
			if r.File.Name != tt.file || r.File.Sha256 != sum || r.File.Size != int64(len(tt.data)) || r.RowsRead != 0 {
				t.Fatalf("report file = %+v rows %d", r.File, r.RowsRead)
			}
			// The catalogue's code, then where and what.
			prefix := rules.CodeOf(tt.rule) + " " + tt.file + ": "
			if tt.line > 0 {
				prefix = rules.CodeOf(tt.rule) + " " + tt.file + ":" + strconv.Itoa(tt.line) + ": "
			}
			if !strings.HasPrefix(*r.Reason, prefix) || !strings.Contains(*r.Reason, tt.rule+": ") {
				t.Fatalf("reason %q: want prefix %q and rule %s", *r.Reason, prefix, tt.rule)
			}
			if got := st.rawRecords(t); len(got) != 0 {
				t.Fatalf("a rejected file put %d records on raw (read committed)", len(got))
			}
			// The streamed cases wrote rows before the failure: they are in
			// the log, aborted, and invisible to read-committed consumers.
			if hw := highWatermark(t, st.seeds, "esr.raw.v1"); tt.streamed && hw == 0 {
				t.Fatalf("raw high watermark %d; streamed=%v", hw, tt.streamed)
			}
			if b, err := os.ReadFile(filepath.Join(st.archive, tt.tenant, sum)); err != nil || !bytes.Equal(b, tt.data) {
				t.Fatalf("rejected file not archived by hash: %v", err)
			}
			if v := counter(t, svc.metrics, "esrflow_ingest_files_total", "tenant", tt.tenant, "status", "rejected"); v != 1 {
				t.Errorf("rejected files = %v, want 1", v)
			}
			if v := counter(t, svc.metrics, "esrflow_ingest_rejections_total", "tenant", tt.tenant, "rule", tt.rule); v != 1 {
				t.Errorf("rejections{rule=%s} = %v, want 1", tt.rule, v)
			}
		})
	}
}

func TestDuplicateAndSequence(t *testing.T) {
	st := newStack(t)
	st.start(t, st.config(t, "a"))
	sink, res := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 30, Days: 3, Seed: 5})
	full, c3 := res.Files[0], res.Files[3]
	for _, fi := range res.Files {
		waitGone(t, st.drop(t, "RXX", fi.Name, sink.Bytes(fi.Name)))
	}
	rawBefore := st.rawAccounted(t)
	if want := full.Rows + res.Files[1].Rows + res.Files[2].Rows + c3.Rows + 8; rawBefore != want {
		t.Fatalf("raw has %d records, want %d", rawBefore, want)
	}
	// Change file 2 again after 3, with other bytes (a blank line after
	// the trailer): the sequence goes backwards.
	c2 := res.Files[2]
	c2.SHA256 = sha(append(sink.Bytes(c2.Name), '\n'))
	waitGone(t, st.drop(t, "RXX", c2.Name, append(sink.Bytes(c2.Name), '\n')))
	// The full file again: a duplicate.
	waitGone(t, st.drop(t, "RXX", full.Name, sink.Bytes(full.Name)))

	reports := st.reports(t)
	if len(reports) != 2 {
		t.Fatalf("%d reports, want 2: %+v", len(reports), reports)
	}
	wantSeq := "ESR-F016 " + c2.Name + ": sequence: sequence 3 is not after the last accepted sequence 4 for VPD 412 (" + c3.Name + ")"
	if r := reports[0]; r.Status != internalv1.FileStatusRejected || *r.Reason != wantSeq || r.File.Sha256 != c2.SHA256 {
		t.Fatalf("sequence report = %+v reason %q, want %q", r, *r.Reason, wantSeq)
	}
	wantDup := "ESR-F017 " + full.Name + ": duplicate: same content (sha256 " + full.SHA256[:12] + "…) as " + full.Name + " accepted at "
	if r := reports[1]; r.Status != internalv1.FileStatusDuplicate || !strings.HasPrefix(*r.Reason, wantDup) || r.File.Sha256 != full.SHA256 ||
		r.DuplicateOf == nil || r.DuplicateOf.Name != full.Name || r.DuplicateOf.Sha256 != full.SHA256 {
		t.Fatalf("duplicate report = %+v reason %q, want DUPLICATE of %s, reason prefix %q", r, *r.Reason, full.Name, wantDup)
	}
	if got := st.rawAccounted(t); got != rawBefore {
		t.Fatalf("rejected files added %d raw records", got-rawBefore)
	}
}

// TestDuplicateUnderAnotherName: the same bytes under a new (still valid)
// name are the same file: a DUPLICATE report naming the first delivery,
// nothing on raw, no rejection counted.
func TestDuplicateUnderAnotherName(t *testing.T) {
	st := newStack(t)
	svc := st.start(t, st.config(t, "a"))
	sink, res := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 10, Days: 1, Seed: 9})
	full, change := res.Files[0], res.Files[1]
	waitGone(t, st.drop(t, "RXX", full.Name, sink.Bytes(full.Name)))
	waitGone(t, st.drop(t, "RXX", change.Name, sink.Bytes(change.Name)))
	rawBefore := st.rawAccounted(t)
	// The change file's bytes again, named as the next change file would be.
	renamed := strings.Replace(change.Name, "_00000002.DAT", "_00000003.DAT", 1)
	if renamed == change.Name {
		t.Fatalf("cannot rename %s", change.Name)
	}
	waitGone(t, st.drop(t, "RXX", renamed, sink.Bytes(change.Name)))

	reports := st.reports(t)
	if len(reports) != 1 {
		t.Fatalf("%d reports, want 1: %+v", len(reports), reports)
	}
	r := reports[0]
	if r.Status != internalv1.FileStatusDuplicate || r.File.Name != renamed || r.File.Sha256 != change.SHA256 || r.Vpd != "412" ||
		r.DuplicateOf == nil || r.DuplicateOf.Name != change.Name || r.DuplicateOf.Sha256 != change.SHA256 || r.DuplicateOf.AcceptedAt.IsZero() {
		t.Fatalf("report = %+v (duplicate_of %+v), want DUPLICATE of %s", r, r.DuplicateOf, change.Name)
	}
	if got := st.rawAccounted(t); got != rawBefore {
		t.Fatalf("the duplicate added %d raw records", got-rawBefore)
	}
	if v := counter(t, svc.metrics, "esrflow_ingest_files_total", "tenant", "RXX", "status", "duplicate"); v != 1 {
		t.Errorf("duplicates = %v, want 1", v)
	}
	if v := counter(t, svc.metrics, "esrflow_ingest_files_total", "tenant", "RXX", "status", "rejected"); v != 0 {
		t.Errorf("rejected = %v, want 0", v)
	}
}

func TestPartialFilesWaitUntilRenamed(t *testing.T) {
	st := newStack(t)
	st.start(t, st.config(t, "a"))
	sink, res := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 10, Days: 0, Seed: 1})
	fi := res.Files[0]
	dir := filepath.Join(st.dropRoot, "RXX")
	var parts []string
	for _, name := range []string{fi.Name + ".part", fi.Name + ".tmp", fi.Name + ".filepart", "." + fi.Name} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, sink.Bytes(fi.Name), 0o640); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	time.Sleep(300 * time.Millisecond) // ten times the settle period
	for _, p := range parts {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s was touched: %v", filepath.Base(p), err)
		}
	}
	if n := len(st.rawRecords(t)) + len(st.reports(t)); n != 0 {
		t.Fatalf("in-progress files produced %d records", n)
	}
	final := filepath.Join(dir, fi.Name)
	if err := os.Rename(parts[0], final); err != nil {
		t.Fatal(err)
	}
	waitGone(t, final)
	if got := st.rawAccounted(t); got != fi.Rows+2 {
		t.Fatalf("raw has %d records after the rename, want %d", got, fi.Rows+2)
	}
}

func TestFilesOfATenantInSequenceOrder(t *testing.T) {
	st := newStack(t)
	sink, res := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 10, Days: 3, Seed: 2})
	// All four files are waiting when the service starts; it must take them
	// in sequence order whatever the directory order.
	dir := filepath.Join(st.dropRoot, "RXX")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	for i := len(res.Files) - 1; i >= 0; i-- {
		fi := res.Files[i]
		if err := os.WriteFile(filepath.Join(dir, fi.Name), sink.Bytes(fi.Name), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	st.start(t, st.config(t, "a"))
	for _, fi := range res.Files {
		waitGone(t, filepath.Join(dir, fi.Name))
	}
	var seqs []int64
	for _, r := range st.rawRecords(t) {
		if r.Kind == internalv1.RawKindFileStart {
			seqs = append(seqs, r.File.Sequence)
		}
	}
	if fmt.Sprint(seqs) != "[1 2 3 4]" {
		t.Fatalf("files ingested in order %v", seqs)
	}
	if r := st.reports(t); len(r) != 0 {
		t.Fatalf("reports: %+v", r)
	}
}

func TestRestartRestoresLedger(t *testing.T) {
	st := newStack(t)
	sink, res := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 10, Days: 1, Seed: 4})
	full, change := res.Files[0], res.Files[1]
	first := st.start(t, st.config(t, "a"))
	waitGone(t, st.drop(t, "RXX", full.Name, sink.Bytes(full.Name)))
	waitGone(t, st.drop(t, "RXX", change.Name, sink.Bytes(change.Name)))
	first.stop()
	rawAfterFirst := st.rawAccounted(t)

	// A crash between commit and archive leaves the file in the drop folder
	// and no archive copy: the restarted service only archives it.
	archived := filepath.Join(st.archive, "RXX", change.SHA256)
	if err := os.Remove(archived); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(st.dropRoot, "RXX", change.Name), sink.Bytes(change.Name), 0o640); err != nil {
		t.Fatal(err)
	}

	second := st.start(t, st.config(t, "a"))
	waitGone(t, filepath.Join(st.dropRoot, "RXX", change.Name))
	if _, err := os.Stat(archived); err != nil {
		t.Fatalf("not archived after restart: %v", err)
	}
	if r := st.reports(t); len(r) != 0 {
		t.Fatalf("crash recovery wrote reports: %+v", r)
	}
	if v := counter(t, second.metrics, "esrflow_ingest_last_accepted_timestamp_seconds", "tenant", "RXX"); v == 0 {
		t.Error("last accepted timestamp not restored from the ledger")
	}

	// A re-delivery of the full file is a duplicate for the restarted
	// service, and another instance on the same broker agrees.
	waitGone(t, st.drop(t, "RXX", full.Name, sink.Bytes(full.Name)))
	second.stop()
	other := st.start(t, st.config(t, "b"))
	waitGone(t, st.drop(t, "RXX", change.Name, sink.Bytes(change.Name)))
	reports := st.reports(t)
	if len(reports) != 2 {
		t.Fatalf("%d reports, want 2: %+v", len(reports), reports)
	}
	for i, fi := range []gen.FileInfo{full, change} {
		if r := reports[i]; r.File.Sha256 != fi.SHA256 || !strings.Contains(*r.Reason, "duplicate: ") {
			t.Errorf("report %d = %+v (%s)", i, r.File, *r.Reason)
		}
	}
	if got := st.rawAccounted(t); got != rawAfterFirst {
		t.Fatalf("restarts added %d raw records", got-rawAfterFirst)
	}
	if v := counter(t, other.metrics, "esrflow_ingest_files_total", "tenant", "RXX", "status", "duplicate"); v != 1 {
		t.Errorf("other instance found %v duplicates, want 1", v)
	}
}

// show renders a raw record with its counts, for exact comparison.
func show(r internalv1.RawRecord) string {
	counts := "nil"
	if r.Counts != nil {
		counts = fmt.Sprintf("%+v", *r.Counts)
	}
	r.Counts = nil
	return fmt.Sprintf("%+v counts=%s", r, counts)
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func TestConfigValidation(t *testing.T) {
	if _, err := ingest.New(ingest.Config{}, ingest.Deps{}); err == nil {
		t.Fatal("empty config accepted")
	}
}

func TestGOv1FileAccepted(t *testing.T) {
	const name = "GO_412_ASG_20240310_Full_00000052.DAT"
	data, err := os.ReadFile(filepath.Join("..", "..", "esr", "format", "gov1", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	st := newStack(t)
	st.start(t, st.config(t, "a"))
	waitGone(t, st.drop(t, "RXX", name, data))
	got := st.rawRecords(t)
	var kinds []string
	for _, r := range got {
		kinds = append(kinds, string(r.Kind)+":"+r.RecordType)
	}
	if strings.Join(kinds, " ") != "FILE_START: RECORD:PER RECORD:ASG RECORD:PER RECORD:ASG FILE_END:" {
		t.Fatalf("raw = %v", kinds)
	}
	want := internalv1.FileInfo{Name: name, Sha256: sha(data), Dialect: "go-v1", Kind: internalv1.FileKindFull, Sequence: 52,
		RunDate: time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC), Size: int64(len(data))}
	if got[0].File != want || got[0].Vpd != "412" {
		t.Fatalf("file = %+v vpd %s, want %+v", got[0].File, got[0].Vpd, want)
	}
	if c := got[5].Counts; c == nil || c.Lines != 6 || c.Rows != 4 || c.RowsByType["PER"] != 2 || c.RowsByType["ASG"] != 2 {
		t.Fatalf("counts = %+v", c)
	}
	if got[1].Line != 2 || got[1].Fields[0] != "20990417" {
		t.Fatalf("first row line %d fields[0] %q", got[1].Line, got[1].Fields[0])
	}
}

func TestSpecWiresFlags(t *testing.T) {
	st := newStack(t)
	sink, res := generate(t, gen.Config{Tenant: "RYY", VPD: "413", Staff: 10, Days: 0, Seed: 1})
	fi := res.Files[0]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- service.Run(ctx, ingest.Spec(), []string{"-http.addr", "127.0.0.1:0", "-log.level", "error",
			"-kafka.brokers", strings.Join(st.seeds, ","), "-registry.url", st.registryURL, "-instance", "spec",
			"-drop", st.dropRoot, "-archive", st.archive, "-tenants", "RYY=413", "-settle", "20ms", "-interval", "10ms"})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("service.Run: %v", err)
		}
	}()
	// The service makes the tenant's folder at start.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(st.dropRoot, "RYY")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("tenant folder not created")
		}
	}
	waitGone(t, st.drop(t, "RYY", fi.Name, sink.Bytes(fi.Name)))
	if got := st.rawAccounted(t); got != fi.Rows+2 {
		t.Fatalf("raw has %d records, want %d", got, fi.Rows+2)
	}
}

// A feed's run dates never go backwards: a file dated before the last file
// accepted for the tenant and VPD is rejected whole (run-date-backwards),
// whether it is a change file with a later sequence or a full file, and a
// restarted instance knows the last accepted file from the ledger. A file
// whose header run date is not its name's date is rejected too.
func TestRunDatesNeverGoBackwards(t *testing.T) {
	st := newStack(t)
	day := func(d int) time.Time { return time.Date(2024, 4, d, 0, 0, 0, 0, time.UTC) }
	cfg := st.config(t, "a")
	cfg.Now = func() time.Time { return day(20) }
	first := st.start(t, cfg)
	sink, res := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 10, Days: 1, Seed: 4, Start: day(3)})
	waitGone(t, st.drop(t, "RXX", res.Files[0].Name, sink.Bytes(res.Files[0].Name))) // full, 3 April, seq 1
	waitGone(t, st.drop(t, "RXX", res.Files[1].Name, sink.Bytes(res.Files[1].Name))) // change, 4 April, seq 2

	// An older trust's files under later sequences: a full file of 2 April
	// (full files are not held to the sequence) and a change file of 3 April.
	oldSink, old := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 10, Days: 1, Seed: 9, Start: day(2), FirstSeq: 7})
	oldFull, oldChange := old.Files[0], old.Files[1]
	waitGone(t, st.drop(t, "RXX", oldFull.Name, oldSink.Bytes(oldFull.Name)))
	first.stop()
	st.start(t, cfg) // the last accepted file now comes from the ledger
	waitGone(t, st.drop(t, "RXX", oldChange.Name, oldSink.Bytes(oldChange.Name)))

	// The header says 6 April, the name 5 April.
	later, laterRes := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 10, Days: 0, Seed: 3, Start: day(5), FirstSeq: 20})
	name := laterRes.Files[0].Name
	edited := bytes.Replace(later.Bytes(name), []byte("~20240405 000000~01"), []byte("~20240406 000000~01"), 1)
	if bytes.Equal(edited, later.Bytes(name)) {
		t.Fatal("header not edited")
	}
	waitGone(t, st.drop(t, "RXX", name, edited))

	reports := st.reports(t)
	want := []string{
		"ESR-F015 " + oldFull.Name + ":1: HDR column 5 (run_at): run-date-backwards: run date 2024-04-02 is before 2024-04-04, the run date of " +
			res.Files[1].Name + ", the last file accepted for VPD 412",
		"ESR-F015 " + oldChange.Name + ":1: HDR column 5 (run_at): run-date-backwards: run date 2024-04-03 is before 2024-04-04, the run date of " +
			res.Files[1].Name + ", the last file accepted for VPD 412",
		"ESR-F011 " + name + ":1: HDR column 5 (run_at): run-date-name: header run date 2024-04-06 differs from the file name's date 2024-04-05",
	}
	if len(reports) != len(want) {
		t.Fatalf("%d reports, want %d: %+v", len(reports), len(want), reports)
	}
	for i, r := range reports {
		if r.Status != internalv1.FileStatusRejected || r.Reason == nil || *r.Reason != want[i] {
			t.Errorf("report %d: %s %v, want REJECTED %q", i, r.Status, r.Reason, want[i])
		}
	}
	if got, want := st.rawAccounted(t), res.Files[0].Rows+res.Files[1].Rows+4; got != want {
		t.Errorf("raw has %d records, want %d (the two accepted files only)", got, want)
	}
}
