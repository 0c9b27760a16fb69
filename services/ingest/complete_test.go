package ingest_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// These tests drive the real ingest service over a real drop folder, kfake
// and the registry: a file is read only when complete, and a feed's files
// in order even when an earlier one is still being written.

// fileMark is a FILE_START or FILE_END record of esr.raw.v1.
type fileMark struct {
	kind internalv1.RawKind
	name string
	seq  int64
	full bool
	rows int64 // FILE_END's row count
	// ignored: FILE_END's rows counted instead of written.
	ignored int64
}

// fileMarks returns the FILE_START and FILE_END records of esr.raw.v1 in
// the order of the tenant's partition, and the number of RECORDs. It keeps
// no row in memory, so a 70 MB file can be checked.
func (s *stack) fileMarks(t *testing.T) (marks []fileMark, records int) {
	t.Helper()
	reader, _, err := schemas.Latest(schemas.Raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range readAll(t, s.seeds, schemas.TopicRaw) {
		var v internalv1.RawRecord
		if _, err := s.serde.Decode(context.Background(), r.Value, reader, &v); err != nil {
			t.Fatal(err)
		}
		if v.Kind == internalv1.RawKindRecord {
			records++
			continue
		}
		m := fileMark{kind: v.Kind, name: v.File.Name, seq: v.File.Sequence, full: v.File.Kind == internalv1.FileKindFull}
		if v.Counts != nil {
			m.rows, m.ignored = v.Counts.Rows, v.Counts.IgnoredRows
		}
		marks = append(marks, m)
	}
	return marks, records
}

// starts returns the names of the FILE_START marks, in order.
func starts(marks []fileMark) []string {
	var out []string
	for _, m := range marks {
		if m.kind == internalv1.RawKindFileStart {
			out = append(out, m.name)
		}
	}
	return out
}

// writeSlowly writes data to path in chunks, pausing between them for
// pause (several settle periods, so a size-and-mtime rule alone would call
// the file complete in every pause). Before each chunk it checks the file
// is still where it was written: ingest moves a file it has read to the
// archive, so a file gone mid-write was read early. It returns the first
// such failure (t.Fatal cannot be called from the writer's goroutine).
// The first pause is firstPause when that is longer: time for a reader
// that took the first chunk for the whole file to read it to its end.
func writeSlowly(path string, data []byte, chunks int, pause, firstPause time.Duration) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	defer f.Close()
	step := (len(data) + chunks - 1) / chunks
	for off := 0; off < len(data); off += step {
		if off > 0 {
			if _, err := os.Stat(path); err != nil {
				return errors.New(filepath.Base(path) + " was taken while still being written: " + err.Error())
			}
		}
		if _, err := f.Write(data[off:min(off+step, len(data))]); err != nil {
			return err
		}
		if off+step < len(data) {
			if off == 0 {
				time.Sleep(max(pause, firstPause))
			} else {
				time.Sleep(pause)
			}
		}
	}
	return f.Close()
}

// waitGoneWithin is waitGone with a longer limit, for big files.
func waitGoneWithin(t *testing.T, path string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not picked up within %s", filepath.Base(path), limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A file written in chunks under its final name, pausing longer than the
// settle period between them and without a trailer until the end, is not
// read until its trailer is written; then it is read exactly once, whole.
func TestSlowlyWrittenFileIsNotReadEarly(t *testing.T) {
	st := newStack(t)
	r := st.start(t, st.config(t, "a")) // settle 30ms, scans every 10ms
	sink, res := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 200, Days: 0, Seed: 11})
	fi := res.Files[0]
	dir := filepath.Join(st.dropRoot, "RXX")
	path := filepath.Join(dir, fi.Name)
	if err := writeSlowly(path, sink.Bytes(fi.Name), 8, 150*time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	waitGone(t, path)
	r.stop()

	if reports := st.reports(t); len(reports) != 0 {
		t.Fatalf("want no file report from ingest (nothing rejected), got %+v", reports)
	}
	marks, records := st.fileMarks(t)
	if got := starts(marks); len(got) != 1 || got[0] != fi.Name {
		t.Fatalf("FILE_STARTs %v, want the file once", got)
	}
	end := marks[len(marks)-1]
	if records+int(end.ignored) != fi.Rows || end.rows != int64(records) {
		t.Fatalf("%d rows read and %d counted (FILE_END says %d and %d), the whole file has %d", records, end.ignored,
			end.rows, end.ignored, fi.Rows)
	}
}

// A file without its trailer that has stopped changing is waited for (a
// copy may only be paused) until --incomplete-after, then rejected
// ESR-F004 missing-trailer, so a truncated delivery is not waited on
// forever.
func TestTrailerlessFileIsRejectedAfterIncompleteAfter(t *testing.T) {
	st := newStack(t)
	sink, res := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 20, Days: 0, Seed: 5})
	fi := res.Files[0]
	data := sink.Bytes(fi.Name)
	cut := strings.LastIndex(strings.TrimSuffix(string(data), "\n"), "\n") + 1 // drop the TRL line
	truncated := data[:cut]

	// With the default --incomplete-after (1h) the file waits.
	waiting := st.start(t, st.config(t, "a"))
	path := st.drop(t, "RXX", fi.Name, truncated)
	time.Sleep(300 * time.Millisecond) // ten settle periods, thirty scans
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("a file without its trailer was taken before --incomplete-after: %v", err)
	}
	waiting.stop()
	if n := len(st.reports(t)); n != 0 {
		t.Fatalf("%d reports for a file still waiting for its trailer", n)
	}

	cfg := st.config(t, "a")
	cfg.IncompleteAfter = 200 * time.Millisecond
	st.start(t, cfg)
	waitGone(t, path)
	reports := st.reports(t)
	if len(reports) != 1 || reports[0].Status != internalv1.FileStatusRejected || reports[0].Reason == nil {
		t.Fatalf("want one REJECTED report, got %+v", reports)
	}
	if reason := *reports[0].Reason; !strings.HasPrefix(reason, "ESR-F004 ") || !strings.Contains(reason, "missing-trailer") {
		t.Fatalf("reason %q, want ESR-F004 missing-trailer", reason)
	}
	if marks, _ := st.fileMarks(t); len(starts(marks)) != 0 {
		t.Fatalf("a rejected file reached esr.raw.v1: %v", starts(marks))
	}
}

// A full file still being uploaded under a temporary name holds back the
// change files after it, even though they arrive complete; renamed, the
// full file is read first and the change files follow in sequence order.
func TestUploadInProgressHoldsBackLaterFilesOfItsFeed(t *testing.T) {
	st := newStack(t)
	r := st.start(t, st.config(t, "a"))
	sink, res := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 30, Days: 2, Seed: 9})
	full, c1, c2 := res.Files[0], res.Files[1], res.Files[2]
	dir := filepath.Join(st.dropRoot, "RXX")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	data := sink.Bytes(full.Name)
	part := filepath.Join(dir, "."+full.Name+".part") // esrflow ingest's own temporary name
	if err := os.WriteFile(part, data[:len(data)/2], 0o640); err != nil {
		t.Fatal(err)
	}
	// The later change file first, so neither arrival nor name order helps.
	p2 := st.drop(t, "RXX", c2.Name, sink.Bytes(c2.Name))
	p1 := st.drop(t, "RXX", c1.Name, sink.Bytes(c1.Name))
	time.Sleep(300 * time.Millisecond) // ten settle periods, thirty scans
	for _, p := range []string{p1, p2} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s was taken while the full file before it was still uploading: %v", filepath.Base(p), err)
		}
	}
	if n := counter(t, r.metrics, "esrflow_ingest_files_waiting", "tenant", "RXX"); n != 3 {
		t.Fatalf("esrflow_ingest_files_waiting %v, want 3 (the upload and the two change files)", n)
	}
	if err := os.WriteFile(part, data, 0o640); err != nil {
		t.Fatal(err)
	}
	final := filepath.Join(dir, full.Name)
	if err := os.Rename(part, final); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{final, p1, p2} {
		waitGone(t, p)
	}
	r.stop()
	if n := counter(t, r.metrics, "esrflow_ingest_files_waiting", "tenant", "RXX"); n != 0 {
		t.Fatalf("esrflow_ingest_files_waiting %v after every file was read, want 0", n)
	}
	marks, _ := st.fileMarks(t)
	want := []string{full.Name, c1.Name, c2.Name}
	if got := starts(marks); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("files read in order %v, want %v", got, want)
	}
	if n := len(st.reports(t)); n != 0 {
		t.Fatalf("%d rejections", n)
	}
}

// The race of issue 11: a 70 MB full file is still being copied (under its
// final name, with pauses longer than the settle period) when the next two
// change files arrive complete. Ingest must read the full file first, as
// the tenant's baseline, then the change files in sequence order.
func TestSeventyMegabyteFullFileIsReadBeforeTheChangeFilesAfterIt(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and ingests a 70 MB file")
	}
	st := newStack(t)
	r := st.start(t, st.config(t, "a"))
	sink, res := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 61_000, Days: 2, Seed: 70})
	full, c1, c2 := res.Files[0], res.Files[1], res.Files[2]
	data := sink.Bytes(full.Name)
	if len(data) < 65<<20 {
		t.Fatalf("full file is %d bytes, want about 70 MB", len(data))
	}
	dir := filepath.Join(st.dropRoot, "RXX")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, full.Name)
	wrote := make(chan error, 1)
	// 5 MB chunks, 100ms apart (more than the settle period), and a
	// second's pause after the first: a reader that trusted the settle
	// period alone would read that first chunk to its end and reject it.
	go func() { wrote <- writeSlowly(path, data, 14, 100*time.Millisecond, time.Second) }()
	// The change files arrive while the full file is being written.
	st.drop(t, "RXX", c2.Name, sink.Bytes(c2.Name))
	st.drop(t, "RXX", c1.Name, sink.Bytes(c1.Name))
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	waitGoneWithin(t, path, time.Minute)
	for _, fi := range []gen.FileInfo{c1, c2} {
		waitGoneWithin(t, filepath.Join(dir, fi.Name), time.Minute)
	}
	r.stop()

	if reports := st.reports(t); len(reports) != 0 {
		t.Fatalf("want no rejection, got %+v", reports)
	}
	marks, records := st.fileMarks(t)
	want := []string{full.Name, c1.Name, c2.Name}
	if got := starts(marks); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("files read in order %v, want %v", got, want)
	}
	if !marks[0].full {
		t.Fatalf("the baseline (first file) is %s, not a full file", marks[0].name)
	}
	ignored := 0
	for _, m := range marks {
		ignored += int(m.ignored)
	}
	if wantRows := full.Rows + c1.Rows + c2.Rows; records+ignored != wantRows {
		t.Fatalf("%d rows on esr.raw.v1 and %d counted on FILE_END, the three files have %d", records, ignored, wantRows)
	}
}
