package gen

import (
	"bufio"
	"cmp"
	"slices"
	"strconv"
)

// faultKind is one deliberately invalid row planted by --faults. Each kind
// breaks exactly one error rule of the baseline catalogue (esr/rules) and
// no other; a few also bring a warning, which the truth names too.
type faultKind int

// Fault kinds, by the rule they break. The rows of person-level kinds are
// written after a person group already in the file; position-level kinds
// among the file's positions.
const (
	faultDate            faultKind        = iota // PHA on 31 February: ESR-V001
	faultTimestamp                               // ADA updated at hour 25: ESR-V002
	faultNoPerson                                // ADA without its person: ESR-R007
	faultNoAsgNumber                             // ASA without assignment number: ESR-R011
	faultUnknownPosition                         // ASA in a position no file defines: ESR-X002
	faultColumns                                 // PHA one column short: ESR-R002
	faultRecordType                              // ZZA: ESR-R001
	faultBadAsgNumber                            // ASA number with a three-digit suffix: ESR-V011
	faultFTE                                     // ASA with FTE 1.8: ESR-V019 (and the ESR-V020 warning)
	faultOccupation                              // ASA whose position name has a two-character occupation code: ESR-V017
	faultUnknownPerson                           // ASA of a person no file defines: ESR-X001
	faultUnknownOrg                              // ASA in an organisation no file defines: ESR-X003
	faultStem                                    // ASA numbered after another employee: ESR-X007
	faultSecondPrimary                           // a second primary active ASA: ESR-X008 (the first gets ESR-X010)
	faultTermBeforeHire                          // PRA terminated before hire: ESR-R020
	faultLeaverNoReason                          // PRA terminated without a reason: ESR-R021
	faultBirthAfterHire                          // PRA born after hire: ESR-R023 (ESR-R026's age check stays silent: R023 already says it)
	faultEmployeeNumber                          // PRA with a non-numeric employee number: ESR-V010
	faultNINumber                                // PRA with a D-prefixed NI number: ESR-V012
	faultPositionDates                           // POA effective to before from: ESR-R022
	faultPositionOrg                             // POA in an organisation no file defines: ESR-X006
	numErrorFaults                               // the kinds above each break an error rule
	faultEmail           = numErrorFaults        // PRA with an e-mail without @: warning ESR-V015 only, in every change file
)

// Catalogue codes (esr/rules/catalogue.yaml) the planted faults break, as
// TruthLine.Rule carries them. The package does not import esr/rules: the
// truth is the generator's own account, and a test checks the two agree.
const (
	RuleRecordType    = "ESR-R001" // unknown record type
	RuleColumnCount   = "ESR-R002" // too few columns for the record type
	RuleDeleteID      = "ESR-R003" // delete row whose id is not numeric
	RuleRowKey        = "ESR-R007" // a dropped segment's row without its key
	RuleAsgRequired   = "ESR-R011" // an assignment lacks a required value
	RuleTermAfterHire = "ESR-R020" // termination before hire
	RuleLeaverReason  = "ESR-R021" // a termination needs a date and a reason
	RuleEffective     = "ESR-R022" // effective start after effective end
	RuleBirthHire     = "ESR-R023" // date of birth not before hire
	RuleDate          = "ESR-V001" // impossible calendar date
	RuleTimestamp     = "ESR-V002" // impossible timestamp
	RuleEmployeeNo    = "ESR-V010" // not an eight-digit employee number
	RuleAsgNumber     = "ESR-V011" // not an ESR assignment number
	RuleNINumber      = "ESR-V012" // not a valid NI number
	RuleEmail         = "ESR-V015" // warning: not a well-formed e-mail address
	RuleOccupation    = "ESR-V017" // not a three-character occupation code
	RuleFTE           = "ESR-V019" // FTE out of range
	RuleFTEOverOne    = "ESR-V020" // FTE above 1.0 (warning)
	RuleAsgPerson     = "ESR-X001" // assignment's person unknown
	RuleAsgPosition   = "ESR-X002" // assignment's position unknown
	RuleAsgOrg        = "ESR-X003" // assignment's organisation unknown
	RulePositionOrg   = "ESR-X006" // position's organisation unknown
	RuleStem          = "ESR-X007" // assignment number stem is not the employee number
	RuleOnePrimary    = "ESR-X008" // a second primary active assignment
	RuleDuplicateRow  = "ESR-X010" // warning: the same entity and start twice in a file
)

// FaultsPerFile is how many error fault kinds one change file carries
// (besides its bad delete row and its warning-only row). The kinds rotate
// from file to file, so numErrorFaults/FaultsPerFile change files plant
// every kind; a file holds exactly FaultsPerFile+1 rows at error severity,
// under the default error budget's minimum of 10, so no generated file is
// rejected whole.
const FaultsPerFile = 7

// plantFaults attaches today's fault kinds to people already in today's
// file (their rows follow the person's valid rows) or to the file's
// positions, plus one bad delete row and one row that only warns. Each fault row describes an entity
// that exists nowhere else (fresh ids; a terminated assignment, a person
// with no assignment, an unreferenced position) or repeats one exactly, so
// even a pipeline that failed to quarantine it would derive no event from
// it; the truth is unaffected either way.
func (s *sim) plantFaults() {
	s.rng, s.frng = s.frng, s.rng
	defer func() { s.rng, s.frng = s.frng, s.rng }()
	if len(s.touched) == 0 {
		if p := s.find(func(p *person) bool { return p.life == lcEmployed && p.touched != s.file }); p != nil {
			s.touch(p) // an unchanged re-send, just to carry the faults
		}
	}
	first := (s.file - 1) * FaultsPerFile
	for i := 0; i <= FaultsPerFile; i++ {
		k := faultKind((first + i) % int(numErrorFaults))
		if i == FaultsPerFile {
			k = faultEmail
		}
		switch k {
		case faultPositionDates, faultPositionOrg:
			if len(s.poss) > 0 {
				s.posFaults = append(s.posFaults, k)
			}
		case faultSecondPrimary:
			var cand []*person
			for _, p := range s.touched {
				if activePrimary(p) != nil {
					cand = append(cand, p)
				}
			}
			if len(cand) == 0 {
				// An unchanged re-send of someone with a primary post.
				if p := s.find(func(p *person) bool {
					return p.life == lcEmployed && p.touched != s.file && activePrimary(p) != nil
				}); p != nil {
					s.touch(p)
					cand = append(cand, p)
				}
			}
			if len(cand) > 0 {
				p := pick(s, cand)
				p.faults = append(p.faults, k)
			}
		default:
			if len(s.touched) > 0 {
				p := pick(s, s.touched)
				p.faults = append(p.faults, k)
			}
		}
	}
	s.badDels = 1
}

// activePrimary is the person's primary active type-E assignment, the one
// ESR-X008 counts (nil when none).
func activePrimary(p *person) *assignment {
	for _, a := range p.asgs {
		if a.primary && !a.applicant && a.status == asActive {
			return a
		}
	}
	return nil
}

// truncation picks the people the truncated full file leaves out: with
// --faults, the first periodic full file omits 40 % of the person groups
// (whole groups), as an ESR extract cut short would. Everybody with a change
// or a delete row today is kept, so the day's events and rows are all
// there; reference rows are never omitted. Under the GO feed's default
// `missing: ignore` an omission is no leave, so the truth is unchanged: the
// simulation never sees the omission, and the omitted people go on changing
// on later days. The choice draws on the fault PRNG only.
func (s *sim) truncation() map[*person]bool {
	if !s.cfg.Faults || s.file == 0 || s.res.Stats.TruncatedFullFiles > 0 {
		return nil
	}
	s.rng, s.frng = s.frng, s.rng
	defer func() { s.rng, s.frng = s.frng, s.rng }()
	keep := map[*person]bool{}
	for _, d := range s.deletes {
		if d.p != nil {
			keep[d.p] = true
		}
	}
	var cand []*person
	for _, p := range s.people {
		if p.touched != s.file && !keep[p] {
			cand = append(cand, p)
		}
	}
	n := min(len(cand), len(s.people)*2/5)
	omit := make(map[*person]bool, n)
	for i := 0; i < n; i++ { // a partial Fisher-Yates shuffle
		j := i + s.intn(len(cand)-i)
		cand[i], cand[j] = cand[j], cand[i]
		omit[cand[i]] = true
	}
	s.res.Stats.TruncatedFullFiles++
	s.res.Stats.OmittedPeople += n
	return omit
}

func pad8(v int) string {
	b := strconv.AppendInt(nil, int64(v), 10)
	for len(b) < 8 {
		b = append([]byte{'0'}, b...)
	}
	return string(b)
}

// fileName follows GO_<VPD>_EXP_GO{F|C}_<YYYYMMDD>_<seq>.DAT.
func (s *sim) fileName(full bool) string {
	t := "GOC"
	if full {
		t = "GOF"
	}
	return "GO_" + s.vpd + "_EXP_" + t + "_" + s.run.compact() + "_" + pad8(s.seq) + ".DAT"
}

// fullFile says whether the file being built is a full file: the first one,
// and with FullEvery every FullEvery-th change file.
func (s *sim) fullFile() bool {
	return s.file == 0 || (s.cfg.FullEvery > 0 && s.file%s.cfg.FullEvery == 0)
}

// createFile starts the day's file under name (in a region, in its
// trust's folder) and its truth record, whose index it returns.
func (s *sim) createFile(out Sink, name string) (w *fileWriter, fileRec int, err error) {
	path := name
	if s.reg != nil {
		path = s.cfg.Tenant + "/" + name
	}
	wc, err := out.Create(path)
	if err != nil {
		return nil, 0, err
	}
	s.name, s.path = name, path
	fileRec = len(s.truth)
	s.truth = append(s.truth, truthRec{file: s.file})
	return newFileWriter(wc, s.buf), fileRec, nil
}

func (s *sim) writeFile(out Sink) error {
	switch s.cfg.Format {
	case FormatGOv1:
		return s.writeFileV1(out)
	case FormatCSV:
		return s.writeCSV(out)
	}
	full := s.fullFile()
	w, fileRec, err := s.createFile(out, s.fileName(full))
	if err != nil {
		return err
	}

	// HDR: the previous run is the run date of the file before (for the full
	// file, the day before); the creation time is early on the run date.
	w.rec("HDR")
	w.s(s.name)
	w.ts(stamp{day: s.run, sec: int32(2*3600 + s.intn(3600))})
	w.s(s.vpd)
	w.ts(stamp{day: s.run - 1})
	w.ts(stamp{day: s.run})
	w.s("01")
	w.end()

	if full {
		// Everything that exists, entities created in error and not yet
		// deleted included; a later full file also carries the day's changes
		// (the touched people are among s.people) and delete rows.
		for _, l := range s.locs {
			s.writeLCA(w, l)
		}
		for _, l := range s.errLocs {
			s.writeLCA(w, l)
		}
		for _, o := range s.orgs {
			s.writeORA(w, o)
		}
		for _, o := range s.errOrgs {
			s.writeORA(w, o)
		}
		for _, p := range s.allPoss {
			s.writePOA(w, p)
		}
		for _, p := range s.errPoss {
			s.writePOA(w, p)
		}
		s.writePositionFaults(w)
		omit := s.truncation()
		for _, p := range s.people {
			if !omit[p] {
				s.writePerson(w, p)
			}
		}
		if s.file > 0 {
			s.res.Stats.FullFiles++
		}
	} else {
		for _, l := range s.fileLocs {
			s.writeLCA(w, l)
		}
		for _, o := range s.fileOrgs {
			s.writeORA(w, o)
		}
		for _, p := range s.filePoss {
			s.writePOA(w, p)
		}
		s.writePositionFaults(w)
		slices.SortFunc(s.touched, func(a, b *person) int { return cmp.Compare(a.id, b.id) })
		for _, p := range s.touched {
			s.writePerson(w, p)
		}
	}
	for _, d := range s.deletes {
		s.writeDelete(w, d.tag, d.id)
	}
	for i := 0; i < s.badDels; i++ {
		w.rec("PHD")
		w.s("X")
		w.b = appendInt(w.b, s.faultID())
		s.quarantine(w.end(), "PHD", RuleDeleteID, "id")
	}
	s.res.Stats.DeleteRows += len(s.deletes)

	w.rec("TRL")
	w.i(w.lines + 1)
	w.end()
	sum, err := w.close()
	s.buf = w.b
	if err != nil {
		return err
	}
	ft := "GOC"
	if full {
		ft = "GOF"
	}
	fi := FileInfo{Name: s.name, Path: s.path, Seq: s.seq, RunDate: s.run.iso(), Type: ft, Lines: w.lines, Rows: w.lines - 2, SHA256: sum}
	s.res.Files = append(s.res.Files, fi)
	s.res.Rows += int64(fi.Rows)
	s.truth[fileRec].t = TruthLine{Kind: KindFile, File: s.name, Tenant: s.cfg.Tenant, Seq: fi.Seq, RunDate: fi.RunDate, FileType: ft,
		Lines: fi.Lines, Rows: fi.Rows, SHA256: sum}
	s.seq++
	return nil
}

// writePerson writes a person group: PRA, then every assignment, phone,
// address and costing of that person, then any planted fault rows. The
// person's pending truth lines are resolved here, now that lines are known.
func (s *sim) writePerson(w *fileWriter, p *person) {
	p.praLine = s.writePRA(w, p)
	for _, a := range p.asgs {
		a.line = s.writeASA(w, p, a, asaOpts{})
	}
	for _, ph := range p.phones {
		s.writePHA(w, p, ph)
	}
	for _, ad := range p.addrs {
		s.writeADA(w, p, ad)
	}
	for _, c := range p.costs {
		s.writeCOA(w, p, c)
	}
	s.resolve(p)
	// Kind order puts the fault persons' PRA rows after the child rows.
	slices.Sort(p.faults)
	for _, f := range p.faults {
		s.writeFault(w, p, f)
	}
	p.faults = p.faults[:0]
}

func (s *sim) resolve(p *person) {
	for _, in := range p.intents {
		line := p.praLine
		if in.asg != nil {
			line = in.asg.line
		}
		t := TruthLine{
			Kind: in.kind, File: s.name, Line: line, Tenant: s.cfg.Tenant, VPD: s.vpd,
			PersonID: strconv.Itoa(p.id), EmployeeNumber: strconv.Itoa(p.empNo), EffectiveDate: in.eff.iso(),
		}
		if in.kind == KindEvent {
			t.Type = in.typ
			switch in.typ {
			case TypeStarter:
				t.AssignmentNumber = asgNumber(p, in.asg)
				t.Scheduled, t.Rehire, t.TransferFromTenant = in.scheduled, in.rehire, in.xferFrom
			case TypeLeaver:
				t.LeavingReason, t.DaysLate = in.reason, in.daysLate
				if in.lwd != noDate {
					t.LastWorkingDay = in.lwd.iso()
				}
				if in.held {
					t.Due = in.eff.iso()
				}
				t.TransferToTenant = in.xferTo
			case TypePosition:
				t.Change, t.AssignmentNumber = in.change, asgNumber(p, in.asg)
			}
			s.v1Truth(&t)
		}
		rec := truthRec{file: s.file, t: t}
		if in.held {
			rec.owner = p
			p.pendingIdx, p.pendingOff = len(s.truth), -1
		}
		s.truth = append(s.truth, rec)
	}
	p.intents = p.intents[:0]
}

func (s *sim) quarantine(line int, rec, rule, field string) {
	s.truth = append(s.truth, truthRec{file: s.file, t: TruthLine{
		Kind: KindQuarantine, File: s.name, Line: line, Tenant: s.cfg.Tenant, RecordType: rec, Rule: rule, Field: field,
		Severity: SeverityError,
	}})
	s.res.Stats.QuarantineRows++
}

// warn records a warning a row must carry through validation.
func (s *sim) warn(line int, rec, rule, field string) {
	s.truth = append(s.truth, truthRec{file: s.file, t: TruthLine{
		Kind: KindWarning, File: s.name, Line: line, Tenant: s.cfg.Tenant, RecordType: rec, Rule: rule, Field: field,
		Severity: SeverityWarning,
	}})
}

// writePositionFaults writes today's position-level fault rows: copies of
// a regular position under fresh ids, which no assignment ever names.
func (s *sim) writePositionFaults(w *fileWriter) {
	if len(s.posFaults) == 0 {
		return
	}
	s.rng, s.frng = s.frng, s.rng
	defer func() { s.rng, s.frng = s.frng, s.rng }()
	for _, k := range s.posFaults {
		p := *pick(s, s.poss)
		p.id, p.number, p.updated = s.faultID(), s.faultID(), s.recent()
		switch k {
		case faultPositionDates:
			p.from = s.run - 5
			s.quarantine(s.writePOAOpts(w, &p, poaOpts{to: s.run - 10}), "POA", RuleEffective, "effective_to")
		case faultPositionOrg:
			s.quarantine(s.writePOAOpts(w, &p, poaOpts{to: noDate, orgID: s.faultID()}), "POA", RulePositionOrg, "organisation_id")
		}
	}
	s.posFaults = s.posFaults[:0]
}

func (s *sim) writeFault(w *fileWriter, p *person, f faultKind) {
	s.rng, s.frng = s.frng, s.rng
	defer func() { s.rng, s.frng = s.frng, s.rng }()
	upd := s.recent()
	y, _, _ := s.run.civil()
	switch f {
	case faultDate:
		w.rec("PHA")
		w.i(p.id)
		w.i(s.faultID())
		w.s("W1")
		w.s(s.landline())
		w.b = append(append(append(w.b, '~'), strconv.Itoa(y)...), "0231"...) // 31 February
		w.s("")
		w.ts(upd)
		s.quarantine(w.end(), "PHA", RuleDate, "effective_start")
	case faultTimestamp:
		ad := &address{id: s.faultID(), line1: "2 " + pick(s, streets), town: pick(s, towns), postcode: s.postcode(), from: s.run}
		ad.updated = stamp{day: s.run - 1, sec: 25 * 3600} // hour 25
		s.quarantine(s.writeADA(w, p, ad), "ADA", RuleTimestamp, "last_update")
	case faultNoPerson:
		ad := &address{id: s.faultID(), line1: "3 " + pick(s, streets), town: pick(s, towns), postcode: s.postcode(), from: s.run, updated: upd}
		s.quarantine(s.writeADAFor(w, 0, ad), "ADA", RuleRowKey, "person_id")
	case faultNoAsgNumber, faultUnknownPosition, faultBadAsgNumber, faultFTE, faultOccupation,
		faultUnknownPerson, faultUnknownOrg, faultStem:
		// A copy of the person's first assignment under a fresh id, ended
		// weeks ago: an assignment that was never live.
		t := *p.asgs[0]
		t.id, t.suffix, t.applicant, t.primary = s.faultID(), 90+s.intn(9), false, false
		t.status, t.userStatus = asTerminated, "Terminated"
		t.earliest, t.end, t.lwd, t.effStart = s.run-40, s.run-10, s.run-10, s.run-9
		t.gradeStart, t.projHire, t.contract, t.updated = s.run-40, noDate, noDate, upd
		var o asaOpts
		var rule, field string
		switch f {
		case faultNoAsgNumber:
			o.noNumber, rule, field = true, RuleAsgRequired, "assignment_number"
		case faultUnknownPosition:
			o.positionID, rule, field = 99_000_000+s.intn(900_000), RuleAsgPosition, "position_id"
		case faultBadAsgNumber:
			o.number, rule, field = pad8(p.empNo)+"-"+strconv.Itoa(100+s.intn(900)), RuleAsgNumber, "assignment_number"
		case faultFTE:
			// Above the 1.5 maximum (0 is valid: bank and honorary posts
			// carry it), so also above 1.0: the ESR-V020 warning too.
			o.fte, rule, field = "1.8", RuleFTE, "fte"
		case faultOccupation:
			o.occ, rule, field = jobs[t.pos.job].occ[:2], RuleOccupation, "occupation_code"
		case faultUnknownPerson:
			o.personID, rule, field = s.faultID(), RuleAsgPerson, "person_id"
		case faultUnknownOrg:
			o.orgID, rule, field = s.faultID(), RuleAsgOrg, "organisation_id"
		case faultStem:
			// Another eight-digit number: the fault range never meets the
			// employee numbers.
			o.number, rule, field = pad8(s.faultID())+"-"+strconv.Itoa(t.suffix), RuleStem, "assignment_number"
		}
		line := s.writeASA(w, p, &t, o)
		s.quarantine(line, "ASA", rule, field)
		if f == faultFTE {
			s.warn(line, "ASA", RuleFTEOverOne, "fte")
		}
	case faultSecondPrimary:
		// The primary active assignment again, unchanged: a second primary
		// active row for the person (ESR-X008) that, were it let through,
		// would change nothing. The first row of the pair is the duplicate
		// ESR-X010 flags.
		a := activePrimary(p)
		s.warn(a.line, "ASA", RuleDuplicateRow, "")
		s.quarantine(s.writeASA(w, p, a, asaOpts{}), "ASA", RuleOnePrimary, "primary")
	case faultTermBeforeHire, faultLeaverNoReason, faultBirthAfterHire, faultEmployeeNumber, faultNINumber, faultEmail:
		s.writeFaultPerson(w, p, f)
	case faultColumns:
		w.rec("PHA")
		w.i(p.id)
		w.i(s.faultID())
		w.s("M")
		w.s(s.mobile())
		w.d(s.run)
		w.s("") // 7 columns: the last-update column is missing
		s.quarantine(w.end(), "PHA", RuleColumnCount, "")
	case faultRecordType:
		w.rec("ZZA")
		w.i(p.id)
		w.i(s.faultID())
		w.d(s.run)
		s.quarantine(w.end(), "ZZA", RuleRecordType, "")
	}
}

// writeFaultPerson writes a PRA of a fresh person modelled on p: an
// ex-employee hired about a year ago who left a month ago, with no
// assignment, no NI number and no NHS Unique ID (so nothing can match it to
// p), then breaks one rule.
func (s *sim) writeFaultPerson(w *fileWriter, p *person, f faultKind) {
	id := *p.id0
	id.ni = ""
	fp := &person{
		id: s.faultID(), empNo: s.faultID(), id0: &id, title: p.title, last: p.last,
		hire: s.run - 400, term: s.run - 30, reason: pick(s, leavingReasons), ptype: ptExEmployee,
		effStart: s.run - 30, updated: s.recent(), noNHS: true,
	}
	fp.nhsStart = fp.hire
	var o praOpts
	var rule, field string
	switch f {
	case faultTermBeforeHire:
		fp.term = fp.hire - 10
		fp.effStart = fp.term
		rule, field = RuleTermAfterHire, "actual_termination_date"
	case faultLeaverNoReason:
		fp.reason = ""
		rule, field = RuleLeaverReason, "leaving_reason"
	case faultBirthAfterHire:
		id.dob = fp.hire + 1
		rule, field = RuleBirthHire, "date_of_birth"
	case faultEmployeeNumber:
		o.empNo = "E" + strconv.Itoa(fp.empNo)[1:]
		rule, field = RuleEmployeeNo, "employee_number"
	case faultNINumber:
		// D is never an NI prefix letter (HMRC NIM39110).
		o.ni = "DA" + strconv.Itoa(fp.empNo)[2:] + "A"
		rule, field = RuleNINumber, "ni_number"
	case faultEmail:
		o.email = "staff.member.example.nhs.uk"
	}
	line := s.writePRAOpts(w, fp, o)
	switch f {
	case faultEmail:
		s.warn(line, "PRA", RuleEmail, "office_email")
	default:
		s.quarantine(line, "PRA", rule, field)
	}
}

// finishTruth drops the replaced and withdrawn held leavers, sorts the
// trust's truth by file and line and counts the events into the stats.
func (s *sim) finishTruth() []truthRec {
	recs := slices.DeleteFunc(s.truth, func(r truthRec) bool { return r.dead })
	slices.SortStableFunc(recs, func(a, b truthRec) int {
		if c := cmp.Compare(a.file, b.file); c != 0 {
			return c
		}
		return cmp.Compare(a.t.Line, b.t.Line)
	})
	for i := range recs {
		countStats(&s.res.Stats, statBits(&recs[i].t), recs[i].file)
	}
	return recs
}

// writeTruth writes truth.jsonl from records already in order.
func writeTruth(out Sink, recs []truthRec) error {
	wc, err := out.Create(TruthFile)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(wc, 64<<10)
	var b []byte
	for i := range recs {
		b = append(recs[i].t.AppendJSON(b[:0]), '\n')
		if _, err := bw.Write(b); err != nil {
			wc.Close()
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		wc.Close()
		return err
	}
	return wc.Close()
}

// faultID numbers fault rows from their own range without touching either
// PRNG, so fault rows never shift the ids of the simulated trust.
func (s *sim) faultID() int {
	s.nextFault += 3
	return s.nextFault
}
