package gen

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"strconv"
)

// fileWriter renders ESR rows into a reusable buffer and streams them through
// bufio; fields are appended with strconv and hand-written date formatting so
// the hot path never touches fmt or allocates per field.
type fileWriter struct {
	bw    *bufio.Writer
	sum   hash.Hash
	wc    io.WriteCloser
	b     []byte
	lines int
	err   error
}

func newFileWriter(wc io.WriteCloser, buf []byte) *fileWriter {
	h := sha256.New()
	return &fileWriter{bw: bufio.NewWriterSize(io.MultiWriter(wc, h), 256<<10), sum: h, wc: wc, b: buf[:0]}
}

func appendInt(b []byte, v int) []byte { return strconv.AppendInt(b, int64(v), 10) }

func (w *fileWriter) rec(tag string) { w.b = append(w.b[:0], tag...) }
func (w *fileWriter) s(v string)     { w.b = append(append(w.b, '~'), v...) }
func (w *fileWriter) i(v int)        { w.b = appendInt(append(w.b, '~'), v) }
func (w *fileWriter) d(v date)       { w.b = v.appendCompact(append(w.b, '~')) }
func (w *fileWriter) ts(v stamp)     { w.b = v.appendTo(append(w.b, '~')) }
func (w *fileWriter) empty(n int) {
	for ; n > 0; n-- {
		w.b = append(w.b, '~')
	}
}

// iz writes an id that may be absent (0).
func (w *fileWriter) iz(v int) {
	w.b = append(w.b, '~')
	if v != 0 {
		w.b = appendInt(w.b, v)
	}
}

func (w *fileWriter) yn(v bool, yes, no string) {
	if v {
		w.s(yes)
	} else {
		w.s(no)
	}
}

// end terminates the row and returns its 1-based line number.
func (w *fileWriter) end() int {
	w.b = append(w.b, '\n')
	if w.err == nil {
		_, w.err = w.bw.Write(w.b)
	}
	w.lines++
	return w.lines
}

func (w *fileWriter) close() (string, error) {
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	if err := w.wc.Close(); w.err == nil {
		w.err = err
	}
	return hex.EncodeToString(w.sum.Sum(nil)), w.err
}

func (s *sim) writeLCA(w *fileWriter, l *location) int {
	w.rec("LCA")
	w.i(l.id)
	w.s(l.code)
	w.s(l.desc)
	w.s("") // inactive date
	w.s(l.addr1)
	w.s(l.addr2)
	w.s("")
	w.s(l.town)
	w.s(county)
	w.s(l.postcode)
	w.s("United Kingdom")
	w.s(l.tel)
	w.s("") // fax
	w.s("Yes")
	w.s(s.cfg.Tenant + "01")
	w.empty(5) // Welsh translations
	w.ts(l.updated)
	return w.end()
}

func (s *sim) writeORA(w *fileWriter, o *organisation) int {
	w.rec("ORA")
	w.i(o.id)
	w.s(o.name)
	w.s("NHS_DE")
	w.d(o.from)
	w.s("")
	w.i(hierarchyVersion)
	w.d(s.hierFrom)
	w.s("")
	w.s(o.cc)
	w.iz(o.parent)
	w.s(s.cfg.Tenant)
	w.i(o.loc.id)
	w.ts(o.updated)
	w.s(o.ccDesc)
	return w.end()
}

func (s *sim) writePOA(w *fileWriter, p *position) int {
	return s.writePOAOpts(w, p, poaOpts{to: noDate})
}

// poaOpts lets the fault injector render an otherwise valid POA row with one
// deliberate defect.
type poaOpts struct {
	to    date // effective to (noDate: open)
	orgID int  // the organisation id written, instead of the position's
}

func (s *sim) writePOAOpts(w *fileWriter, p *position, o poaOpts) int {
	j := &jobs[p.job]
	g := &grades[j.grade]
	w.rec("POA")
	w.i(p.id)
	w.d(p.from)
	w.d(o.to)
	w.i(p.number)
	w.b = p.appendComposite(append(w.b, '~'))
	w.s(p.fte)
	w.s(j.subj)
	w.s(j.staffGroup)
	w.s(j.role)
	w.s(j.occ)
	w.s(g.code)
	w.s(g.code)
	w.b = append(w.b, "|1"...)
	w.s("Not Applicable")
	if o.orgID != 0 {
		w.i(o.orgID)
	} else {
		w.i(p.org.id)
	}
	w.s("Active")
	w.s("NONE")
	w.s("Yes")
	w.s("No")
	w.s("") // deanery post number
	w.s("")
	w.s(s.cfg.Tenant)
	w.ts(p.updated)
	w.s(j.subjDesc)
	return w.end()
}

func (s *sim) writePRA(w *fileWriter, p *person) int { return s.writePRAOpts(w, p, praOpts{}) }

// praOpts lets the fault injector render an otherwise valid PRA row with one
// deliberate defect; empty fields mean "as the person says".
type praOpts struct {
	empNo, ni, email string
}

func (s *sim) writePRAOpts(w *fileWriter, p *person, o praOpts) int {
	id := p.id0
	w.rec("PRA")
	w.i(p.id)
	w.d(p.effStart)
	w.s("")
	if o.empNo != "" {
		w.s(o.empNo)
	} else {
		w.i(p.empNo)
	}
	w.s(p.title)
	w.s(p.last)
	w.s(id.first)
	w.s(id.middle)
	w.s(p.maiden)
	w.s(p.preferred)
	w.s("") // previous last name
	w.yn(id.female, "F", "M")
	w.d(id.dob)
	if o.ni != "" {
		w.s(o.ni)
	} else {
		w.s(id.ni)
	}
	if p.noNHS {
		w.s("")
	} else {
		w.i(id.nhsID)
	}
	w.d(p.hire)
	w.d(p.term)
	w.s(p.reason)
	w.empty(10) // 19-28: status flag, WTR, special-category fields left blank, CSDs
	w.b = strconv.AppendInt(append(w.b, '~'), id.crs, 10)
	w.empty(3)
	w.s(personTypes[p.ptype])
	w.s(userPersonTypes[p.ptype])
	if o.email != "" {
		w.s(o.email)
	} else {
		w.b = append(w.b, '~')
		w.b = appendEmail(w.b, id.first, p.last)
	}
	w.d(p.nhsStart)
	w.s("")
	w.ts(p.updated)
	w.s("N")
	w.s("")
	w.s(id.nationality)
	w.empty(2)
	return w.end()
}

func appendEmail(b []byte, first, last string) []byte {
	for i := 0; i < len(first); i++ {
		b = append(b, lower(first[i]))
	}
	b = append(b, '.')
	for i := 0; i < len(last); i++ {
		if c := last[i]; c != ' ' && c != '\'' {
			b = append(b, lower(c))
		}
	}
	return append(b, "@example.nhs.uk"...)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func appendAsgNumber(b []byte, p *person, a *assignment) []byte {
	b = appendInt(b, p.empNo)
	if a.suffix > 1 {
		b = append(b, '-')
		b = appendInt(b, a.suffix)
	}
	return b
}

func asgNumber(p *person, a *assignment) string {
	return string(appendAsgNumber(nil, p, a))
}

// asaOpts lets the fault injector render an otherwise valid ASA row with one
// deliberate defect.
type asaOpts struct {
	noNumber   bool
	number     string // the assignment number written, instead of the person's
	positionID int    // a position no file defines
	personID   int    // the person id written, instead of the person's
	orgID      int    // the organisation id written, instead of the assignment's
	fte        string // the FTE written, instead of the assignment's
	occ        string // the occupation code in the position name, instead of the job's
}

func (s *sim) writeASA(w *fileWriter, p *person, a *assignment, o asaOpts) int {
	j := &jobs[a.pos.job]
	g := &grades[a.grade]
	w.rec("ASA")
	if o.personID != 0 {
		w.i(o.personID)
	} else {
		w.i(p.id)
	}
	w.i(a.id)
	w.d(a.effStart)
	w.s("")
	w.d(a.earliest)
	w.yn(a.applicant, "A", "E")
	w.b = append(w.b, '~')
	switch {
	case o.number != "":
		w.b = append(w.b, o.number...)
	case !o.noNumber:
		w.b = appendAsgNumber(w.b, p, a)
	}
	w.s(sysStatuses[a.status])
	w.s(a.userStatus)
	w.s("")
	if a.bank {
		w.s(s.payrollWeekly)
		w.s("Week")
	} else {
		w.s(s.payrollMonthly)
		w.s("Calendar Month")
	}
	w.i(a.loc.id)
	w.s("N")
	w.empty(4) // supervisor person/assignment/number, department manager
	w.yn(a.fullTime, "FT", "PT")
	w.s(a.category)
	w.yn(a.primary, "Yes", "No")
	w.s(a.hours)
	w.s("Week")
	if jobs[a.pos.job].medical {
		w.s("40")
	} else {
		w.s("37.5")
	}
	if o.fte != "" {
		w.s(o.fte)
	} else {
		w.s(a.fte)
	}
	w.s("")
	if o.orgID != 0 {
		w.i(o.orgID)
	} else {
		w.i(a.org.id)
	}
	if o.positionID != 0 {
		w.i(o.positionID)
		w.b = append(w.b, '~')
		w.b = appendInt(w.b, o.positionID%10000000)
		w.b = append(w.b, "|Unknown Post|"...)
		w.b = append(w.b, j.occ...)
		w.b = append(w.b, '|')
		w.b = append(w.b, areas[a.pos.area]...)
		w.b = append(w.b, '|')
	} else if o.occ != "" {
		w.i(a.pos.id)
		w.b = append(w.b, '~')
		w.b = appendInt(w.b, a.pos.number)
		w.b = append(w.b, '|')
		w.b = append(w.b, a.pos.title...)
		w.b = append(w.b, '|')
		w.b = append(w.b, o.occ...)
		w.b = append(w.b, '|')
		w.b = append(w.b, areas[a.pos.area]...)
		w.b = append(w.b, '|')
	} else {
		w.i(a.pos.id)
		w.b = a.pos.appendComposite(append(w.b, '~'))
	}
	w.s("NHS|")
	w.b = append(w.b, g.code...)
	w.b = append(w.b, '|')
	w.b = append(w.b, g.desc...)
	w.s(g.code)
	w.b = append(w.b, '|')
	w.b = appendInt(w.b, a.step)
	w.d(a.gradeStart)
	w.i(g.salary)
	w.s(j.staffGroup)
	w.b = append(w.b, '|')
	w.b = append(w.b, j.role...)
	w.s(a.loc.code)
	w.b = append(w.b, "|Standard User||"...)
	if a.bank {
		w.s("GTA|BNK|")
	} else {
		w.s("GTA||")
	}
	w.s("No")
	w.d(a.projHire)
	w.s("")
	w.d(a.contract)
	w.s("")
	w.s("")
	w.s("Y")
	w.ts(a.updated)
	w.d(a.lwd)
	w.s("")
	w.s("N")
	w.d(a.end)
	w.s("")
	return w.end()
}

func (s *sim) writePHA(w *fileWriter, p *person, ph *phone) int {
	w.rec("PHA")
	w.i(p.id)
	w.i(ph.id)
	w.s(ph.typ)
	w.s(ph.number)
	w.d(ph.from)
	w.s("")
	w.ts(ph.updated)
	return w.end()
}

func (s *sim) writeADA(w *fileWriter, p *person, ad *address) int { return s.writeADAFor(w, p.id, ad) }

// writeADAFor takes the person id separately so a fault row can leave it out.
func (s *sim) writeADAFor(w *fileWriter, personID int, ad *address) int {
	w.rec("ADA")
	w.iz(personID)
	w.i(ad.id)
	w.s("H")
	w.s("GB")
	w.yn(ad.primary, "Yes", "No")
	w.s(ad.line1)
	w.s(ad.line2)
	w.s("")
	w.s(ad.town)
	w.s(county)
	w.s(ad.postcode)
	w.s("GB")
	w.d(ad.from)
	w.s("")
	w.ts(ad.updated)
	return w.end()
}

func (s *sim) writeCOA(w *fileWriter, p *person, c *costing) int {
	w.rec("COA")
	w.i(p.id)
	w.i(c.asg.id)
	w.i(c.id)
	w.d(c.from)
	w.d(c.to)
	w.s(s.cfg.Tenant)
	w.s("N")
	w.s(c.cc)
	w.s(jobs[c.asg.pos.job].subj)
	w.s("")
	w.s("")
	w.s("")
	w.s("")
	w.s(c.pct)
	w.ts(c.updated)
	return w.end()
}

func (s *sim) writeDelete(w *fileWriter, tag string, id int) int {
	w.rec(tag)
	w.i(id)
	return w.end()
}
