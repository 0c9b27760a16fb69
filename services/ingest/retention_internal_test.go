package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/esr/tenant"
)

// sweepService builds a service over archive (New does no I/O: the broker
// and registry addresses are never dialled here).
func sweepService(t *testing.T, archive string, keep Retention, now *time.Time) (*Service, *prometheus.Registry) {
	t.Helper()
	tenants, err := tenant.Parse("RXX=412,RYY=413")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	svc, err := New(Config{
		Drop: filepath.Join(filepath.Dir(archive), "drop"), Archive: archive, Tenants: tenants,
		Brokers: []string{"127.0.0.1:1"}, RegistryURL: "http://127.0.0.1:1", InstanceID: "t",
		Retention: keep, SweepInterval: time.Hour, Now: func() time.Time { return *now },
	}, Deps{Log: zaptest.NewLogger(t), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	return svc, reg
}

func shaName(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// plant writes a file aged age before now (by mtime, as archiving sets it).
func plant(t *testing.T, path string, now time.Time, age time.Duration) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	at := now.Add(-age)
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Lstat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

func deletedCount(t *testing.T, reg *prometheus.Registry, tenant string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "esrflow_ingest_archive_deleted_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "tenant" && lp.GetValue() == tenant {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// The sweep deletes exactly the originals archived longer ago than the
// retention, and nothing else: not newer originals, not names that are not
// content hashes, not a symlink or what it points to, not a file under a
// symlinked tenant folder, not anything outside the archive.
func TestSweepArchiveDeletesOnlyOldOriginals(t *testing.T) {
	base := t.TempDir()
	archive := filepath.Join(base, "archive")
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const day = 24 * time.Hour

	oldRXX := filepath.Join(archive, "RXX", shaName("old-rxx"))
	oldRYY := filepath.Join(archive, "RYY", shaName("old-ryy"))
	newRXX := filepath.Join(archive, "RXX", shaName("new-rxx"))
	edge := filepath.Join(archive, "RXX", shaName("edge")) // exactly the retention: kept
	notHash := filepath.Join(archive, "RXX", shaName("tmp")+".tmp")
	plant(t, oldRXX, now, 31*day)
	plant(t, oldRYY, now, 400*day)
	plant(t, newRXX, now, 29*day)
	plant(t, edge, now, 30*day)
	plant(t, notHash, now, 90*day)

	// Outside the archive: an old file with a hash name, reached by a
	// symlink inside a tenant folder and by a symlinked "tenant" folder.
	outsideDir := filepath.Join(base, "outside")
	outside := filepath.Join(outsideDir, shaName("outside"))
	plant(t, outside, now, 90*day)
	link := filepath.Join(archive, "RXX", shaName("link"))
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outsideDir, filepath.Join(archive, "RZZ")); err != nil {
		t.Fatal(err)
	}

	svc, reg := sweepService(t, archive, Retention(30*day), &now)
	n, err := svc.sweepArchive(now)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("deleted %d, want 2", n)
	}
	for _, gone := range []string{oldRXX, oldRYY} {
		if exists(t, gone) {
			t.Errorf("%s kept, want deleted", gone)
		}
	}
	for _, kept := range []string{newRXX, edge, notHash, outside, link, filepath.Join(archive, "RZZ")} {
		if !exists(t, kept) {
			t.Errorf("%s deleted, want kept", kept)
		}
	}
	if got := deletedCount(t, reg, "RXX"); got != 1 {
		t.Errorf("deleted_total{RXX} = %v, want 1", got)
	}
	if got := deletedCount(t, reg, "RYY"); got != 1 {
		t.Errorf("deleted_total{RYY} = %v, want 1", got)
	}

	// Later, by the clock alone, the newer one ages out too.
	later := now.Add(2 * day)
	if n, err := svc.sweepArchive(later); err != nil || n != 2 {
		t.Errorf("second sweep deleted %d (%v), want 2 (new and edge)", n, err)
	}
	if exists(t, newRXX) || exists(t, edge) || !exists(t, outside) || !exists(t, notHash) {
		t.Error("second sweep: want new and edge deleted, the outside file and the .tmp kept")
	}
}

func TestSweepArchiveRetentionZeroKeepsEverything(t *testing.T) {
	archive := filepath.Join(t.TempDir(), "archive")
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	old := filepath.Join(archive, "RXX", shaName("old"))
	plant(t, old, now, 10*365*24*time.Hour)
	svc, reg := sweepService(t, archive, 0, &now)
	svc.maybeSweep()
	if n, err := svc.sweepArchive(now); err != nil || n != 0 {
		t.Errorf("sweep with retention 0 deleted %d (%v)", n, err)
	}
	if !exists(t, old) || deletedCount(t, reg, "RXX") != 0 {
		t.Error("retention 0 deleted an original")
	}
}

// maybeSweep runs at once, then only when the service's clock has moved a
// whole interval on.
func TestMaybeSweepFollowsTheClock(t *testing.T) {
	archive := filepath.Join(t.TempDir(), "archive")
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const day = 24 * time.Hour
	svc, _ := sweepService(t, archive, Retention(day), &now)
	first := filepath.Join(archive, "RXX", shaName("first"))
	plant(t, first, now, 2*day)
	svc.maybeSweep()
	if exists(t, first) {
		t.Fatal("the sweep at start did not delete an old original")
	}
	second := filepath.Join(archive, "RXX", shaName("second"))
	plant(t, second, now, 2*day)
	now = now.Add(30 * time.Minute)
	svc.maybeSweep()
	if !exists(t, second) {
		t.Fatal("swept again before the interval")
	}
	now = now.Add(30 * time.Minute)
	svc.maybeSweep()
	if exists(t, second) {
		t.Fatal("not swept once the interval had passed")
	}
}

func TestRetentionFlag(t *testing.T) {
	for in, want := range map[string]time.Duration{"0": 0, "30d": 30 * 24 * time.Hour, "720h": 720 * time.Hour, "1d": 24 * time.Hour, "90m": 90 * time.Minute} {
		var r Retention
		if err := r.Set(in); err != nil || time.Duration(r) != want {
			t.Errorf("Set(%q) = %v, %v; want %v", in, time.Duration(r), err, want)
		}
	}
	for _, in := range []string{"", "d", "-1d", "1.5d", "-1h", "thirty"} {
		var r Retention
		if err := r.Set(in); err == nil {
			t.Errorf("Set(%q) accepted", in)
		}
	}
	if got := Retention(30 * 24 * time.Hour).String(); got != "30d" {
		t.Errorf("String = %q, want 30d", got)
	}
	// As a flag: the default prints 0, and days parse.
	var c Config
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if d := fs.Lookup("archive.retention").DefValue; d != "0" {
		t.Errorf("default %q, want 0", d)
	}
	if err := fs.Parse([]string{"-archive.retention", "7d"}); err != nil || time.Duration(c.Retention) != 7*24*time.Hour {
		t.Errorf("-archive.retention 7d: %v, %v", time.Duration(c.Retention), err)
	}
}
