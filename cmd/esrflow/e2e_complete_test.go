package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/observe"
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// The full-file race of issue 11, end to end: the trust's full file is
// still being copied into the drop folder (under its final name, pausing
// far longer than the settle period, no trailer until the end) when its
// change files arrive complete. The pipeline must take the full file as
// the baseline and the change files after it, so the events equal the
// generator's truth exactly (a change file taken as the baseline gives
// other events, as issue 11 saw: 59,054 instead of 5,266).
func TestEndToEndFullFileStillBeingCopied(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	tr := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 400, Days: 4, Seed: 23})
	st := startStack(t, t.TempDir())
	rd, err := observe.NewReader(st.Seeds(), st.RegistryURL())
	if err != nil {
		t.Fatal(err)
	}
	full := tr.res.Files[0]
	dir := filepath.Join(st.DropDir(), "RXX")
	path := filepath.Join(dir, full.Name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	data := tr.sink.Bytes(full.Name)
	half := len(data) / 2
	if _, err := f.Write(data[:half]); err != nil {
		t.Fatal(err)
	}
	// The change files arrive, newest first, while the full file is half
	// written.
	for i := len(tr.res.Files) - 1; i >= 1; i-- {
		fi := tr.res.Files[i]
		dropFile(t, st.DropDir(), "RXX", fi.Name, tr.sink.Bytes(fi.Name))
	}
	time.Sleep(time.Second) // fifty settle periods: a settle-only reader takes half a file here
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the half-written full file was taken: %v", err)
	}
	if _, err := f.Write(data[half:]); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	reps := waitReports(t, rd, len(tr.res.Files), 3*time.Minute)
	for i, r := range reps {
		if r.Status != internalv1.FileStatusAccepted || r.File.Name != tr.res.Files[i].Name {
			t.Fatalf("report %d: %s %s, want %s ACCEPTED (files in sequence order, the full file first)", i, r.File.Name, r.Status, tr.res.Files[i].Name)
		}
	}
	events, err := rd.Events(context.Background(), "RXX")
	if err != nil {
		t.Fatal(err)
	}
	published, _ := tr.expectedEvents()
	compareEvents(t, events, published)
	t.Logf("%d files, %d events published as the truth has them", len(reps), len(events))
}
