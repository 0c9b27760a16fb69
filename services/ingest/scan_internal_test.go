package ingest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// An empty tenant folder whose time is old enough is not read again while
// its time stays the same; a file arriving changes the time and is seen at
// the next scan; and the folder is read anyway once relistAfter has passed.
func TestEmptyTenantFolderIsReadAgainOnlyWhenItChanges(t *testing.T) {
	root := t.TempDir()
	now := time.Now()
	svc, _ := sweepService(t, filepath.Join(root, "archive"), Retention(0), &now)
	folder := filepath.Join(svc.cfg.Drop, "RXX")
	if err := os.MkdirAll(folder, 0o750); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	age := func(at time.Time) {
		t.Helper()
		if err := os.Chtimes(folder, at, at); err != nil {
			t.Fatal(err)
		}
	}
	scan := func() {
		t.Helper()
		if err := svc.scan(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
	age(old)
	scan()
	if _, ok := svc.quiet["RXX"]; !ok {
		t.Fatal("an empty folder an hour old was not noted as quiet")
	}

	// A file in the folder with the folder's time put back: the scan goes
	// by the time alone and does not read the folder (reading it would find
	// the file and forget the folder was quiet).
	name := "GO_412_EXP_GOC_20240402_00000002.DAT"
	if err := os.WriteFile(filepath.Join(folder, name), []byte("HDR~x\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	age(old)
	scan()
	if _, ok := svc.quiet["RXX"]; !ok {
		t.Fatal("a quiet folder whose time had not changed was read again")
	}

	// The time moves (as creating or renaming a file into it does): read.
	age(time.Now())
	scan()
	if _, ok := svc.quiet["RXX"]; ok {
		t.Fatal("a folder whose time changed was not read again")
	}

	// Emptied and old again, then not read for longer than relistAfter:
	// read whatever its time says.
	if err := os.Remove(filepath.Join(folder, name)); err != nil {
		t.Fatal(err)
	}
	age(old)
	scan()
	q, ok := svc.quiet["RXX"]
	if !ok {
		t.Fatal("the emptied folder was not noted as quiet")
	}
	if err := os.WriteFile(filepath.Join(folder, name), []byte("HDR~x\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	age(old)
	q.listed = time.Now().Add(-relistAfter - time.Second)
	svc.quiet["RXX"] = q
	scan()
	if _, ok := svc.quiet["RXX"]; ok {
		t.Fatalf("a folder last read over %v ago was not read again", relistAfter)
	}
}
