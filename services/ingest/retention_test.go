package ingest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/services/ingest"
)

// A running ingest with a retention sweeps the archive at start, and a file
// it archives is dated by its archiving, not by its upload: an original
// delivered with an old mtime is not swept away at once.
func TestRetentionOnARunningIngest(t *testing.T) {
	st := newStack(t)
	stale := filepath.Join(st.archive, "RXX", strings.Repeat("ab", 32))
	if err := os.MkdirAll(filepath.Dir(stale), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte("old original"), 0o640); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-72 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}

	cfg := st.config(t, "a")
	cfg.Retention = ingest.Retention(24 * time.Hour)
	started := time.Now()
	svc := st.start(t, cfg)
	waitGone(t, stale)
	if got := counter(t, svc.metrics, "esrflow_ingest_archive_deleted_total", "tenant", "RXX"); got != 1 {
		t.Errorf("archive_deleted_total{RXX} = %v, want 1", got)
	}

	sink, res := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 10, Days: 0, Seed: 3})
	fi := res.Files[0]
	path := filepath.Join(st.dropDir(), "RXX", fi.Name)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".part", sink.Bytes(fi.Name), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path+".part", old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".part", path); err != nil {
		t.Fatal(err)
	}
	waitGone(t, path)
	info, err := os.Stat(filepath.Join(st.archive, "RXX", fi.SHA256))
	if err != nil {
		t.Fatal(err)
	}
	if info.ModTime().Before(started.Add(-time.Second)) {
		t.Errorf("archived copy dated %v, before the service started (%v): archiving must set its time", info.ModTime(), started)
	}
}
