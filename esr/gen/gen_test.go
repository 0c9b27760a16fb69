package gen

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/rules"
)

func digest(g *generated) map[string]string {
	out := map[string]string{}
	for _, n := range g.sink.Names() {
		s := sha256.Sum256(g.sink.Bytes(n))
		out[n] = hex.EncodeToString(s[:])
	}
	return out
}

func TestDeterministic(t *testing.T) {
	a := digest(generate(t, cfgSmall))
	b := digest(generate(t, cfgSmall))
	if len(a) != cfgSmall.Days+2 {
		t.Fatalf("got %d outputs, want %d files + truth", len(a), cfgSmall.Days+1)
	}
	for n, h := range a {
		if b[n] != h {
			t.Errorf("%s differs between two runs with the same config", n)
		}
	}
	other := cfgSmall
	other.Seed++
	c := digest(generate(t, other))
	same := 0
	for n, h := range a {
		if c[n] == h {
			same++
		}
	}
	if same > 0 {
		t.Errorf("%d outputs identical for a different seed", same)
	}

	// The directory sink writes the same bytes as the in-memory one.
	dir := t.TempDir()
	if _, err := Generate(cfgSmall, DirSink(dir)); err != nil {
		t.Fatal(err)
	}
	for n, h := range a {
		raw, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if s := sha256.Sum256(raw); hex.EncodeToString(s[:]) != h {
			t.Errorf("%s: DirSink output differs from MemSink", n)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{Tenant: "rxx", VPD: "412", Staff: 10},
		{Tenant: "RXX", VPD: "41", Staff: 10},
		{Tenant: "RXX", VPD: "412", Staff: 0},
		{Tenant: "RXX", VPD: "412", Staff: 10, Days: -1},
		{Tenant: "RXX", VPD: "412", Staff: 10, FirstSeq: 99_999_999, Days: 2},
	} {
		if _, err := Generate(c, DiscardSink{}); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

// Tiny trusts and zero days must still produce consistent files.
func TestTinyTrusts(t *testing.T) {
	for _, c := range []Config{
		{Tenant: "RXX", VPD: "412", Staff: 1, Days: 3, Seed: 1, Faults: true},
		{Tenant: "RXX", VPD: "412", Staff: 5, Days: 0, Seed: 2},
		{Tenant: "R1A", VPD: "0234", Staff: 30, Days: 20, Seed: 3, Faults: true, FirstSeq: 347},
	} {
		g := generate(t, c)
		checkFiles(t, g)
		checkTruthRows(t, g)
		checkReference(t, g)
	}
}

var nameRe = regexp.MustCompile(`^GO_(\d{3,4})_EXP_GO([FC])_(\d{8})_(\d{8})\.DAT$`)

func TestFilesWellFormed(t *testing.T) {
	checkFiles(t, generate(t, cfgSmall))
	checkFiles(t, generate(t, cfgMain))
}

// checkFiles verifies names, sequence, HDR/TRL, column counts, record order
// and person grouping of every file, and the kind=file truth lines.
func checkFiles(t *testing.T, g *generated) {
	t.Helper()
	quarantined := map[string]map[int]string{}
	var fileLines []TruthLine
	for _, tl := range g.truth {
		switch tl.Kind {
		case KindQuarantine:
			if quarantined[tl.File] == nil {
				quarantined[tl.File] = map[int]string{}
			}
			quarantined[tl.File][tl.Line] = tl.Rule
		case KindFile:
			fileLines = append(fileLines, tl)
		}
	}
	if len(g.files) != g.cfg.Days+1 || len(fileLines) != len(g.files) {
		t.Fatalf("%d files, %d file truth lines, want %d", len(g.files), len(fileLines), g.cfg.Days+1)
	}
	start := g.cfg.Start
	if start.IsZero() {
		start = DefaultStart
	}
	seq0 := max(g.cfg.FirstSeq, 1)
	prevRun := start.AddDate(0, 0, -1).Format("20060102") + " 000000"
	for i := range g.files {
		f := &g.files[i]
		m := nameRe.FindStringSubmatch(f.name)
		if m == nil {
			t.Fatalf("bad file name %q", f.name)
		}
		run := start.AddDate(0, 0, i).Format("20060102")
		wantType := "C"
		if i == 0 || (g.cfg.FullEvery > 0 && i%g.cfg.FullEvery == 0) {
			wantType = "F"
		}
		if m[1] != g.cfg.VPD || m[2] != wantType || m[3] != run || m[4] != pad8(seq0+i) {
			t.Errorf("%s: want VPD %s type GO%s date %s seq %d", f.name, g.cfg.VPD, wantType, run, seq0+i)
		}
		hdr := f.rows[0]
		if hdr[0] != "HDR" || len(hdr) != 7 || hdr[1] != f.name || hdr[3] != g.cfg.VPD || hdr[6] != "01" {
			t.Errorf("%s: bad header %q", f.name, hdr)
		}
		if !validStamp(hdr[2]) || hdr[2][:8] != run || hdr[5] != run+" 000000" || hdr[4] != prevRun {
			t.Errorf("%s: header dates %q %q %q, want created on %s, previous %s", f.name, hdr[2], hdr[4], hdr[5], run, prevRun)
		}
		prevRun = hdr[5]
		trl := f.rows[len(f.rows)-1]
		if trl[0] != "TRL" || len(trl) != 2 || trl[1] != strconv.Itoa(len(f.rows)) {
			t.Errorf("%s: trailer %q, file has %d lines", f.name, trl, len(f.rows))
		}
		fl := fileLines[i]
		sum := sha256.Sum256(f.raw)
		ft := "GO" + wantType
		if fl.File != f.name || fl.Seq != seq0+i || fl.RunDate != iso(run) || fl.FileType != ft ||
			fl.Lines != len(f.rows) || fl.Rows != len(f.rows)-2 || fl.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: file truth line %+v does not describe the file", f.name, fl)
		}

		// Record order: LCA* ORA* POA* (PRA child*)* deletes* — ESR-FORMATS §2.1.
		phase := 0
		person := ""
		for ln := 2; ln < len(f.rows); ln++ {
			r := f.rows[ln-1]
			q := quarantined[f.name][ln]
			if want := wantCols[r[0]]; len(r) != want && q != RuleColumnCount && q != RuleRecordType {
				t.Errorf("%s:%d: %s has %d columns, want %d", f.name, ln, r[0], len(r), want)
			}
			var p int
			switch {
			case r[0] == "LCA":
				p = 0
			case r[0] == "ORA":
				p = 1
			case r[0] == "POA":
				p = 2
			case r[0] == "PRA":
				p, person = 3, r[1]
			case r[0] == "ASA" || r[0] == "PHA" || r[0] == "ADA" || r[0] == "COA" || q == RuleRecordType:
				p = 3
				if person == "" {
					t.Errorf("%s:%d: %s before any PRA", f.name, ln, r[0])
				}
				if r[1] != person && q == "" {
					t.Errorf("%s:%d: child row of person %s inside the group of %s", f.name, ln, r[1], person)
				}
			case isDelete(r[0]):
				p = 4
			default:
				t.Errorf("%s:%d: unexpected record %s", f.name, ln, r[0])
			}
			if p < phase {
				t.Errorf("%s:%d: %s out of ESR record order", f.name, ln, r[0])
			}
			phase = p
		}
	}
}

// checkTruthRows checks that every event points at a row that can carry it,
// and that its fields agree with that row.
func checkTruthRows(t *testing.T, g *generated) {
	t.Helper()
	seen := map[string]bool{}
	persons := map[string]bool{}
	for _, f := range g.files {
		for _, r := range f.rows {
			if r[0] == "PRA" {
				persons[r[1]] = true
			}
		}
	}
	for _, tl := range g.truth {
		if tl.Kind != KindEvent && tl.Kind != KindWithdrawn {
			continue
		}
		f := g.file(tl.File)
		if f == nil {
			t.Errorf("%+v: no such file", tl)
			continue
		}
		r := f.row(tl.Line)
		if r == nil {
			t.Errorf("%+v: no such line", tl)
			continue
		}
		key := tl.File + ":" + strconv.Itoa(tl.Line)
		if seen[key] {
			t.Errorf("%s: two truth lines for one row", key)
		}
		seen[key] = true
		if !persons[tl.PersonID] || r[1] != tl.PersonID || tl.Tenant != g.cfg.Tenant || tl.VPD != g.cfg.VPD ||
			(tl.TransferFromTenant != "" && tl.Type != TypeStarter) || (tl.TransferToTenant != "" && tl.Type != TypeLeaver) ||
			tl.TransferFromTenant == g.cfg.Tenant || tl.TransferToTenant == g.cfg.Tenant || (tl.Rehire && tl.TransferFromTenant != "") {
			t.Errorf("%+v: person/tenant does not match row %q", tl, r[:2])
		}
		// the employee number is on the group's PRA row
		pra := tl.Line
		for f.rows[pra-1][0] != "PRA" {
			pra--
		}
		if f.rows[pra-1][4] != tl.EmployeeNumber {
			t.Errorf("%+v: employee number differs from PRA %q", tl, f.rows[pra-1][4])
		}
		run := runDate(f)
		wantEff := ""
		switch {
		case tl.Kind == KindWithdrawn:
			if r[0] != "PRA" || r[17] != "" {
				t.Errorf("%+v: a withdrawal must point at a PRA without termination date", tl)
			}
			continue
		case tl.Type == TypeStarter:
			if r[0] != "ASA" || r[6] != "E" || r[8] != "ACTIVE_ASSIGN" || r[7] != tl.AssignmentNumber {
				t.Errorf("%+v: starter row %q", tl, r[:9])
			}
			wantEff = r[5]
			if tl.Scheduled != (wantEff > run) {
				t.Errorf("%+v: scheduled wrong for run %s", tl, run)
			}
		case tl.Type == TypeLeaver:
			switch r[0] {
			case "PRA":
				wantEff = r[17]
			case "ASA":
				wantEff = r[48]
				if r[8] != "TERM_ASSIGN" {
					t.Errorf("%+v: leaver ASA not terminated", tl)
				}
			default:
				t.Errorf("%+v: leaver on %s", tl, r[0])
			}
			late := max(0, daysBetween(wantEff, run))
			if tl.DaysLate != late || (tl.Due != "") != (wantEff > run) || (tl.Due != "" && tl.Due != iso(wantEff)) {
				t.Errorf("%+v: days_late/due wrong for run %s", tl, run)
			}
		case tl.Type == TypePosition:
			if r[0] != "ASA" || r[7] != tl.AssignmentNumber {
				t.Errorf("%+v: position-updated row %q", tl, r[:9])
			}
			switch tl.Change {
			case ChangeAdded:
				wantEff = r[5]
			case ChangeEnded:
				wantEff = r[48]
			case ChangeAttributes:
				wantEff = r[3]
			default:
				t.Errorf("%+v: bad change", tl)
			}
		default:
			t.Errorf("%+v: bad type", tl)
		}
		if tl.EffectiveDate != iso(wantEff) {
			t.Errorf("%+v: effective date, row says %s", tl, wantEff)
		}
	}
}

func TestTruthPointsAtRows(t *testing.T) {
	checkTruthRows(t, generate(t, cfgSmall))
	checkTruthRows(t, generate(t, cfgMain))
}

// TestFaults: with --faults, the rows that break a rule are exactly the
// quarantine truth lines; without, no row breaks one.
func TestFaults(t *testing.T) {
	for _, faults := range []bool{true, false} {
		c := cfgSmall
		c.Faults = faults
		g := generate(t, c)
		rules := checkQuarantineLines(t, g)
		if faults {
			for r := range independentRules {
				if rules[r] == 0 {
					t.Errorf("no planted fault for rule %s", r)
				}
			}
		} else if rules[""] > 0 {
			t.Errorf("quarantine lines without --faults")
		}
	}
}

// checkQuarantineLines checks that the rows breaking a rule the test's own
// validator knows (independentRules), by that validator and its known sets,
// are exactly the truth's quarantine lines for those rules. It returns how
// many rows broke each rule, and under "" the number of quarantine lines.
func checkQuarantineLines(t *testing.T, g *generated) map[string]int {
	t.Helper()
	want := map[string]bool{}
	rules := map[string]int{}
	for _, tl := range g.truth {
		if tl.Kind == KindQuarantine {
			rules[""]++
			if independentRules[tl.Rule] {
				want[tl.File+":"+strconv.Itoa(tl.Line)+":"+tl.RecordType+":"+tl.Rule+":"+tl.Field] = true
			}
		}
	}
	got := map[string]bool{}
	k := newKnown()
	for i := range g.files {
		f := &g.files[i]
		for ln := 2; ln < len(f.rows); ln++ {
			r := f.rows[ln-1]
			for _, p := range k.check(r) {
				got[f.name+":"+strconv.Itoa(ln)+":"+r[0]+":"+p.rule+":"+p.field] = true
				rules[p.rule]++
			}
		}
	}
	for key := range want {
		if !got[key] {
			t.Errorf("quarantine line %s: row does not break that rule", key)
		}
	}
	for key := range got {
		if !want[key] {
			t.Errorf("row %s breaks a rule but has no quarantine line", key)
		}
	}
	return rules
}

// Faults are extra rows drawn from their own PRNG: the simulated trust and
// so every event (all but its line number) is the same with and without.
func TestFaultsLeaveEventsAlone(t *testing.T) {
	events := func(faults bool) []string {
		c := cfgSmall
		c.Faults = faults
		g := generate(t, c)
		var out []string
		for _, tl := range g.truth {
			if tl.Kind == KindEvent || tl.Kind == KindWithdrawn {
				tl.Line = 0
				out = append(out, string(tl.AppendJSON(nil)))
			}
		}
		return out
	}
	a, b := events(false), events(true)
	if len(a) == 0 || strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("events differ with --faults: %d vs %d lines", len(a), len(b))
	}
}

// TestPopulation asserts every scenario the generator promises occurs in
// the reference run (--staff 2000 --days 10 --seed 1).
func TestPopulation(t *testing.T) {
	g := generate(t, cfgMain)
	st := g.res.Stats
	if st.People < 1900 || st.People > 2100 {
		t.Errorf("full file has %d people, want about 2000", st.People)
	}
	var late, recordedLate, sameDay, added, ended, attr int
	deletes := map[string]int{}
	for _, f := range g.files {
		for _, r := range f.rows {
			if isDelete(r[0]) {
				deletes[r[0]]++
			}
		}
	}
	for _, tl := range g.truth {
		if tl.Kind != KindEvent {
			continue
		}
		run := tl.File[len("GO_412_EXP_GOC_"):][:8]
		switch tl.Type {
		case TypeStarter:
			if tl.EffectiveDate < iso(run) {
				late++
			}
		case TypeLeaver:
			if tl.DaysLate > 0 {
				recordedLate++
			}
			if tl.Due == "" && tl.DaysLate == 0 {
				sameDay++
			}
		case TypePosition:
			switch tl.Change {
			case ChangeAdded:
				added++
			case ChangeEnded:
				ended++
			case ChangeAttributes:
				attr++
			}
		}
	}
	withdrawn := 0
	for _, tl := range g.truth {
		if tl.Kind == KindWithdrawn {
			withdrawn++
		}
	}
	for name, n := range map[string]int{
		"starters": st.Starters, "scheduled starters": st.ScheduledStarters, "baseline starters": st.BaselineStarters,
		"starters recorded after their start": late, "applicant hires": st.ApplicantHires, "rehires": st.Rehires,
		"leavers": st.Leavers, "held (future) leavers": st.HeldLeavers, "late leavers": recordedLate,
		"same-day leavers": sameDay, "baseline leavers": st.BaselineLeavers, "leavers by last assignment": st.AssignmentLeavers,
		"withdrawn leavers": st.WithdrawnLeavers, "withdrawn truth lines": withdrawn, "re-dated leavers": st.RedatedLeavers,
		"attribute changes": attr, "assignments added": added, "assignments ended": ended,
		"position moves": st.PositionMoves, "grade changes": st.GradeChanges, "org changes": st.OrgChanges,
		"location changes": st.LocationChanges, "title changes": st.TitleChanges, "suspensions": st.Suspensions,
		"returns": st.Returns, "detail changes": st.DetailChanges, "ASD": deletes["ASD"], "PHD": deletes["PHD"],
		"ADD": deletes["ADD"], "COD": deletes["COD"], "POD": deletes["POD"], "new positions": st.NewPositions,
		"PRD": deletes["PRD"], "ORD": deletes["ORD"], "LCD": deletes["LCD"], "rehires without NHS Unique ID": st.NoNHSRehires,
		"suspended leavers": st.SuspendedLeavers, "two-post leavers": st.TwoPostLeavers, "erroneous people": st.ErroneousPeople,
		"erroneous organisations": st.ErroneousOrgs, "erroneous locations": st.ErroneousLocations,
	} {
		if n <= 0 {
			t.Errorf("no %s", name)
		}
	}
	if st.WithdrawnLeavers != withdrawn || st.Events != attr+added+ended+st.Starters+st.Leavers {
		t.Errorf("stats disagree with truth: %+v", st)
	}
	t.Logf("stats: %+v", st)
}

// TestRehireIdentity: every rehire is a new person id and employee number
// for a human seen before in the tenant: the same NHS Unique ID, NI number
// and DOB, except that some new records carry no NHS Unique ID.
func TestRehireIdentity(t *testing.T) {
	g := generate(t, cfgMain)
	type ident struct{ nhs, ni, dob string }
	byPerson := map[string]ident{}
	firstSeen := map[string]string{} // NI + DOB -> first person id
	empNos := map[string]string{}
	order := map[string]int{} // person -> file index first seen
	for i, f := range g.files {
		for _, r := range f.rows {
			if r[0] != "PRA" {
				continue
			}
			if _, ok := byPerson[r[1]]; !ok {
				byPerson[r[1]] = ident{r[15], r[14], r[13]}
				empNos[r[1]] = r[4]
				order[r[1]] = i
				if _, ok := firstSeen[r[14]+r[13]]; !ok {
					firstSeen[r[14]+r[13]] = r[1]
				}
			}
		}
	}
	n, noNHS := 0, 0
	for _, tl := range g.truth {
		if tl.Kind != KindEvent || tl.Type != TypeStarter || !tl.Rehire {
			continue
		}
		n++
		me := byPerson[tl.PersonID]
		old := firstSeen[me.ni+me.dob]
		was := byPerson[old]
		if me.nhs == "" {
			noNHS++
			me.nhs = was.nhs
		}
		if old == tl.PersonID || was != me || was.nhs == "" || empNos[old] == tl.EmployeeNumber || order[old] > order[tl.PersonID] {
			t.Errorf("rehire %s: previous record %s %+v / %+v", tl.PersonID, old, was, me)
		}
	}
	if n == 0 || noNHS == 0 || noNHS != g.res.Stats.NoNHSRehires {
		t.Errorf("%d rehires, %d without an NHS Unique ID (stats say %d)", n, noNHS, g.res.Stats.NoNHSRehires)
	}
}

func TestReadTruthRoundTrip(t *testing.T) {
	g := generate(t, cfgSmall)
	var buf bytes.Buffer
	for i := range g.truth {
		buf.Write(g.truth[i].AppendJSON(nil))
		buf.WriteByte('\n')
	}
	if !bytes.Equal(buf.Bytes(), g.sink.Bytes(TruthFile)) {
		t.Error("ReadTruth + AppendJSON does not reproduce truth.jsonl")
	}
	if _, err := ReadTruth(bytes.NewReader([]byte("{\"file\":\"x\"}\n"))); err == nil {
		t.Error("a line without kind was accepted")
	}
}

func TestStartDate(t *testing.T) {
	c := cfgSmall
	c.Start = time.Date(2025, 12, 30, 0, 0, 0, 0, time.UTC)
	g := generate(t, c)
	checkFiles(t, g)
	if g.files[3].name[15:23] != "20260102" {
		t.Errorf("third change file is %s, want run date 20260102", g.files[3].name)
	}
}

// TestFaultTruthMatchesCatalogue: every rule the truth names is a catalogue
// rule (esr/rules) with the severity the truth gives it, quarantine lines at
// error and warning lines at warning; and a run long enough to rotate
// through every fault kind plants faults of every kind's rule, at least 15
// error rules across the normalise and validate stages.
func TestFaultTruthMatchesCatalogue(t *testing.T) {
	g := generate(t, cfgSmall)
	errs := map[string]bool{}
	stages := map[rules.Stage]bool{}
	for _, tl := range g.truth {
		if tl.Kind != KindQuarantine && tl.Kind != KindWarning {
			continue
		}
		r, ok := rules.Lookup(tl.Rule)
		if !ok {
			t.Errorf("%s:%d: truth names %s, not a catalogue rule", tl.File, tl.Line, tl.Rule)
			continue
		}
		want := SeverityError
		if tl.Kind == KindWarning {
			want = SeverityWarning
		}
		if tl.Severity != want || string(r.Severity) != want {
			t.Errorf("%s:%d: %s line for %s at severity %q, catalogue %q", tl.File, tl.Line, tl.Kind, tl.Rule, tl.Severity, r.Severity)
		}
		if r.Field != "" && tl.Field != r.Field && r.Stage == rules.StageValidate {
			t.Errorf("%s:%d: %s on field %q, the catalogue's field is %q", tl.File, tl.Line, tl.Rule, tl.Field, r.Field)
		}
		if tl.Kind == KindQuarantine {
			errs[tl.Rule] = true
			stages[r.Stage] = true
		}
	}
	if cfgSmall.Days < int(numErrorFaults)/FaultsPerFile+1 {
		t.Fatalf("cfgSmall is too short to plant every fault kind")
	}
	if len(errs) < 15 || !stages[rules.StageNormalise] || !stages[rules.StageValidate] {
		t.Errorf("faults break %d error rules (stages %v), want at least 15 in normalise and validate", len(errs), stages)
	}
	// One error rule per error kind, plus the bad delete's.
	if want := int(numErrorFaults) + 1; len(errs) != want {
		t.Errorf("faults break %d distinct error rules, want %d (one per kind)", len(errs), want)
	}
}

// TestFaultsUnderErrorBudget: no generated file holds so many planted
// faults that the default error budget would reject it whole; the
// pipeline must quarantine the rows and publish the rest.
func TestFaultsUnderErrorBudget(t *testing.T) {
	set := rules.Baseline()
	for _, c := range []Config{cfgSmall, {Tenant: "RXX", VPD: "412", Staff: 30, Days: 6, Seed: 2, Faults: true, FullEvery: 2}} {
		g := generate(t, c)
		errs := map[string]int64{}
		for _, tl := range g.truth {
			if tl.Kind == KindQuarantine {
				errs[tl.File]++
			}
		}
		for _, fi := range g.res.Files {
			if why := set.OverBudget(errs[fi.Name], int64(fi.Rows)); why != "" {
				t.Errorf("%s: %s", fi.Name, why)
			}
			if want := int64(FaultsPerFile + 1); fi.Type == "GOC" && errs[fi.Name] != want || fi.Type == "GOF" && errs[fi.Name] > want {
				t.Errorf("%s: %d fault rows at error severity, want %d", fi.Name, errs[fi.Name], want)
			}
		}
	}
}
