package gen

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/esrflow/esrflow/esr/format/csvfeed"
	"github.com/esrflow/esrflow/esr/tenant"
)

func genTruth(t *testing.T, cfg Config) (*MemSink, Result, []TruthLine) {
	t.Helper()
	sink := &MemSink{}
	res, err := Generate(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := ReadTruth(bytes.NewReader(sink.Bytes(TruthFile)))
	if err != nil {
		t.Fatal(err)
	}
	return sink, res, truth
}

// truthByDay renders a truth's events and withdrawn lines without file and
// line, each under its file's run date, sorted.
func truthByDay(truth []TruthLine) []string {
	run := map[string]string{}
	var out []string
	for _, l := range truth {
		switch l.Kind {
		case KindFile:
			run[l.File] = l.RunDate
		case KindEvent, KindWithdrawn:
			day := run[l.File]
			l.File, l.Line = "", 0
			b, _ := json.Marshal(l)
			out = append(out, day+" "+string(b))
		}
	}
	slices.Sort(out)
	return out
}

// TestCSVTruthIsTheGOTruth: the CSV form of a trust has the GO history's
// truth, event for event, on the same days; only files and lines differ.
func TestCSVTruthIsTheGOTruth(t *testing.T) {
	cfg := Config{Tenant: "RXX", VPD: "412", Staff: 600, Days: 12, Seed: 7}
	_, _, goTruth := genTruth(t, cfg)
	cfg.Format = FormatCSV
	_, res, csvTruth := genTruth(t, cfg)
	g, c := truthByDay(goTruth), truthByDay(csvTruth)
	if len(g) < 50 {
		t.Fatalf("only %d events: the comparison says little", len(g))
	}
	if !slices.Equal(g, c) {
		for i := 0; i < min(len(g), len(c)); i++ {
			if g[i] != c[i] {
				t.Fatalf("truths differ (%d GO lines, %d CSV lines); first difference:\nGO:  %s\nCSV: %s", len(g), len(c), g[i], c[i])
			}
		}
		t.Fatalf("truths differ: %d GO lines, %d CSV lines", len(g), len(c))
	}
	if len(res.Files) != cfg.Days+1 || res.Files[0].Name != "STAFF_412_20240401.csv" || res.Files[0].Type != FileTypeCSV {
		t.Fatalf("files = %+v", res.Files)
	}
}

// TestCSVListsReadBack reads every list through the mapping CSVList
// returns, as ingest does: no problems, each file's rows as the truth
// counts them, and every truth line on a row of its person (and of its
// assignment, when it names one).
func TestCSVListsReadBack(t *testing.T) {
	sink, res, truth := genTruth(t, Config{Tenant: "RXX", VPD: "412", Staff: 300, Days: 6, Seed: 3, Format: FormatCSV})
	set, err := tenant.New(tenant.Tenant{Code: "RXX", VPDs: []string{"412"}, Feeds: tenant.Feeds{CSV: tenant.CSVFeed{Lists: []tenant.CSVList{CSVList()}}}})
	if err != nil {
		t.Fatal(err)
	}
	rxx, _ := set.Get("RXX")
	type row struct{ person, number string }
	rows := map[string]map[int]row{}
	for _, f := range res.Files {
		m, ok, err := rxx.MatchCSV(f.Name)
		if !ok || err != nil || m.VPD != "412" || m.RunDate.Format("2006-01-02") != f.RunDate {
			t.Fatalf("%s: match %+v %v %v", f.Name, m, ok, err)
		}
		rd, err := csvfeed.NewReader(f.Name, bytes.NewReader(sink.Bytes(f.Name)), m.List.Feed(), csvfeed.Options{ExpectedVPDs: []string{"412"}})
		if err != nil {
			t.Fatal(err)
		}
		rows[f.Name] = map[int]row{}
		people := map[string]bool{}
		n := 0
		for {
			r, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Problems) > 0 {
				t.Fatalf("%s:%d: %v", f.Name, r.Line, r.Problems[0])
			}
			v, err := m.List.Feed().Decode(r)
			if err != nil {
				t.Fatal(err)
			}
			pid := v["employee_number"].(string)
			if !people[pid] {
				people[pid] = true
				n++
			}
			n++
			rows[f.Name][r.Line] = row{person: r.Field(0), number: v["assignment_number"].(string)}
			if s := v["assignment_status"].(string); m.List.Value("assignment_status", s) == s {
				t.Fatalf("%s:%d: status word %q has no mapping", f.Name, r.Line, s)
			}
		}
		if n != f.Rows || rd.Summary().Lines != f.Lines {
			t.Errorf("%s: %d raw records, %d lines; truth says %d, %d", f.Name, n, rd.Summary().Lines, f.Rows, f.Lines)
		}
	}
	events := 0
	for _, l := range truth {
		if l.Kind != KindEvent && l.Kind != KindWithdrawn {
			continue
		}
		events++
		r, ok := rows[l.File][l.Line]
		if !ok || r.person != l.PersonID || (l.AssignmentNumber != "" && r.number != l.AssignmentNumber) {
			t.Errorf("%s:%d holds %+v, truth line is about %s/%s", l.File, l.Line, r, l.PersonID, l.AssignmentNumber)
		}
	}
	if events < 20 {
		t.Fatalf("only %d events", events)
	}
}

func TestCSVRefusesGOOptions(t *testing.T) {
	for _, cfg := range []Config{
		{Tenant: "RXX", VPD: "412", Staff: 10, Days: 2, Format: FormatCSV, Faults: true},
		{Tenant: "RXX", VPD: "412", Staff: 10, Days: 2, Format: FormatCSV, FullEvery: 2},
	} {
		if _, err := Generate(cfg, DiscardSink{}); err == nil || !strings.Contains(err.Error(), "GO options") {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}

// TestCSVTenantsFile: the tenants file written beside a CSV-form trust
// loads, and its list is CSVList.
func TestCSVTenantsFile(t *testing.T) {
	sink, _, _ := genTruth(t, Config{Tenant: "RYY", VPD: "0413", Staff: 20, Days: 1, Format: FormatCSV})
	path := t.TempDir() + "/" + CSVTenantsFile
	if err := os.WriteFile(path, sink.Bytes(CSVTenantsFile), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := tenant.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ryy, ok := set.Get("RYY")
	if !ok || len(ryy.VPDs) != 1 || ryy.VPDs[0] != "0413" || len(ryy.Feeds.CSV.Lists) != 1 || ryy.Missing("csv:staff-list") != tenant.MissingLeave {
		t.Fatalf("tenant = %+v", ryy)
	}
	got, want := ryy.Feeds.CSV.Lists[0], CSVList()
	if !reflect.DeepEqual(got.Config, want.Config) || !reflect.DeepEqual(got.Values, want.Values) {
		t.Fatalf("list = %+v\nwant %+v", got, want)
	}
	if _, ok, err := ryy.MatchCSV(CSVListName("0413", "20240401")); !ok || err != nil {
		t.Fatalf("the list's names do not match its pattern: %v %v", ok, err)
	}
}
