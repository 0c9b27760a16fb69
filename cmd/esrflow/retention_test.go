package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/observe"
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// The stack hands ArchiveRetention (esrflow up's --archive.retention) to
// ingest: an original archived three days ago is deleted at start under a
// one-day retention, one archived an hour ago is kept.
func TestStackArchiveRetention(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a stack")
	}
	dir := t.TempDir()
	tenants, err := tenant.Parse("RXX=412")
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "archive", "RXX")
	if err := os.MkdirAll(archive, 0o750); err != nil {
		t.Fatal(err)
	}
	old, recent := filepath.Join(archive, strings.Repeat("0a", 32)), filepath.Join(archive, strings.Repeat("0b", 32))
	for path, age := range map[string]time.Duration{old: 72 * time.Hour, recent: time.Hour} {
		if err := os.WriteFile(path, []byte("original"), 0o640); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-age)
		if err := os.Chtimes(path, at, at); err != nil {
			t.Fatal(err)
		}
	}
	cfg := e2eStackConfig(t, dir, tenants)
	cfg.ArchiveRetention = 24 * time.Hour
	startStackConfig(t, cfg)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(old); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the old original was not deleted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("the recent original: %v, want it kept", err)
	}
}

// The stack hands IncompleteAfter (esrflow up's --incomplete-after) to
// ingest: a full file whose trailer never comes is read and rejected once
// it has not changed for that long, not after ingest's default hour.
func TestStackIncompleteAfter(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a stack")
	}
	tr := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 20, Days: 0, Seed: 3})
	name := tr.res.Files[0].Name
	data := tr.sink.Bytes(name)
	cut := bytes.LastIndex(bytes.TrimRight(data, "\r\n"), []byte("\n"))
	if cut < 0 {
		t.Fatal("generated file has one line")
	}
	tenants, err := tenant.Parse("RXX=412")
	if err != nil {
		t.Fatal(err)
	}
	cfg := e2eStackConfig(t, t.TempDir(), tenants)
	cfg.IncompleteAfter = 300 * time.Millisecond
	st := startStackConfig(t, cfg)
	rd, err := observe.NewReader(st.Seeds(), st.RegistryURL())
	if err != nil {
		t.Fatal(err)
	}
	dropFile(t, st.DropDir(), "RXX", name, data[:cut+1]) // no TRL line
	reps := waitReports(t, rd, 1, 30*time.Second)
	if r := reps[0]; r.Status != internalv1.FileStatusRejected || r.Reason == nil || !strings.Contains(*r.Reason, "trailer") {
		t.Fatalf("report %s %v, want REJECTED for the missing trailer", r.Status, r.Reason)
	}
}
