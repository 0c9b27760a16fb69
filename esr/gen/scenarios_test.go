package gen

import (
	"bytes"
	"cmp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/tenant"
)

// eventsWithoutSource lists the events and withdrawals with file and line
// blanked: what the simulation decided, whatever files carried it.
func eventsWithoutSource(g *generated) []string {
	var out []string
	for _, tl := range g.truth {
		if tl.Kind == KindEvent || tl.Kind == KindWithdrawn {
			tl.File, tl.Line = "", 0
			out = append(out, string(tl.AppendJSON(nil)))
		}
	}
	return out
}

// TestFullFiles: with FullEvery, every FullEvery-th change file is a full
// file, and the simulated trust, so every event, is the same as with change
// files only. With faults the first of them is truncated: it omits 40 % of
// the person groups, none of whom has a change or a delete row that day;
// the others list every person. Under `missing: ignore` the omission
// produces nothing, so the reference rules still agree with the truth, and
// validate's known sets (cleared by a full file) quarantine no later row of
// an omitted person, who keeps changing on later days.
func TestFullFiles(t *testing.T) {
	c := Config{Tenant: "RXX", VPD: "412", Staff: 700, Days: 12, Seed: 5, Faults: true, FullEvery: 4}
	g := generate(t, c)
	checkFiles(t, g)
	checkTruthRows(t, g)
	checkReference(t, g)
	checkQuarantineLines(t, g)
	st := g.res.Stats
	if st.FullFiles != 3 || st.TruncatedFullFiles != 1 {
		t.Errorf("%d periodic full files, %d truncated, want 3 and 1", st.FullFiles, st.TruncatedFullFiles)
	}
	plain := c
	plain.FullEvery = 0
	if a, b := eventsWithoutSource(g), eventsWithoutSource(generate(t, plain)); !slices.Equal(a, b) {
		t.Errorf("full files change the events: %d vs %d", len(a), len(b))
	}
	untruncated := c
	untruncated.Faults = false
	if u := generate(t, untruncated); u.res.Stats.TruncatedFullFiles != 0 || u.res.Stats.OmittedPeople != 0 {
		t.Errorf("without faults: %d full files truncated", u.res.Stats.TruncatedFullFiles)
	}

	// A periodic full file lists every person that exists (seen in an
	// earlier file or this one, and not deleted by PRD), except the people
	// the truncated one omits.
	exists := map[string]bool{}
	owner := map[string]string{} // ASD/PHD/ADD/COD id -> the person whose row defined it
	// The persons of fault rows (--faults) exist in no simulation: a
	// full file does not list them again.
	faultRow := map[string]bool{}
	for _, tl := range g.truth {
		if (tl.Kind == KindQuarantine || tl.Kind == KindWarning) && tl.RecordType == "PRA" {
			faultRow[tl.File+":"+strconv.Itoa(tl.Line)] = true
		}
	}
	var omitted map[string]bool
	laterEvents := 0
	for i, f := range g.files {
		listed := map[string]bool{}
		var deletedFor []string // people whose entities this file deletes
		for ln, r := range f.rows {
			switch r[0] {
			case "PRA":
				if faultRow[f.name+":"+strconv.Itoa(ln+1)] {
					continue
				}
				exists[r[1]], listed[r[1]] = true, true
			case "PRD":
				delete(exists, r[1])
			case "ASA", "PHA", "ADA":
				owner[r[0][:2]+"D"+r[2]] = r[1]
			case "COA":
				owner["COD"+r[3]] = r[1]
			case "ASD", "PHD", "ADD", "COD":
				if pid, ok := owner[r[0]+r[1]]; ok {
					deletedFor = append(deletedFor, pid)
				}
			}
		}
		if i > c.FullEvery && omitted != nil {
			for _, tl := range g.truth {
				if tl.File == f.name && tl.Kind == KindEvent && omitted[tl.PersonID] {
					laterEvents++
				}
			}
		}
		if i == 0 || i%c.FullEvery != 0 {
			continue
		}
		var missing []string
		for id := range exists {
			if !listed[id] {
				missing = append(missing, id)
			}
		}
		if i != c.FullEvery {
			for _, id := range missing {
				t.Errorf("%s: full file omits person %s", f.name, id)
			}
			continue
		}
		if len(missing) != st.OmittedPeople || len(missing) != len(exists)*2/5 {
			t.Errorf("%s omits %d of %d people, stats say %d, want 40 %%", f.name, len(missing), len(exists), st.OmittedPeople)
		}
		omitted = map[string]bool{}
		for _, id := range missing {
			omitted[id] = true
		}
		for _, tl := range g.truth {
			if tl.File == f.name && omitted[tl.PersonID] {
				t.Errorf("%s omits person %s, who has a truth line there", f.name, tl.PersonID)
			}
		}
		for _, pid := range deletedFor {
			if omitted[pid] {
				t.Errorf("%s omits person %s, whose entity it deletes", f.name, pid)
			}
		}
	}
	if laterEvents == 0 {
		t.Errorf("no event for a person the truncated full file omitted, on a later day")
	}
	t.Logf("truncated full file omits %d people; %d events for them later", st.OmittedPeople, laterEvents)
}

// TestLeaverGuardNeverTrips: no change file carries as many leavers as the
// default leaver guard holds: under 10 (its minimum) for trusts of 1,000
// staff or more, counted from the files by the reference rules.
func TestLeaverGuardNeverTrips(t *testing.T) {
	check := func(name string, reg *refRegion) {
		files := 0
		for _, code := range reg.codes {
			for _, gc := range reg.states[code].guard {
				files++
				if gc.leavers >= 10 || tenant.DefaultGuard.Trips(gc.leavers, gc.employed) != "" {
					t.Errorf("%s %s %s: %d leavers of %d employed", name, code, gc.file, gc.leavers, gc.employed)
				}
			}
		}
		if files == 0 {
			t.Fatalf("%s: no change files", name)
		}
	}
	for _, c := range []Config{cfgMain, {Tenant: "RXX", VPD: "412", Staff: 1000, Days: 40, Seed: 3, FullEvery: 7},
		{Tenant: "RXX", VPD: "412", Staff: 6000, Days: 6, Seed: 4, Faults: true}} {
		g := generate(t, c)
		_, reg := referenceRegion(map[string][]pfile{c.Tenant: g.files})
		check(strconv.Itoa(c.Staff), reg)
		if g.res.Stats.MaxFileLeavers >= 10 {
			t.Errorf("%d staff: stats report %d leavers in one file", c.Staff, g.res.Stats.MaxFileLeavers)
		}
	}
	rg := generateRegion(t, regionMain)
	check("region", rg.ref)
}

var regionMain = RegionConfig{
	Trusts: []Trust{{Tenant: "RYY", VPD: "413", Staff: 1200}, {Tenant: "RXX", VPD: "412", Staff: 1500}, {Tenant: "RZZ", VPD: "414", Staff: 1000}},
	Days:   9, Seed: 3, Faults: true, FullEvery: 4, TransfersPerDay: 2,
}

type generatedRegion struct {
	rc     RegionConfig
	res    RegionResult
	sink   *MemSink
	trusts []*generated // in rc.Trusts order, each with its own lines of the truth
	truth  []TruthLine
	ref    *refRegion
	refOut []TruthLine
}

func generateRegion(t testing.TB, rc RegionConfig) *generatedRegion {
	t.Helper()
	sink := &MemSink{}
	res, err := GenerateRegion(rc, sink)
	if err != nil {
		t.Fatal(err)
	}
	g := &generatedRegion{rc: rc, res: res, sink: sink}
	if g.truth, err = ReadTruth(bytes.NewReader(sink.Bytes(TruthFile))); err != nil {
		t.Fatal(err)
	}
	files := map[string][]pfile{}
	for i, tr := range rc.Trusts {
		tg := &generated{cfg: Config{Tenant: tr.Tenant, VPD: tr.VPD, Staff: tr.Staff, Days: rc.Days, Seed: rc.Seed,
			Start: rc.Start, Faults: rc.Faults, FullEvery: rc.FullEvery}, res: res.Trusts[i], sink: sink}
		for _, fi := range res.Trusts[i].Files {
			if fi.Path != tr.Tenant+"/"+fi.Name {
				t.Fatalf("%s: file %s stored as %s", tr.Tenant, fi.Name, fi.Path)
			}
			tg.files = append(tg.files, splitFile(fi.Name, sink.Bytes(fi.Path)))
		}
		for _, l := range g.truth {
			if l.Tenant == tr.Tenant {
				tg.truth = append(tg.truth, l)
			}
		}
		files[tr.Tenant] = tg.files
		g.trusts = append(g.trusts, tg)
	}
	g.refOut, g.ref = referenceRegion(files)
	return g
}

// TestRegion checks a region of three trusts: each trust's files are well
// formed and its events point at their rows, the reference rules derive the
// region's truth exactly from the files alone, lines are ordered by day,
// tenant and line, ids never collide across trusts, and every transfer
// links a held leaver in one trust to a scheduled starter in another.
func TestRegion(t *testing.T) {
	g := generateRegion(t, regionMain)
	for _, tg := range g.trusts {
		checkFiles(t, tg)
		checkTruthRows(t, tg)
		checkQuarantineLines(t, tg)
		if st := tg.res.Stats; st.TruncatedFullFiles != 1 || st.OmittedPeople == 0 {
			t.Errorf("%s: %d truncated full files omitting %d people, want 1", tg.cfg.Tenant, st.TruncatedFullFiles, st.OmittedPeople)
		}
	}
	checkRegion(t, g)
}

// checkRegion checks what holds for every region with transfers: the
// reference rules derive its truth exactly from the files, lines are
// ordered by day, tenant and line, ids never collide across trusts, and
// every transfer links a held leaver in one trust to a scheduled starter in
// another.
func checkRegion(t *testing.T, g *generatedRegion) {
	t.Helper()
	var want, got []string
	for _, l := range g.truth {
		if l.Kind == KindEvent || l.Kind == KindWithdrawn {
			want = append(want, string(l.AppendJSON(nil)))
		}
	}
	for _, l := range g.refOut {
		got = append(got, string(l.AppendJSON(nil)))
	}
	if !slices.Equal(want, got) {
		t.Errorf("reference rules disagree with the region's truth (%d truth lines, %d derived)", len(want), len(got))
		for i := range min(len(want), len(got)) {
			if want[i] != got[i] {
				t.Errorf("first difference at %d:\n truth:   %s\n derived: %s", i, want[i], got[i])
				break
			}
		}
	}

	// Order: day (a file's index in its trust), then tenant, then line.
	day := map[string]int{}
	for _, tg := range g.trusts {
		for i, f := range tg.files {
			day[f.name] = i
		}
	}
	if !slices.IsSortedFunc(g.truth, func(a, b TruthLine) int {
		return cmp.Or(cmp.Compare(day[a.File], day[b.File]), cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Line, b.Line))
	}) {
		t.Error("truth lines are not sorted by day, tenant and line")
	}
	for _, l := range g.truth {
		if l.Tenant == "" {
			t.Fatalf("truth line without tenant: %+v", l)
		}
	}

	// Ids are the trust's own; only a transferred human shares an NHS
	// Unique ID (and NI number, DOB) with a record in another trust.
	owner := map[string]string{}
	nhsTenants := map[string]map[string]bool{}
	for _, tg := range g.trusts {
		for _, f := range tg.files {
			for _, r := range f.rows {
				var keys []string
				switch r[0] {
				case "PRA":
					keys = []string{"person " + r[1], "employee " + r[4]}
					if r[15] != "" {
						if nhsTenants[r[15]] == nil {
							nhsTenants[r[15]] = map[string]bool{}
						}
						nhsTenants[r[15]][tg.cfg.Tenant] = true
					}
				case "ASA":
					keys = []string{"assignment " + r[2]}
				case "POA", "ORA", "LCA", "PHA", "ADA", "COA":
					keys = []string{r[0] + " " + r[2-boolInt(r[0] == "POA" || r[0] == "ORA" || r[0] == "LCA")]}
				}
				for _, k := range keys {
					if o, ok := owner[k]; ok && o != tg.cfg.Tenant {
						t.Fatalf("%s used by %s and %s", k, o, tg.cfg.Tenant)
					}
					owner[k] = tg.cfg.Tenant
				}
			}
		}
	}
	shared := 0
	for _, ts := range nhsTenants {
		if len(ts) > 1 {
			shared++
		}
	}

	if g.rc.TransfersPerDay == 0 {
		if shared != 0 {
			t.Errorf("%d NHS Unique IDs in more than one trust of a region without transfers", shared)
		}
		return
	}

	// Transfers: each starter with transfer_from_tenant has, in that trust,
	// a leaver one day earlier, held until the day before the start, with a
	// transfer reason, transfer_to_tenant this trust and the same human.
	nhsOf := map[string]string{} // tenant/person -> NHS Unique ID
	for _, tg := range g.trusts {
		for _, f := range tg.files {
			for _, r := range f.rows {
				if r[0] == "PRA" {
					nhsOf[tg.cfg.Tenant+"/"+r[1]] = r[15]
				}
			}
		}
	}
	leavers := map[string]TruthLine{} // tenant/NHS -> transfer leaver
	out, left := 0, 0
	for _, l := range g.truth {
		if l.Kind == KindEvent && l.Type == TypeLeaver && transferReason(l.LeavingReason) {
			leavers[l.Tenant+"/"+nhsOf[l.Tenant+"/"+l.PersonID]] = l
			if l.TransferToTenant != "" {
				out++
			} else if l.Due != "" && l.LeavingReason == reasonTransfer {
				left++
			}
		}
	}
	in := 0
	for _, l := range g.truth {
		if l.Kind != KindEvent || l.TransferFromTenant == "" {
			continue
		}
		in++
		from, ok := leavers[l.TransferFromTenant+"/"+nhsOf[l.Tenant+"/"+l.PersonID]]
		if !ok || from.TransferToTenant != l.Tenant || from.Due == "" || l.Rehire || !l.Scheduled ||
			day[from.File]+1 != day[l.File] || dayAfter(from.Due) != l.EffectiveDate {
			t.Errorf("transfer starter %+v: leaver %+v", l, from)
		}
	}
	st := func(f func(Stats) int) (n int) {
		for _, r := range g.res.Trusts {
			n += f(r.Stats)
		}
		return n
	}
	if in == 0 || in != out || in != shared || in != st(func(s Stats) int { return s.TransfersIn }) ||
		out != st(func(s Stats) int { return s.TransfersOut }) || left == 0 || st(func(s Stats) int { return s.LeftRegion }) == 0 {
		t.Errorf("%d transfer starters, %d transfer leavers, %d shared NHS Unique IDs, %d leaving the region; stats %+v",
			in, out, shared, left, g.res.Trusts)
	}
	t.Logf("%d transfers in the region, %d leaving it", in, left)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func dayAfter(isoDate string) string {
	d, err := time.Parse(time.DateOnly, isoDate)
	if err != nil {
		return ""
	}
	return d.AddDate(0, 0, 1).Format(time.DateOnly)
}

// TestRegionDeterministic: the same region config gives the same bytes, and
// the directory sink lays the trusts out in folders.
func TestRegionDeterministic(t *testing.T) {
	rc := regionMain
	rc.Days = 4
	a, b := generateRegion(t, rc), generateRegion(t, rc)
	names := a.sink.Names()
	if !slices.Equal(names, b.sink.Names()) || len(names) != len(rc.Trusts)*(rc.Days+1)+1 {
		t.Fatalf("outputs %v / %v", names, b.sink.Names())
	}
	for _, n := range names {
		if !bytes.Equal(a.sink.Bytes(n), b.sink.Bytes(n)) {
			t.Errorf("%s differs between two runs", n)
		}
	}
	dir := t.TempDir()
	if _, err := GenerateRegion(rc, DirSink(dir)); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		raw, err := readFile(dir, n)
		if err != nil || !bytes.Equal(raw, a.sink.Bytes(n)) {
			t.Errorf("%s: DirSink differs from MemSink (%v)", n, err)
		}
	}
}

func TestRegionConfigErrors(t *testing.T) {
	ok := Trust{Tenant: "RXX", VPD: "412", Staff: 100}
	for _, rc := range []RegionConfig{
		{},
		{Trusts: []Trust{ok, {Tenant: "RXX", VPD: "413", Staff: 100}}},
		{Trusts: []Trust{ok, {Tenant: "RYY", VPD: "412", Staff: 100}}},
		{Trusts: []Trust{ok}, TransfersPerDay: 1},
		// more staff over more days than the id ranges hold
		{Trusts: []Trust{ok, {Tenant: "RYY", VPD: "413", Staff: 1_000_000}}, Days: 3000},
		{Trusts: make([]Trust, regionMaxTrusts+1)},
		{Trusts: []Trust{ok, {Tenant: "ryy", VPD: "413", Staff: 100}}},
		{Trusts: []Trust{ok, {Tenant: "RYY", VPD: "413", Staff: 100}}, TransfersPerDay: -1},
		// every trust in a group or none; with transfers, two or more per group
		{Trusts: []Trust{ok, {Tenant: "RYY", VPD: "413", Staff: 100, Group: "A"}}},
		{Trusts: []Trust{{Tenant: "RXX", VPD: "412", Staff: 100, Group: "A"}, {Tenant: "RYY", VPD: "413", Staff: 100, Group: "B"}},
			TransfersPerDay: 1},
	} {
		if _, err := GenerateRegion(rc, DiscardSink{}); err == nil {
			t.Errorf("%+v: no error", rc)
		}
	}
}
