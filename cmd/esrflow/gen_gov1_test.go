package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGenFormatGOv1: esrflow gen --format go-v1 writes GO v1 files (Full,
// then Change) and the truth; a region refuses a format it does not write.
func TestGenFormatGOv1(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--out", dir, "--staff", "50", "--days", "2", "--start", "2024-04-01", "--format", "go-v1", "-q"}
	if err := runGen(context.Background(), args, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	var names []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := "GO_412_ASG_20240401_Full_00000001.DAT GO_412_ASG_20240402_Change_00000002.DAT GO_412_ASG_20240403_Change_00000003.DAT truth.jsonl"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("wrote %s, want %s", got, want)
	}
	b, err := os.ReadFile(filepath.Join(dir, "GO_412_ASG_20240401_Full_00000001.DAT"))
	if err != nil || !strings.HasPrefix(string(b), "HDR,GO_412_ASG_20240401_Full_00000001.DAT\nPER,") {
		t.Fatalf("full file starts %.60q (%v)", b, err)
	}
	err = runGen(context.Background(), []string{"--out", t.TempDir(), "--region", "RXX=412:50,RYY=413:50", "--format", "go-v1", "-q"},
		io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "region") {
		t.Fatalf("region with go-v1: %v, want a refusal", err)
	}
}
