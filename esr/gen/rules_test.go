package gen

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// This file is an independent, file-driven implementation of the truth rules
// in docs/generator.md: it parses the generated files (with a plain split),
// keeps per-person state, and derives events per person group. The generator
// records truth from its own simulation instead; the two must agree exactly.
// It doubles as an executable reading of the rules for the publish service.

type refAsg struct {
	typ, status, number  string
	col3, col5, c45, c48 string
	attrs                [8]string
}

func (a *refAsg) live() bool {
	return a != nil && a.typ == "E" && (a.status == "ACTIVE_ASSIGN" || a.status == "SUSP_ASSIGN")
}

type refPerson struct {
	id, empNo, nhs, term, reason string
	ni, dob                      string
	asgs                         map[string]*refAsg
}

func (p *refPerson) clone() *refPerson {
	if p == nil {
		return nil
	}
	c := *p
	c.asgs = make(map[string]*refAsg, len(p.asgs))
	for k, v := range p.asgs {
		a := *v
		c.asgs[k] = &a
	}
	return &c
}

func (p *refPerson) employed() bool {
	if p == nil {
		return false
	}
	for _, a := range p.asgs {
		if a.live() {
			return true
		}
	}
	return false
}

type refLine struct {
	order int // file index (the day)
	dead  bool
	t     TruthLine
}

type refState struct {
	tenant   string
	reg      *refRegion
	persons  map[string]*refPerson
	asgOwner map[string]string
	nhs      map[string]map[string]bool // NHS Unique ID -> person ids (non-empty ids only)
	match    map[string]map[string]bool // NI number + DOB -> person ids
	known    *known                     // validate's known sets: a row breaking a rule never reaches publish
	pending  map[string]int             // person -> index in out of the held leaver
	out      []refLine
	// the leaver guard's view of each change file: leavers decided by its
	// rows (immediate, future-dated, re-dated) and those employed at its start
	guard []guardCount
}

type guardCount struct {
	file              string
	leavers, employed int
}

// refRegion holds the trusts processed together: day by day, and within a
// day in tenant order, as docs/generator.md says the truth assumes.
type refRegion struct {
	codes  []string // sorted
	states map[string]*refState
}

func newRefState(tenant string, reg *refRegion) *refState {
	return &refState{tenant: tenant, reg: reg, persons: map[string]*refPerson{}, asgOwner: map[string]string{},
		nhs: map[string]map[string]bool{}, match: map[string]map[string]bool{}, known: newKnown(),
		pending: map[string]int{}}
}

func index(m map[string]map[string]bool, k, id string, add bool) {
	if k == "" {
		return
	}
	if !add {
		delete(m[k], id)
		return
	}
	if m[k] == nil {
		m[k] = map[string]bool{}
	}
	m[k][id] = true
}

func (p *refPerson) matchKey() string {
	if p.ni == "" || p.dob == "" {
		return ""
	}
	return p.ni + "/" + p.dob
}

type groupRow struct {
	id   string
	line int
}

type group struct {
	pid     string
	praLine int
	before  *refPerson
	asgRows []groupRow
}

func attrsOf(r []string) [8]string {
	pos := strings.Split(r[29], "|")
	job := strings.Split(r[34], "|")
	for len(pos) < 3 {
		pos = append(pos, "")
	}
	for len(job) < 2 {
		job = append(job, "")
	}
	return [8]string{pos[0], pos[1], pos[2], r[27], r[30], job[0], job[1], r[13]}
}

// referenceTruth derives the truth lines (events and withdrawals) of one
// trust from its files.
func referenceTruth(tenant string, files []pfile) []TruthLine {
	lines, _ := referenceRegion(map[string][]pfile{tenant: files})
	return lines
}

// referenceRegion derives the truth of trusts processed together (file i of
// every trust before file i+1 of any), and the leaver guard's counts.
func referenceRegion(files map[string][]pfile) ([]TruthLine, *refRegion) {
	reg := &refRegion{states: map[string]*refState{}}
	days := 0
	for code, fs := range files {
		reg.codes = append(reg.codes, code)
		reg.states[code] = newRefState(code, reg)
		days = max(days, len(fs))
	}
	slices.Sort(reg.codes)
	for fi := 0; fi < days; fi++ {
		for _, code := range reg.codes {
			if fi < len(files[code]) {
				reg.states[code].file(fi, &files[code][fi])
			}
		}
	}
	var live []refLine
	for _, code := range reg.codes {
		st := reg.states[code]
		// A leaver still held after the last file links to a transfer
		// destination as it would fire now.
		for _, idx := range st.pending {
			st.linkTransfer(&st.out[idx].t, st.persons[st.out[idx].t.PersonID])
		}
		live = append(live, slices.DeleteFunc(slices.Clone(st.out), func(l refLine) bool { return l.dead })...)
	}
	slices.SortStableFunc(live, func(a, b refLine) int {
		return cmp.Or(cmp.Compare(a.order, b.order), cmp.Compare(a.t.Tenant, b.t.Tenant), cmp.Compare(a.t.Line, b.t.Line))
	})
	var out []TruthLine
	for _, l := range live {
		out = append(out, l.t)
	}
	return out, reg
}

// linkTransfer sets transfer_to_tenant on a leaver as it is emitted: its
// reason is a transfer reason and another trust (the lowest ODS code if
// several) has an employed person with the same non-empty NHS Unique ID.
func (st *refState) linkTransfer(t *TruthLine, p *refPerson) {
	if p == nil || p.nhs == "" || !transferReason(t.LeavingReason) {
		return
	}
	for _, code := range st.reg.codes {
		if code == st.tenant {
			continue
		}
		other := st.reg.states[code]
		for id := range other.nhs[p.nhs] {
			if other.persons[id].employed() {
				t.TransferToTenant = code
				return
			}
		}
	}
}

// transferFrom is the trust (lowest ODS code) holding a person with the
// same non-empty NHS Unique ID who left, or is leaving, with a transfer
// reason.
func (st *refState) transferFrom(p *refPerson) string {
	if p.nhs == "" {
		return ""
	}
	for _, code := range st.reg.codes {
		if code == st.tenant {
			continue
		}
		other := st.reg.states[code]
		for id := range other.nhs[p.nhs] {
			if o := other.persons[id]; o.term != "" && transferReason(o.reason) {
				return code
			}
		}
	}
	return ""
}

func (st *refState) file(fi int, f *pfile) {
	run := runDate(f)
	vpd := f.rows[0][3]
	// Held leavers whose date has come fire now; nothing can change them.
	for pid, idx := range st.pending {
		if st.out[idx].t.Due <= iso(run) {
			st.linkTransfer(&st.out[idx].t, st.persons[pid])
			delete(st.pending, pid)
		}
	}
	if fi > 0 {
		gc := guardCount{file: f.name}
		for _, p := range st.persons {
			if p.employed() {
				gc.employed++
			}
		}
		st.guard = append(st.guard, gc)
	}
	var g *group
	end := func() {
		if g != nil {
			st.derive(fi, f.name, run, vpd, g)
			g = nil
		}
	}
	for ln := 2; ln <= len(f.rows); ln++ {
		r := f.rows[ln-1]
		if len(st.known.check(r)) > 0 {
			continue // quarantined: never reaches publish
		}
		switch r[0] {
		case "PRA":
			end()
			p := st.persons[r[1]]
			g = &group{pid: r[1], praLine: ln, before: p.clone()}
			if p == nil {
				p = &refPerson{id: r[1], asgs: map[string]*refAsg{}}
				st.persons[r[1]] = p
			}
			index(st.nhs, p.nhs, p.id, false)
			index(st.match, p.matchKey(), p.id, false)
			p.empNo, p.nhs, p.term, p.reason, p.ni, p.dob = r[4], r[15], r[17], r[18], r[14], r[13]
			index(st.nhs, p.nhs, p.id, true)
			index(st.match, p.matchKey(), p.id, true)
		case "ASA":
			p := st.persons[r[1]]
			a := p.asgs[r[2]]
			if a == nil {
				a = &refAsg{}
				p.asgs[r[2]] = a
				st.asgOwner[r[2]] = r[1]
			}
			*a = refAsg{typ: r[6], status: r[8], number: r[7], col3: r[3], col5: r[5], c45: r[45], c48: r[48], attrs: attrsOf(r)}
			g.asgRows = append(g.asgRows, groupRow{r[2], ln})
		case "PHA", "ADA", "COA":
		case "TRL":
			end()
		default:
			end()
			switch r[0] {
			case "ASD":
				if pid, ok := st.asgOwner[r[1]]; ok && st.persons[pid] != nil {
					delete(st.persons[pid].asgs, r[1])
				}
			case "PRD":
				if p := st.persons[r[1]]; p != nil {
					index(st.nhs, p.nhs, p.id, false)
					index(st.match, p.matchKey(), p.id, false)
					delete(st.persons, r[1])
					if idx, ok := st.pending[r[1]]; ok {
						st.out[idx].dead = true
						delete(st.pending, r[1])
					}
				}
			}
		}
	}
	end()
}

func (st *refState) emit(fi int, t TruthLine) int {
	st.out = append(st.out, refLine{order: fi, t: t})
	return len(st.out) - 1
}

func (st *refState) derive(fi int, file, run, vpd string, g *group) {
	B, A := g.before, st.persons[g.pid]
	base := TruthLine{Kind: KindEvent, File: file, Tenant: st.tenant, VPD: vpd, PersonID: A.id, EmployeeNumber: A.empNo}
	empB, empA := B.employed(), A.employed()
	// rehire: another person id of this tenant with the same non-empty NHS
	// Unique ID or, when either record lacks one, the same NI number + DOB
	rehire := func() bool {
		for id := range st.nhs[A.nhs] {
			if id != A.id {
				return true
			}
		}
		for id := range st.match[A.matchKey()] {
			if id != A.id && (A.nhs == "" || st.persons[id].nhs == "") {
				return true
			}
		}
		return false
	}
	// starter: the earliest-starting live E assignment, first in file order
	starter := func() {
		minStart, line, number := "", 0, ""
		for _, a := range A.asgs {
			if a.live() && (minStart == "" || a.col5 < minStart) {
				minStart = a.col5
			}
		}
		for _, gr := range g.asgRows {
			if a := A.asgs[gr.id]; a.live() && a.col5 == minStart {
				line, number = gr.line, a.number
				break
			}
		}
		t := base
		t.Type, t.Line, t.EffectiveDate, t.AssignmentNumber = TypeStarter, line, iso(minStart), number
		t.Scheduled, t.Rehire = minStart > run, rehire()
		t.TransferFromTenant = st.transferFrom(A)
		st.emit(fi, t)
	}
	lwd := func() string {
		best := ""
		for _, gr := range g.asgRows {
			a := A.asgs[gr.id]
			var b *refAsg
			if B != nil {
				b = B.asgs[gr.id]
			}
			if (a.live() || b.live()) && a.c45 > best {
				best = a.c45
			}
		}
		return best
	}
	leaver := func(line int, eff string) {
		t := base
		t.Type, t.Line, t.EffectiveDate, t.LeavingReason = TypeLeaver, line, iso(eff), A.reason
		t.LastWorkingDay = iso(lwd())
		if old, ok := st.pending[A.id]; ok {
			st.out[old].dead = true // re-dated: the new record replaces it
			delete(st.pending, A.id)
		}
		if fi > 0 {
			st.guard[len(st.guard)-1].leavers++
		}
		if eff > run {
			t.Due = iso(eff)
			st.pending[A.id] = st.emit(fi, t)
			return
		}
		t.DaysLate = max(0, daysBetween(eff, run))
		st.linkTransfer(&t, A)
		st.emit(fi, t)
	}

	if fi == 0 { // baseline: only starts and leaves dated on or after the run date
		if empA {
			minStart := ""
			for _, a := range A.asgs {
				if a.live() && (minStart == "" || a.col5 < minStart) {
					minStart = a.col5
				}
			}
			if minStart >= run {
				starter()
			}
		}
		if A.term != "" && A.term >= run {
			leaver(g.praLine, A.term)
		}
		return
	}

	termB := ""
	if B != nil {
		termB = B.term
	}
	switch {
	case empB && A.term != "" && A.term != termB:
		leaver(g.praLine, A.term)
	case empB && !empA && (A.term == "" || A.term != termB):
		line, eff := 0, ""
		for _, gr := range g.asgRows {
			if B.asgs[gr.id].live() && !A.asgs[gr.id].live() {
				line = gr.line
				eff = max(eff, A.asgs[gr.id].c48)
			}
		}
		leaver(line, eff)
	}
	if termB != "" && A.term == "" {
		if idx, ok := st.pending[A.id]; ok {
			st.out[idx].dead = true
			delete(st.pending, A.id)
			t := base
			t.Kind, t.Line, t.EffectiveDate = KindWithdrawn, g.praLine, iso(termB)
			st.emit(fi, t)
		}
	}
	if !empB && empA {
		starter()
	}
	if empB && empA {
		seen := map[string]bool{}
		for _, gr := range g.asgRows {
			if seen[gr.id] {
				continue
			}
			seen[gr.id] = true
			a := A.asgs[gr.id]
			b := B.asgs[gr.id]
			t := base
			t.Type, t.Line, t.AssignmentNumber = TypePosition, gr.line, a.number
			switch {
			case !b.live() && a.live() && a.status == "ACTIVE_ASSIGN":
				t.Change, t.EffectiveDate = ChangeAdded, iso(a.col5)
			case b.live() && !a.live():
				t.Change, t.EffectiveDate = ChangeEnded, iso(a.c48)
			case b.live() && a.live() && a.attrs != b.attrs:
				t.Change, t.EffectiveDate = ChangeAttributes, iso(a.col3)
			default:
				continue
			}
			st.emit(fi, t)
		}
	}
}

func checkReference(t *testing.T, g *generated) {
	t.Helper()
	var want []string
	for _, tl := range g.truth {
		if tl.Kind == KindEvent || tl.Kind == KindWithdrawn {
			want = append(want, string(tl.AppendJSON(nil)))
		}
	}
	var got []string
	for _, tl := range referenceTruth(g.cfg.Tenant, g.files) {
		got = append(got, string(tl.AppendJSON(nil)))
	}
	if slices.Equal(want, got) {
		return
	}
	t.Errorf("reference rules disagree with truth.jsonl (%d truth lines, %d derived)", len(want), len(got))
	wm := map[string]bool{}
	for _, w := range want {
		wm[w] = true
	}
	gm := map[string]bool{}
	for _, x := range got {
		gm[x] = true
	}
	n := 0
	for _, w := range want {
		if !gm[w] && n < 10 {
			t.Errorf("only in truth:   %s", w)
			n++
		}
	}
	n = 0
	for _, x := range got {
		if !wm[x] && n < 10 {
			t.Errorf("only in derived: %s", x)
			n++
		}
	}
}

func TestReferenceRules(t *testing.T) {
	for _, c := range []Config{cfgSmall, cfgMain, {Tenant: "RYY", VPD: "638", Staff: 700, Days: 30, Seed: 99, Faults: true}} {
		t.Run(strconv.Itoa(c.Staff)+"x"+strconv.Itoa(c.Days), func(t *testing.T) {
			checkReference(t, generate(t, c))
		})
	}
}

// Many small trusts over many seeds: the rules and the simulation must agree
// whatever the dice say, including trusts too small for every scenario.
func TestReferenceRulesManySeeds(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		// every other seed with faults, and some with periodic full files
		// (with faults, the first one truncated)
		c := Config{Tenant: "RXX", VPD: "412", Staff: 20 + int(seed*37%400), Days: int(5 + seed%20), Seed: seed,
			Faults: seed%2 == 0, FullEvery: int(seed % 5)}
		g := generate(t, c)
		checkReference(t, g)
		checkTruthRows(t, g)
		checkFiles(t, g)
		checkQuarantineLines(t, g)
		if t.Failed() {
			t.Fatalf("seed %d (%+v)", seed, c)
		}
	}
}
