package gen

import (
	"cmp"
	"slices"
)

// GO v1 ("ASG" sub-interface, ESR-FORMATS §3) renders the same simulated
// history as GO v2, in the shape v1 can carry: a person group is a PER row
// followed by that person's ASG rows (v1 links them by file order only);
// organisations, locations and posts are named by text on the ASG row, so
// there are no reference rows; there are no delete rows.
//
// What v1 cannot carry, and how the writer and the truth express it
// (docs/generator.md, "GO v1"):
//   - leaving reason and last working day: no v1 column, so a v1 leaver's
//     truth carries leaving_reason "" and no last_working_day;
//   - an assignment's effective start: no v1 column, so normalise dates a v1
//     row on its file's run date, and a v1 ATTRIBUTES_CHANGED truth line is
//     dated on the run date of the file that carries the change;
//   - delete rows: rows created in error and deleted later (phones,
//     addresses, costings, reference rows) have no v1 form; an assignment
//     created in error is never written (it would stay live: v1 has no ASD),
//     and an applicant created in error is written and then simply no longer
//     sent (applicants raise no event either way);
//   - planted faults (--faults) are GO v2 rows: Config refuses them with
//     go-v1.
//
// Text columns are quoted ("" inside doubled), dates, numbers and flags are
// not, as in the ESR samples.

// v1Kind is the extract-type token of a v1 file name.
func v1Kind(full bool) string {
	if full {
		return "Full"
	}
	return "Change"
}

// fileNameV1 follows GO_<VPD>_ASG_<YYYYMMDD>_<Full|Change>_<seq>.DAT.
func (s *sim) fileNameV1(full bool) string {
	return "GO_" + s.vpd + "_ASG_" + s.run.compact() + "_" + v1Kind(full) + "_" + pad8(s.seq) + ".DAT"
}

// v1 field writers: comma-delimited, text quoted.
func (w *fileWriter) q(v string) {
	w.b = append(w.b, ',', '"')
	for i := 0; i < len(v); i++ {
		if v[i] == '"' {
			w.b = append(w.b, '"')
		}
		w.b = append(w.b, v[i])
	}
	w.b = append(w.b, '"')
}
func (w *fileWriter) u(v string) { w.b = append(append(w.b, ','), v...) }
func (w *fileWriter) ui(v int)   { w.b = appendInt(append(w.b, ','), v) }
func (w *fileWriter) ud(v date)  { w.b = v.appendCompact(append(w.b, ',')) }
func (w *fileWriter) commas(n int) {
	for ; n > 0; n-- {
		w.b = append(w.b, ',')
	}
}

// writeFileV1 writes the day's file as GO v1: every person in a full file,
// the touched people in a change file.
func (s *sim) writeFileV1(out Sink) error {
	full := s.fullFile()
	w, fileRec, err := s.createFile(out, s.fileNameV1(full))
	if err != nil {
		return err
	}

	// The v2 header draws its creation time from the simulation's PRNG; v1
	// has no such column but draws the same, so both formats simulate the
	// same trust.
	_ = s.intn(3600)
	w.rec("HDR")
	w.u(s.name)
	w.end()
	if full {
		for _, p := range s.people {
			s.writePersonV1(w, p)
		}
		if s.file > 0 {
			s.res.Stats.FullFiles++
		}
	} else {
		slices.SortFunc(s.touched, func(a, b *person) int { return cmp.Compare(a.id, b.id) })
		for _, p := range s.touched {
			s.writePersonV1(w, p)
		}
	}
	rows := w.lines - 1
	w.rec("FTR")
	w.u(s.name)
	w.ui(rows)
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
	fi := FileInfo{Name: s.name, Path: s.path, Seq: s.seq, RunDate: s.run.iso(), Type: ft, Lines: w.lines, Rows: rows, SHA256: sum}
	s.res.Files = append(s.res.Files, fi)
	s.res.Rows += int64(fi.Rows)
	s.truth[fileRec].t = TruthLine{Kind: KindFile, File: s.name, Tenant: s.cfg.Tenant, Seq: fi.Seq, RunDate: fi.RunDate, FileType: ft,
		Lines: fi.Lines, Rows: fi.Rows, SHA256: sum}
	s.seq++
	return nil
}

// writePersonV1 writes a person group: PER, then the person's assignments
// (those created in error excepted: v1 could never delete them).
func (s *sim) writePersonV1(w *fileWriter, p *person) {
	p.praLine = s.writePER(w, p)
	for _, a := range p.asgs {
		if !a.erroneous {
			a.line = s.writeASG(w, p, a)
		}
	}
	s.resolve(p)
}

func (s *sim) writePER(w *fileWriter, p *person) int {
	id := p.id0
	w.rec("PER")
	w.ui(p.id)
	w.ui(p.empNo)
	w.q(p.title)
	w.q(p.last)
	w.q(id.first)
	w.q(id.middle)
	w.q(p.maiden)
	if id.female {
		w.q("Female")
	} else {
		w.q("Male")
	}
	w.ud(id.dob)
	w.u(id.ni)
	w.ud(p.hire)
	w.ud(p.term)
	w.u(yesNo(p.ptype == ptEmployee))
	var ad *address
	for _, a := range p.addrs {
		if a.primary || ad == nil {
			ad = a
		}
	}
	if ad != nil {
		w.q(ad.line1)
		w.q(ad.line2)
		w.q(ad.town)
		w.q(county)
		w.q(ad.postcode)
		w.q("GB")
	} else {
		w.q("")
		w.q("")
		w.q("")
		w.q("")
		w.q("")
		w.q("")
	}
	w.q("") // personal e-mail
	w.q(phoneOf(p, "H1"))
	w.q("") // home fax
	w.q(phoneOf(p, "M"))
	w.b = append(w.b, ',', '"')
	w.b = appendEmail(w.b, id.first, p.last)
	w.b = append(w.b, '"')
	w.q("") // pager
	w.q(phoneOf(p, "W1"))
	w.u("") // WTR opt-out
	w.q("") // applicant number
	w.q(yesNo(p.ptype == ptApplicant))
	return w.end()
}

func yesNo(v bool) string {
	if v {
		return "Yes"
	}
	return "No"
}

func phoneOf(p *person, typ string) string {
	for _, ph := range p.phones {
		if ph.typ == typ {
			return ph.number
		}
	}
	return ""
}

func (s *sim) writeASG(w *fileWriter, p *person, a *assignment) int {
	j := &jobs[a.pos.job]
	g := &grades[a.grade]
	w.rec("ASG")
	w.ui(a.id)
	w.b = appendAsgNumber(append(w.b, ','), p, a)
	w.ud(a.earliest)
	w.ud(a.end)
	w.q(a.userStatus)
	w.u("Contracted")
	if a.bank {
		w.q(s.payrollWeekly)
		w.q("Week")
	} else {
		w.q(s.payrollMonthly)
		w.q("Calendar Month")
	}
	l := a.loc
	w.q(l.addr1)
	w.q(l.addr2)
	w.q(l.town)
	w.q("NSH") // county code
	w.q(l.postcode)
	w.q("GB")
	w.u("0") // supervisor flag
	w.commas(2)
	w.q("") // supervisor full name
	w.q("AfC Annual Leave Accrual 1 NHS")
	if a.fullTime {
		w.u("FT")
	} else {
		w.u("PT")
	}
	w.q(a.category)
	if a.primary {
		w.u("1")
	} else {
		w.u("0")
	}
	w.u(a.hours)
	w.q("Week")
	if j.medical {
		w.u("40")
	} else {
		w.u("37.5")
	}
	w.commas(2) // sessions, sessions frequency
	w.q("")     // work pattern details
	w.q("")     // work pattern start day
	w.q("")     // flexible working pattern
	w.q("Availability Schedule")
	w.q(a.org.name)
	w.u(s.cfg.Tenant)
	w.b = a.pos.appendComposite(append(w.b, ',', '"'))
	w.b = append(w.b, '"')
	w.q(j.role)
	w.u(j.occ)
	w.q(l.code)
	w.q("NHS|" + g.code + "|" + g.desc)
	w.q(j.staffGroup + "|" + j.role)
	w.q(l.code + "|Standard User||")
	if a.bank {
		w.q("GTA|BNK|")
	} else {
		w.q("GTA||")
	}
	w.u("")
	w.ud(a.projHire)
	w.q("") // vacancy id
	return w.end()
}

// v1Truth adjusts a truth line to what a GO v1 file can carry (see the
// comment at the top of this file).
func (s *sim) v1Truth(t *TruthLine) {
	if s.cfg.Format != FormatGOv1 || t.Kind != KindEvent {
		return
	}
	switch {
	case t.Type == TypeLeaver:
		t.LeavingReason, t.LastWorkingDay = "", ""
	case t.Type == TypePosition && t.Change == ChangeAttributes:
		t.EffectiveDate = s.run.iso()
	}
}
