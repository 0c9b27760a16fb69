package gen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/gov1"
)

var cfgV1 = Config{Tenant: "RXX", VPD: "412", Staff: 600, Days: 9, Seed: 7, FullEvery: 4, Format: FormatGOv1}

// v1Rows reads a generated GO v1 file with the pipeline's parser and
// decodes every row: no file-level error, no row problem.
func v1Rows(t *testing.T, fi FileInfo, data []byte, vpd string) []gov1.Record {
	t.Helper()
	run, _ := time.Parse(time.DateOnly, fi.RunDate)
	r, err := gov1.NewReader(fi.Name, bytes.NewReader(data), gov1.Options{
		ExpectedVPDs: []string{vpd},
		Now:          func() time.Time { return run.Add(3 * time.Hour) },
	})
	if err != nil {
		t.Fatalf("%s: %v", fi.Name, err)
	}
	var out []gov1.Record
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: file-level error: %v", fi.Name, err)
		}
		for _, p := range row.Problems {
			t.Errorf("%s:%d %s: %s %s", fi.Name, row.Line, row.Type, p.Rule, p.Field)
		}
		rec, err := gov1.Decode(row)
		if err != nil {
			t.Fatalf("%s:%d: %v", fi.Name, row.Line, err)
		}
		out = append(out, rec)
	}
	if s := r.Summary(); s.Rows != fi.Rows || s.TrailerCount != fi.Rows {
		t.Errorf("%s: parser read %d rows (FTR %d), generator says %d", fi.Name, s.Rows, s.TrailerCount, fi.Rows)
	}
	return out
}

// TestGOv1Parser reads every generated GO v1 file with esr/format/gov1:
// names, header, footer count and every row are clean; every ASG follows a
// PER whose employee number is its assignment number's stem; full files
// say Full and change files Change.
func TestGOv1Parser(t *testing.T) {
	g := generate(t, cfgV1)
	if len(g.res.Files) != cfgV1.Days+1 {
		t.Fatalf("%d files, want %d", len(g.res.Files), cfgV1.Days+1)
	}
	for i, fi := range g.res.Files {
		fn, err := format.ParseFileName(fi.Name)
		if err != nil || fn.Dialect != format.DialectGOv1 || fn.VPD != "412" || fn.Sequence != int64(i+1) {
			t.Fatalf("%s: parsed as %+v, %v", fi.Name, fn, err)
		}
		wantFull := i == 0 || i%cfgV1.FullEvery == 0
		if (fn.Kind == format.ExtractFull) != wantFull || (fi.Type == "GOF") != wantFull {
			t.Errorf("%s: kind %s / %s, want full=%v", fi.Name, fn.Kind, fi.Type, wantFull)
		}
		data := g.sink.Bytes(fi.Path)
		if n := bytes.Count(data, []byte("\n")); n != fi.Lines {
			t.Errorf("%s: %d lines, generator says %d", fi.Name, n, fi.Lines)
		}
		recs := v1Rows(t, fi, data, "412")
		var per *gov1.PersonRow
		pers := 0
		for _, rec := range recs {
			switch r := rec.(type) {
			case gov1.PersonRow:
				per = &r
				pers++
			case gov1.AssignmentRow:
				stem, _, _ := strings.Cut(r.AssignmentNumber, "-")
				if per == nil || stem != per.EmployeeNumber {
					t.Fatalf("%s:%d: ASG %s does not follow its PER", fi.Name, r.Line, r.AssignmentNumber)
				}
			}
		}
		if i == 0 && pers < cfgV1.Staff*9/10 {
			t.Errorf("full file has %d people, want about %d", pers, cfgV1.Staff)
		}
	}
}

// TestGOv1Deterministic: the same Config writes byte-identical v1 files
// and truth.
func TestGOv1Deterministic(t *testing.T) {
	a, b := &MemSink{}, &MemSink{}
	c := cfgV1
	c.Days = 4
	if _, err := Generate(c, a); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(c, b); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(a.Names()) != fmt.Sprint(b.Names()) {
		t.Fatalf("names differ: %v vs %v", a.Names(), b.Names())
	}
	for _, n := range a.Names() {
		if !bytes.Equal(a.Bytes(n), b.Bytes(n)) {
			t.Errorf("%s differs between two runs", n)
		}
	}
}

// TestGOv1SameTruth: a trust written as GO v1 has the events of the same
// trust written as GO v2, adjusted only where v1 cannot carry a value: no
// leaving reason or last working day on leavers, and an attribute change
// dated on the run date of its file. File names and lines are v1's.
func TestGOv1SameTruth(t *testing.T) {
	c := cfgV1
	v1 := generate(t, c)
	c.Format = FormatGOv2
	v2 := generate(t, c)
	runOf := map[string]string{}
	for _, fi := range v1.res.Files {
		runOf[fi.Name] = fi.RunDate
	}
	key := func(l TruthLine, v1 bool) string {
		if !v1 {
			l.LeavingReason, l.LastWorkingDay = "", ""
		}
		return strings.Join([]string{l.Kind, l.Type, l.PersonID, l.EmployeeNumber, l.AssignmentNumber, l.Change,
			fmt.Sprint(l.Scheduled, l.Rehire, l.DaysLate), l.Due, l.LeavingReason, l.LastWorkingDay}, " ")
	}
	type ev struct{ eff, run string }
	count := func(g *generated, isV1 bool) map[string][]ev {
		m := map[string][]ev{}
		for _, l := range g.truth {
			if l.Kind == KindEvent || l.Kind == KindWithdrawn {
				k := key(l, isV1)
				m[k] = append(m[k], ev{l.EffectiveDate, l.File})
			}
		}
		return m
	}
	m1, m2 := count(v1, true), count(v2, false)
	n := 0
	for k, es := range m2 {
		got := m1[k]
		if len(got) != len(es) {
			t.Errorf("%s: %d in v1, %d in v2", k, len(got), len(es))
			continue
		}
		for i := range es {
			want := es[i].eff
			if strings.Contains(k, ChangeAttributes) {
				want = runOf[got[i].run]
			}
			if got[i].eff != want {
				t.Errorf("%s: effective %s in v1, want %s", k, got[i].eff, want)
			}
			n++
		}
	}
	for k := range m1 {
		if _, ok := m2[k]; !ok {
			t.Errorf("%s: only in v1", k)
		}
	}
	if n < 100 {
		t.Fatalf("only %d events compared", n)
	}
	for _, l := range v1.truth {
		if l.Kind == KindEvent && l.Type == TypeLeaver && (l.LeavingReason != "" || l.LastWorkingDay != "") {
			t.Fatalf("v1 leaver with a reason or last working day: %+v", l)
		}
	}
}

// TestGOv1TruthLines: every v1 event's line is the row that carries it: a
// leaver's PER (or the ending ASG), a starter's or position change's ASG
// with the truth's assignment number, in the group of the truth's person.
func TestGOv1TruthLines(t *testing.T) {
	g := generate(t, cfgV1)
	type at struct {
		typ, asgNo, personID string
	}
	rows := map[string]at{}
	for _, fi := range g.res.Files {
		var pid string
		for _, rec := range v1Rows(t, fi, g.sink.Bytes(fi.Path), "412") {
			switch r := rec.(type) {
			case gov1.PersonRow:
				pid = fmt.Sprint(r.PersonID)
				rows[fmt.Sprintf("%s:%d", fi.Name, r.Line)] = at{"PER", "", pid}
			case gov1.AssignmentRow:
				rows[fmt.Sprintf("%s:%d", fi.Name, r.Line)] = at{"ASG", r.AssignmentNumber, pid}
			}
		}
	}
	n := 0
	for _, l := range g.truth {
		if l.Kind != KindEvent {
			continue
		}
		r, ok := rows[fmt.Sprintf("%s:%d", l.File, l.Line)]
		if !ok || r.personID != l.PersonID {
			t.Fatalf("%s:%d %s: line is %+v, not a row of person %s", l.File, l.Line, l.Type, r, l.PersonID)
		}
		if l.Type != TypeLeaver && (r.typ != "ASG" || r.asgNo != l.AssignmentNumber) {
			t.Errorf("%s:%d %s: line is %+v, want the ASG of %s", l.File, l.Line, l.Type, r, l.AssignmentNumber)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no events")
	}
}

func TestGOv1RefusesFaults(t *testing.T) {
	c := cfgV1
	c.Faults = true
	if _, err := Generate(c, &MemSink{}); err == nil || !strings.Contains(err.Error(), "faults") {
		t.Fatalf("go-v1 with faults: %v, want a refusal", err)
	}
}
