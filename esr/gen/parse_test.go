package gen

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/gov2"
)

// Every generated file passes the GO v2 reader's file-level checks, as
// ingest runs them: in particular its HDR run date is its name's date
// (run-date-name), and the run dates of a trust's files never go backwards
// (ingest's run-date-backwards).
func TestFilesPassTheReadersFileChecks(t *testing.T) {
	g := generate(t, Config{Tenant: "RXX", VPD: "412", Staff: 60, Days: 6, Seed: 5, Faults: true, FullEvery: 3})
	var last time.Time
	for _, f := range g.res.Files {
		rd, err := gov2.NewReader(f.Name, bytes.NewReader(g.sink.Bytes(f.Name)), gov2.Options{FutureTolerance: -1, ExpectedVPDs: []string{"412"}})
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		h := rd.Header()
		if y, m, d := h.RunAt.Date(); y != h.Name.Date.Year() || m != h.Name.Date.Month() || d != h.Name.Date.Day() {
			t.Errorf("%s: header run date %s", f.Name, h.RunAt)
		}
		if h.RunAt.Before(last) {
			t.Errorf("%s: run date %s before the previous file's %s", f.Name, h.RunAt, last)
		}
		last = h.RunAt
		for {
			_, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			var fe *format.FileError
			if errors.As(err, &fe) || err != nil {
				t.Fatalf("%s: %v", f.Name, err)
			}
		}
	}
}
