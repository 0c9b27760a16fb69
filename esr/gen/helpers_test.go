package gen

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Column counts from ESR-FORMATS §2.3, including the record-type column.
var wantCols = map[string]int{
	"HDR": 7, "LCA": 22, "ORA": 15, "POA": 24, "PRA": 44, "ASA": 50,
	"PHA": 8, "ADA": 16, "VHA": 15, "COA": 16, "TRL": 2,
	"LCD": 2, "ORD": 2, "POD": 2, "PRD": 2, "ASD": 2, "PHD": 2, "ADD": 2, "VHD": 2, "COD": 2,
}

func isDelete(t string) bool { return len(t) == 3 && t[2] == 'D' && wantCols[t] == 2 }

// colRules says, per record type, which columns hold dates, timestamps and
// required values; it is the test's own reading of ESR-FORMATS §2.4.
type colRules struct{ dates, stamps, required []int }

var rulesByType = map[string]colRules{
	"LCA": {[]int{4}, []int{21}, []int{1}},
	"ORA": {[]int{4, 5, 7, 8}, []int{13}, []int{1}},
	"POA": {[]int{2, 3}, []int{22}, []int{1, 4}},
	"PRA": {[]int{2, 3, 13, 16, 17, 36}, []int{38}, []int{1, 4}},
	"ASA": {[]int{3, 4, 5, 32, 38, 40, 45, 48}, []int{44}, []int{1, 2, 7, 28}},
	"PHA": {[]int{5, 6}, []int{7}, []int{1, 2}},
	"ADA": {[]int{13, 14}, []int{15}, []int{1, 2}},
	"COA": {[]int{4, 5}, []int{15}, []int{1, 2, 3}},
}

var fieldNames = map[string]map[int]string{
	"PHA": {1: "person_id", 2: "phone_id", 5: "effective_start", 6: "effective_end", 7: "last_update"},
	"ADA": {1: "person_id", 2: "address_id", 13: "effective_start", 14: "effective_end", 15: "last_update"},
	"ASA": {1: "person_id", 2: "assignment_id", 7: "assignment_number", 28: "position_id", 44: "last_update"},
}

func validDate(s string) bool {
	if len(s) != 8 {
		return false
	}
	t, err := time.Parse("20060102", s)
	return err == nil && t.Format("20060102") == s
}

func validStamp(s string) bool {
	if len(s) != 15 {
		return false
	}
	t, err := time.Parse("20060102 150405", s)
	return err == nil && t.Format("20060102 150405") == s
}

func numeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

type problem struct{ rule, field string }

// requiredRule is the catalogue code of an empty required value, per record
// type: rows of dropped segments (phones, addresses, costings) need their
// key (ESR-R007), entities their required values (ESR-R010..R014).
var requiredRule = map[string]string{
	"PRA": "ESR-R010", "ASA": RuleAsgRequired, "POA": "ESR-R012", "ORA": "ESR-R013", "LCA": "ESR-R014",
	"PHA": RuleRowKey, "ADA": RuleRowKey, "COA": RuleRowKey,
}

// independentRules are the rules checkRow implements; the other planted
// faults are checked through the pipeline's own rules (cmd/esrflow
// faults_offline_test.go).
var independentRules = map[string]bool{
	RuleColumnCount: true, RuleRecordType: true, RuleDeleteID: true, RuleDate: true, RuleTimestamp: true,
	RuleRowKey: true, RuleAsgRequired: true, RuleAsgPerson: true, RuleAsgPosition: true,
}

// known is the test's reading of validate's known sets (docs/normalise-
// validate.md): the persons and positions defined by accepted rows of this
// file or an earlier one, forgotten on PRD/POD. Generated tenants use the GO
// feed default (missing: ignore), under which a full file does not clear
// them: the people a truncated full file omits stay known, as publish keeps
// them.
type known struct{ persons, positions map[string]bool }

func newKnown() *known { return &known{persons: map[string]bool{}, positions: map[string]bool{}} }

// check returns the rules row f breaks and, when it breaks none, learns or
// forgets what it defines or deletes.
func (k *known) check(f []string) []problem {
	ps := checkRow(f, k)
	if len(ps) > 0 {
		return ps
	}
	switch f[0] {
	case "PRA":
		k.persons[f[1]] = true
	case "POA":
		k.positions[f[1]] = true
	case "PRD":
		delete(k.persons, f[1])
	case "POD":
		delete(k.positions, f[1])
	}
	return nil
}

// checkRow is a small independent validator for the rules --faults plants;
// the reference rule reads k.
func checkRow(f []string, k *known) []problem {
	t := f[0]
	want, known := wantCols[t]
	if !known {
		return []problem{{RuleRecordType, ""}}
	}
	if isDelete(t) {
		if len(f) != 2 {
			return []problem{{RuleColumnCount, ""}}
		}
		if !numeric(f[1]) {
			return []problem{{RuleDeleteID, "id"}}
		}
		return nil
	}
	if len(f) != want {
		return []problem{{RuleColumnCount, ""}}
	}
	r := rulesByType[t]
	var out []problem
	name := func(i int) string { return fieldNames[t][i] }
	for _, i := range r.dates {
		if f[i] != "" && !validDate(f[i]) {
			out = append(out, problem{RuleDate, name(i)})
		}
	}
	for _, i := range r.stamps {
		if f[i] != "" && !validStamp(f[i]) {
			out = append(out, problem{RuleTimestamp, name(i)})
		}
	}
	if len(out) > 0 {
		return out // a row that does not parse is not validated
	}
	for _, i := range r.required {
		if f[i] == "" {
			out = append(out, problem{requiredRule[t], name(i)})
		}
	}
	if len(out) > 0 {
		return out // cross-record rules judge only rows that pass the record rules
	}
	if t == "ASA" && f[1] != "" && !k.persons[f[1]] {
		out = append(out, problem{RuleAsgPerson, "person_id"})
	}
	if t == "ASA" && f[28] != "" && !k.positions[f[28]] {
		out = append(out, problem{RuleAsgPosition, "position_id"})
	}
	return out
}

// pfile is a generated file split into rows with a plain strings.Split,
// deliberately not using the generator's or the pipeline's code.
type pfile struct {
	name string
	raw  []byte
	rows [][]string // rows[i] is line i+1
}

func (p *pfile) row(line int) []string {
	if line < 1 || line > len(p.rows) {
		return nil
	}
	return p.rows[line-1]
}

func splitFile(name string, raw []byte) pfile {
	text := string(raw)
	if !strings.HasSuffix(text, "\n") {
		panic(name + ": no final newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	pf := pfile{name: name, raw: raw, rows: make([][]string, len(lines))}
	for i, l := range lines {
		pf.rows[i] = strings.Split(l, "~")
	}
	return pf
}

type generated struct {
	cfg   Config
	res   Result
	sink  *MemSink
	files []pfile
	truth []TruthLine
}

func generate(t testing.TB, cfg Config) *generated {
	t.Helper()
	sink := &MemSink{}
	res, err := Generate(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	g := &generated{cfg: cfg, res: res, sink: sink}
	for _, fi := range res.Files {
		g.files = append(g.files, splitFile(fi.Name, sink.Bytes(fi.Path)))
	}
	g.truth, err = ReadTruth(bytes.NewReader(sink.Bytes(TruthFile)))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func (g *generated) file(name string) *pfile {
	for i := range g.files {
		if g.files[i].name == name {
			return &g.files[i]
		}
	}
	return nil
}

func runDate(p *pfile) string { return p.rows[0][5][:8] }

func iso(compact string) string {
	if compact == "" {
		return ""
	}
	return compact[:4] + "-" + compact[4:6] + "-" + compact[6:]
}

func daysBetween(a, b string) int { // b - a, both YYYYMMDD
	ta, _ := time.Parse("20060102", a)
	tb, _ := time.Parse("20060102", b)
	return int(tb.Sub(ta).Hours() / 24)
}

var (
	cfgSmall = Config{Tenant: "RXX", VPD: "412", Staff: 400, Days: 8, Seed: 11, Faults: true}
	cfgMain  = Config{Tenant: "RXX", VPD: "412", Staff: 2000, Days: 10, Seed: 1}
)

func readFile(dir, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
}
