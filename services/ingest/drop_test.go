package ingest_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/services/ingest"
)

// ignoredSeries returns esrflow_ingest_ignored_entries_total as
// "tenant/kind" -> value.
func ignoredSeries(t *testing.T, r *running) map[string]float64 {
	t.Helper()
	mfs, err := r.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "esrflow_ingest_ignored_entries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[label(m, "tenant")+"/"+label(m, "kind")] = m.GetCounter().GetValue()
		}
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

// Symlinks, FIFOs, folders, dot-names and loose files in the drop folder are
// never ingested, and each is reported once (log and metric) however many
// scans meet it; a symlink is never followed, neither a file's nor a tenant
// folder's pointing out of the drop. Uploads in progress are not reported.
func TestOddEntriesReportedOnceNeverFollowed(t *testing.T) {
	st := newStack(t)
	svc := st.start(t, st.config(t, "a"))
	sink, res := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 10, Days: 2, Seed: 4})
	full := res.Files[0]

	// A valid ESR file outside the drop folder, reachable only by symlinks.
	outside := t.TempDir()
	target := filepath.Join(outside, full.Name)
	if err := os.WriteFile(target, sink.Bytes(full.Name), 0o640); err != nil {
		t.Fatal(err)
	}
	rxx := filepath.Join(st.dropRoot, "RXX")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(target, filepath.Join(rxx, full.Name)))
	must(syscall.Mkfifo(filepath.Join(rxx, "GO_412_EXP_GOC_20240409_00000009.DAT"), 0o640))
	must(os.Mkdir(filepath.Join(rxx, "sub"), 0o750))
	must(os.WriteFile(filepath.Join(rxx, ".GO_412_EXP_GOC_20240410_00000010.DAT"), sink.Bytes(full.Name), 0o640))
	must(os.WriteFile(filepath.Join(rxx, ".upload.DAT.part"), []byte("HDR"), 0o640))
	must(os.Symlink(outside, filepath.Join(st.dropRoot, "RYY")))
	must(os.WriteFile(filepath.Join(st.dropRoot, "loose.DAT"), []byte("x"), 0o640))

	// Two real deliveries: each waits for several scans, and the odd
	// entries hold back neither.
	for _, f := range res.Files[1:] {
		waitGone(t, st.drop(t, "RXX", f.Name, sink.Bytes(f.Name)))
	}
	want := map[string]float64{
		"RXX/symlink": 1, "RXX/fifo": 1, "RXX/directory": 1, "RXX/dot-name": 1,
		"/symlink": 1, "/loose-file": 1,
	}
	got := ignoredSeries(t, svc)
	if len(got) != len(want) {
		t.Errorf("ignored entries %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("ignored %s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	// Nothing of the outside file was read or moved; the symlink stays.
	if b, err := os.ReadFile(target); err != nil || !bytes.Equal(b, sink.Bytes(full.Name)) {
		t.Errorf("outside file changed: %v", err)
	}
	if fi, err := os.Lstat(filepath.Join(rxx, full.Name)); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("symlink gone or replaced: %v", err)
	}
	if got, want := st.rawAccounted(t), res.Files[1].Rows+res.Files[2].Rows+4; got != want {
		t.Errorf("raw has %d records, want %d (the two real deliveries only)", got, want)
	}
	if r := st.reports(t); len(r) != 0 {
		t.Errorf("reports for ignored entries: %+v", r)
	}
}

// openDelivered opens regular files of the drop folder only.
func TestOpenDeliveredRefusesLinksAndPipes(t *testing.T) {
	drop, outside := t.TempDir(), t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(outside, "f.DAT"), []byte("x"), 0o640))
	must(os.Mkdir(filepath.Join(drop, "RXX"), 0o750))
	must(os.WriteFile(filepath.Join(drop, "RXX", "ok.DAT"), []byte("x"), 0o640))
	must(os.Symlink(filepath.Join(drop, "RXX", "ok.DAT"), filepath.Join(drop, "RXX", "in.DAT")))
	must(os.Symlink(filepath.Join(outside, "f.DAT"), filepath.Join(drop, "RXX", "out.DAT")))
	must(syscall.Mkfifo(filepath.Join(drop, "RXX", "pipe.DAT"), 0o640))
	must(os.Symlink(outside, filepath.Join(drop, "RYY"))) // a tenant folder pointing out

	f, err := ingest.OpenDelivered(drop, filepath.Join(drop, "RXX", "ok.DAT"))
	if err != nil {
		t.Fatalf("regular file: %v", err)
	}
	f.Close()
	for _, p := range []string{"RXX/in.DAT", "RXX/out.DAT", "RXX/pipe.DAT", "RYY/f.DAT"} {
		f, err := ingest.OpenDelivered(drop, filepath.Join(drop, p))
		if err == nil {
			f.Close()
			t.Errorf("%s opened", p)
		} else if errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v", p, err)
		}
	}
}
