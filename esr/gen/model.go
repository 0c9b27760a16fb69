package gen

// The simulation keeps one in-memory record per ESR entity. Rows are always
// rendered from this state, so a person written in any file shows exactly
// what the simulation believes at that moment; truth events are recorded by
// the action that changes the state, never by looking at the rendered rows.

type location struct {
	id                                int
	code, desc                        string
	addr1, addr2, town, postcode, tel string
	from                              date
	updated                           stamp
}

type organisation struct {
	id, parent int // parent 0 = the root of the hierarchy
	loc        *location
	name       string
	cc, ccDesc string
	from       date
	updated    stamp
	area       int // index into areas; -1 for the root and directorates
}

type position struct {
	id, number int
	seq        int // index in sim.allPoss
	job        int // index into jobs
	title      string
	area       int
	org        *organisation
	fte        string
	from       date
	updated    stamp
	// erroneous positions were created by mistake and are deleted again with
	// POD; no assignment ever points at one.
	erroneous bool
}

// composite renders the ESR position name: number|title|occupation|area|.
func (p *position) appendComposite(b []byte) []byte {
	b = appendInt(b, p.number)
	b = append(b, '|')
	b = append(b, p.title...)
	b = append(b, '|')
	b = append(b, jobs[p.job].occ...)
	b = append(b, '|')
	b = append(b, areas[p.area]...)
	return append(b, '|')
}

// identity is what survives a rehire: ESR gives the returning human a new
// person id and employee number but the same NHS Unique ID, NI number and
// date of birth.
type identity struct {
	first, middle string
	surname       string
	female        bool
	dob           date
	ni            string
	nhsID         int
	crs           int64
	nationality   string
	// xfer: this human moved between trusts of the region. Such a human is
	// kept out of further transfers and rehires, and never leaves again with
	// a transfer reason, so the cross-trust links stay unambiguous.
	xfer bool
}

// System person types (PRA column 33).
const (
	ptApplicant = iota
	ptEmployee
	ptExEmployee
)

var personTypes = [...]string{"APL", "EMP", "EX_EMP"}
var userPersonTypes = [...]string{"Applicant", "Employee", "Ex-employee"}

// Simulation life-cycle of a person, finer than the ESR person type.
const (
	lcApplicant = iota
	lcEmployed
	lcPendingLeave // termination recorded with a future leaving date
	lcLeft
	lcDeleted
)

type person struct {
	id, empNo int
	id0       *identity
	title     string
	last      string
	maiden    string
	preferred string
	hire      date
	term      date
	reason    string
	ptype     int
	effStart  date
	nhsStart  date
	updated   stamp
	asgs      []*assignment
	phones    []*phone
	addrs     []*address
	costs     []*costing
	maxSuffix int

	// simulation bookkeeping
	life        int
	touched     int // index of the last file that wrote this person; -1 = never
	suspendTill int // file index on which a suspension ends; 0 = not suspended
	locked      bool
	aplStage    int   // 0 ACTIVE_APL, 1 OFFER, 2 ACCEPTED
	aplNext     int   // file index of the next applicant step
	pendingIdx  int   // index into sim.truth of the held leaver event; -1 = none (or spooled)
	pendingOff  int64 // region: offset of the spooled held leaver event; -1 = none
	rehired     bool
	noNHS       bool // a rehire keyed without an NHS Unique ID (matched on NI number + date of birth)
	xferOut     bool // leaving for another trust: the held leaver is never withdrawn or re-dated
	leftOn      date // leaving date once the person has left; rehires must start after it
	unlockAt    int  // file index from which a locked person is free again
	praLine     int
	intents     []intent
	faults      []faultKind
}

// System assignment statuses (ASA column 8).
const (
	asActive = iota
	asSuspended
	asTerminated
	asApplicant
	asOffer
	asAccepted
)

var sysStatuses = [...]string{"ACTIVE_ASSIGN", "SUSP_ASSIGN", "TERM_ASSIGN", "ACTIVE_APL", "OFFER", "ACCEPTED"}

type assignment struct {
	id         int
	suffix     int // 1 = the first post (no suffix), 2 = "-2", ...
	applicant  bool
	status     int
	userStatus string
	effStart   date
	earliest   date
	loc        *location
	org        *organisation
	pos        *position
	grade      int
	step       int
	gradeStart date
	primary    bool
	bank       bool
	category   string
	fullTime   bool
	hours, fte string
	lwd, end   date
	projHire   date
	contract   date
	updated    stamp
	erroneous  bool // created in error; deleted later with ASD
	line       int  // line in the file currently being written
}

// live reports whether the assignment keeps its person employed: a type E
// assignment that is active or suspended (maternity, career break).
func (a *assignment) live() bool {
	return !a.applicant && (a.status == asActive || a.status == asSuspended)
}

type phone struct {
	id        int
	typ       string
	number    string
	from      date
	updated   stamp
	erroneous bool
}

type address struct {
	id             int
	line1, line2   string
	town, postcode string
	from           date
	updated        stamp
	primary        bool
	erroneous      bool
}

type costing struct {
	id        int
	asg       *assignment
	from, to  date
	cc        string
	pct       string
	updated   stamp
	erroneous bool
}

// heldPending says whether p's held leaver event is recorded and may still
// be withdrawn or re-dated.
func (p *person) heldPending() bool { return p.pendingIdx >= 0 || p.pendingOff >= 0 }

// liveCount is the number of assignments keeping the person employed.
func (p *person) liveCount() int {
	n := 0
	for _, a := range p.asgs {
		if a.live() {
			n++
		}
	}
	return n
}

func (p *person) primaryAsg() *assignment {
	for _, a := range p.asgs {
		if a.primary && a.live() {
			return a
		}
	}
	return nil
}

// latestStart is the latest start among live assignments: a leaving date
// must come after it.
func (p *person) latestStart() date {
	l := noDate
	for _, a := range p.asgs {
		if a.live() && a.earliest > l {
			l = a.earliest
		}
	}
	return l
}

// lastActivity is the latest start of a live assignment or end of an ended
// one: a leaving date must come after it, or the history would not add up.
func (p *person) lastActivity() date {
	l := p.latestStart()
	for _, a := range p.asgs {
		if !a.applicant && a.status == asTerminated && a.end > l {
			l = a.end
		}
	}
	return l
}
