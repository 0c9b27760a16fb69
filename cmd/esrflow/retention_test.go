package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/tenant"
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
