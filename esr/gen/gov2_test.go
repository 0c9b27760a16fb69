package gen

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/format/gov2"
)

// parserRules are the quarantine rules a GO v2 parser can see on its own,
// by catalogue code, with the parser's name for each (esr/format.Rule*,
// the catalogue's name); the others need normalise or validate.
var parserRules = map[string]string{
	RuleColumnCount: "column-count", RuleRecordType: "record-type", RuleDeleteID: "delete-id", RuleDate: "date", RuleTimestamp: "timestamp",
}

// TestGOv2Parser reads every generated file with the pipeline's streaming
// parser: no file-level error, and the rows it flags are exactly the planted
// parser-detectable faults, with the same rule and field.
func TestGOv2Parser(t *testing.T) {
	for _, faults := range []bool{false, true} {
		c := cfgMain
		c.Faults = faults
		c.Days = 6
		g := generate(t, c)
		want := map[string]bool{}
		for _, tl := range g.truth {
			if name, ok := parserRules[tl.Rule]; tl.Kind == KindQuarantine && ok {
				want[tl.File+":"+strconv.Itoa(tl.Line)+" "+tl.RecordType+" "+name+" "+tl.Field] = true
			}
		}
		got := map[string]bool{}
		for _, fi := range g.res.Files {
			run, _ := time.Parse(time.DateOnly, fi.RunDate)
			r, err := gov2.NewReader(fi.Name, bytes.NewReader(g.sink.Bytes(fi.Name)), gov2.Options{
				ExpectedVPDs: []string{c.VPD},
				Now:          func() time.Time { return run.Add(3 * time.Hour) },
			})
			if err != nil {
				t.Fatalf("%s: %v", fi.Name, err)
			}
			rows := 0
			for {
				row, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("%s: file-level error: %v", fi.Name, err)
				}
				rows++
				for _, p := range row.Problems {
					got[fi.Name+":"+strconv.Itoa(row.Line)+" "+row.Type+" "+p.Rule+" "+p.Field] = true
				}
			}
			if rows != fi.Rows {
				t.Errorf("%s: parser returned %d rows, file has %d", fi.Name, rows, fi.Rows)
			}
			if sum := r.Summary(); sum.Records != fi.Lines || sum.TrailerCount != fi.Lines {
				t.Errorf("%s: parser counted %d records (trailer %d), want %d", fi.Name, sum.Records, sum.TrailerCount, fi.Lines)
			}
		}
		for k := range want {
			if !got[k] {
				t.Errorf("faults=%v: planted %s not reported by the parser", faults, k)
			}
		}
		for k := range got {
			if !want[k] {
				t.Errorf("faults=%v: parser reports %s, not a planted fault", faults, k)
			}
		}
	}
}
