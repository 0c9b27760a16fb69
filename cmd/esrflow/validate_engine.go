package main

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/rules"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/ingest"
	"github.com/esrflow/esrflow/services/normalise"
)

// The offline validator: a file goes through the pipeline's own code —
// ingest's reader and file checks (ingest.Describe, Delivered.Open,
// ingest.RawRow), normalise's mapping (normalise.MapRowFor) and the rule engine
// (esr/rules) — with no Kafka in between. What it says of a file is what
// the pipeline would do with it, short of the checks that need the
// pipeline's history (duplicate content, sequence, run date going
// backwards).

// reportFormatVersion is the version of the JSON report's layout; it
// changes only when a field is removed or changes meaning.
const reportFormatVersion = 1

// Verdicts.
const (
	verdictAccepted = "ACCEPTED"
	verdictRejected = "REJECTED"
)

// validation is the run over every file given, in order.
type validation struct {
	sets     *rules.Sets
	tenants  *tenant.Set
	forced   string // --tenant, "" to infer from each file's VPD
	maxLines int
	now      func() time.Time
	known    *knownState // what the files accepted so far defined
	// progress, when set, wraps each file's reader (the progress bar).
	progress func(name string, size int64, r io.Reader) (io.Reader, func())
}

// fileReport is one file's report (its JSON is documented in
// docs/validation.md; keep the two together).
type fileReport struct {
	File              string         `json:"file"`
	Tenant            string         `json:"tenant"`
	VPD               string         `json:"vpd"`
	Dialect           string         `json:"dialect"`
	Kind              string         `json:"kind"`
	Sequence          int64          `json:"sequence"`
	RunDate           string         `json:"run_date"`
	SHA256            string         `json:"sha256"`
	RuleSetVersion    string         `json:"rule_set_version"`
	Verdict           string         `json:"verdict"`
	Reason            string         `json:"reason,omitempty"`
	FileRule          *fileRule      `json:"file_rule,omitempty"`
	Budget            budgetReport   `json:"budget"`
	ReferencesChecked bool           `json:"references_checked"`
	Unchecked         int64          `json:"unchecked_references"`
	Totals            counts         `json:"totals"`
	RecordTypes       []typeCounts   `json:"record_types"`
	Violations        []ruleReport   `json:"violations"`
	TopRules          []topRule      `json:"top_rules"`
	lineIndex         map[string]int // rule code → index in Violations, while building
	maxLines          int            // line numbers kept per rule
}

// fileRule is the file-level rule a file was rejected under.
type fileRule struct {
	Code    string `json:"code"`
	Name    string `json:"name"`
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// budgetReport is the tenant's error budget and the file's standing.
type budgetReport struct {
	MaxErrors  int64   `json:"max_errors"`
	MaxPercent float64 `json:"max_percent"`
	MinErrors  int64   `json:"min_errors"`
	Disabled   bool    `json:"disabled"`
	Errors     int64   `json:"errors"`
	Percent    float64 `json:"percent"`
	Over       bool    `json:"over"`
}

// counts are rows by outcome. rows = accepted + quarantined + ignored;
// warned rows are among the accepted, corrections (delete rows) too.
type counts struct {
	Rows        int64 `json:"rows"`
	Accepted    int64 `json:"accepted"`
	Quarantined int64 `json:"quarantined"`
	Warned      int64 `json:"warned"`
	Ignored     int64 `json:"ignored"`
	Corrections int64 `json:"corrections"`
}

func (c *counts) add(o outcome) {
	c.Rows++
	switch o {
	case outAccepted:
		c.Accepted++
	case outWarned:
		c.Accepted++
		c.Warned++
	case outCorrection:
		c.Accepted++
		c.Corrections++
	case outIgnored:
		c.Ignored++
	case outQuarantined:
		c.Quarantined++
	}
}

type typeCounts struct {
	RecordType string `json:"record_type"`
	counts
}

// ruleReport is one rule's violations in a file: rows that broke it, the
// first lines, and how many more.
type ruleReport struct {
	Code      string   `json:"code"`
	Name      string   `json:"name"`
	Severity  string   `json:"severity"`
	Rows      int64    `json:"rows"`
	Fields    []string `json:"fields"`
	Message   string   `json:"message"`
	Lines     []int64  `json:"lines"`
	MoreLines int64    `json:"more_lines"`
}

type topRule struct {
	Code  string `json:"code"`
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

type outcome int

const (
	outAccepted outcome = iota
	outWarned
	outCorrection
	outIgnored
	outQuarantined
)

// row is what the validator keeps of one row until the file's verdict.
type row struct {
	line       int64
	recordType string
	mapped     normalise.Kind
	// derived: not a row but a reference entity normalise derived from
	// the GO v1 ASG row on line (rules.Derived): judged, counted nowhere.
	derived bool
}

// setFor picks the tenant whose rules judge a file: --tenant, else the
// configured tenant with the name's VPD, else the baseline.
func (v *validation) setFor(vpd string) (tenant.Tenant, *rules.Set) {
	code := v.forced
	if code == "" && v.tenants != nil && vpd != "" {
		for _, c := range v.tenants.Codes() {
			t, _ := v.tenants.Get(c)
			if slices.Contains(t.VPDs, vpd) {
				code = c
				break
			}
		}
	}
	if code == "" || v.tenants == nil {
		return tenant.Tenant{}, v.sets.For("")
	}
	t, _ := v.tenants.Get(code)
	return t, v.sets.For(t.Code)
}

// csvTenant is the configured tenant one of whose CSV lists a name
// matches (first by code), else t and set unchanged.
func (v *validation) csvTenant(name string, t tenant.Tenant, set *rules.Set) (tenant.Tenant, *rules.Set) {
	if v.tenants == nil {
		return t, set
	}
	for _, c := range v.tenants.Codes() {
		ct, _ := v.tenants.Get(c)
		if _, ok, _ := ct.MatchCSV(name); ok {
			return ct, v.sets.For(c)
		}
	}
	return t, set
}

// file judges one file. in is its content; size its length in bytes.
func (v *validation) file(name string, size int64, open func() (io.ReadCloser, error)) (*fileReport, error) {
	sha, err := hashOf(open)
	if err != nil {
		return nil, err
	}
	d := ingest.Describe(name, sha, size)
	t, set := v.setFor(d.VPD)
	if d.NameErr != nil && v.forced == "" {
		t, set = v.csvTenant(name, t, set)
	}
	d.MatchTenant(t) // a CSV staff list of the tenant reads through its mapping
	rep := &fileReport{File: name, Tenant: t.Code, SHA256: sha, RuleSetVersion: set.Version(),
		Violations: []ruleReport{}, RecordTypes: []typeCounts{}, TopRules: []topRule{}, lineIndex: map[string]int{}, maxLines: v.maxLines}
	b := set.Budget()
	rep.Budget = budgetReport{MaxErrors: b.MaxErrors, MaxPercent: b.MaxPercent, MinErrors: b.MinErrors, Disabled: b.Disabled}

	f, err := open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var in io.Reader = f
	if v.progress != nil {
		var done func()
		in, done = v.progress(name, size, f)
		defer done()
	}
	rd, err := d.Open(in, t, ingest.ParseOptions{}, v.now)
	fill := func() {
		rep.VPD, rep.Dialect, rep.Kind, rep.Sequence = d.VPD, d.Info.Dialect, string(d.Info.Kind), d.Info.Sequence
		rep.RunDate = ""
		if d.Info.RunDate.Unix() != 0 { // the epoch: the name said nothing
			rep.RunDate = d.Info.RunDate.Format(time.DateOnly)
		}
	}
	fill()
	if err != nil {
		return rep, rejectByFile(rep, err)
	}
	if v.known == nil {
		// The first file decides: after a full file, references outside a
		// later file are checked against what it defined; a change file on
		// its own cannot say, so they are only counted.
		v.known = newKnownState(d.Info.Kind == internalv1.FileKindFull)
	}
	rep.ReferencesChecked = v.known.Complete()

	judge := set.NewFile(d.Info, v.known)
	// About 170 bytes a row in a GO v2 file, and about half the rows are
	// entities: sized once, not grown.
	rows := make([]row, 0, size/170+16)
	judge.Grow(int(size / 340))
	up := rules.Upstream{RuleCounts: map[string]int64{}}
	var v1 *normalise.V1File // GO v1 rows are linked in file order, as normalise's Process links them
	if d.Info.Dialect == normalise.DialectGOv1 {
		v1 = &normalise.V1File{}
	}
	for b := range mapRows(rd, t, d) {
		for i := range b.raws {
			raw, out := &b.raws[i], &b.outs[i]
			if v1 != nil {
				linked, fresh := v1.Next(raw.RecordType, *out)
				for _, dv := range fresh {
					rows = append(rows, row{line: raw.Line, recordType: raw.RecordType, mapped: normalise.KindEntity, derived: true})
					judge.Add(internalv1.EntityRecord{Kind: internalv1.EntityRecordKindEntity, Vpd: raw.Vpd, File: d.Info,
						Lineage: internalv1.Lineage{Tenant: t.Code, FileName: name, FileSha256: sha, Line: raw.Line},
						Raw:     &internalv1.RawRow{RecordType: raw.RecordType, Fields: raw.Fields}, Entity: dv.Entity})
				}
				*out = linked
			}
			rows = append(rows, row{line: raw.Line, recordType: raw.RecordType, mapped: out.Kind})
			up.RowsRead++
			switch out.Kind {
			case normalise.KindQuarantined:
				up.Quarantined++
				seen := make(map[string]bool, len(out.Violations))
				for _, vi := range out.Violations {
					code := rules.CodeOf(vi.Rule)
					rep.note(code, vi.Field, string(vi.Severity), raw.Line, seen)
					if !seen[code] {
						seen[code] = true
						up.RuleCounts[code]++
					}
				}
			case normalise.KindEntity, normalise.KindCorrection:
				kind := internalv1.EntityRecordKindEntity
				if out.Kind == normalise.KindCorrection {
					kind = internalv1.EntityRecordKindCorrection
				}
				judge.Add(internalv1.EntityRecord{Kind: kind, Vpd: raw.Vpd, File: d.Info,
					Lineage: internalv1.Lineage{Tenant: t.Code, FileName: name, FileSha256: sha, Line: raw.Line},
					Raw:     &internalv1.RawRow{RecordType: raw.RecordType, Fields: raw.Fields}, Entity: out.Entity})
			}
		}
		if b.err != nil {
			// The reader stopped at a file rule: the rows before it do
			// not matter, the file is rejected whole.
			fill()
			return rep, rejectByFile(rep, b.err)
		}
	}
	fill()
	res := judge.Finish(up)

	// Walk the rows in file order beside the decisions (one per entity or
	// correction, in the order added).
	byType := map[string]*counts{}
	di := 0
	for _, r := range rows {
		o := outIgnored
		switch r.mapped {
		case normalise.KindQuarantined:
			o = outQuarantined
		case normalise.KindEntity, normalise.KindCorrection:
			dec := res.Decisions[di]
			di++
			if r.derived {
				continue
			}
			if len(dec.Violations) > 0 {
				seen := make(map[string]bool, len(dec.Violations))
				for _, vi := range dec.Violations {
					rep.note(vi.Rule, vi.Field, string(vi.Severity), r.line, seen)
					seen[vi.Rule] = true
				}
			}
			switch {
			case dec.Quarantined:
				o = outQuarantined
			case r.mapped == normalise.KindCorrection:
				o = outCorrection
			case len(dec.Violations) > 0:
				o = outWarned
			default:
				o = outAccepted
			}
		}
		c := byType[r.recordType]
		if c == nil {
			c = &counts{}
			byType[r.recordType] = c
		}
		c.add(o)
		rep.Totals.add(o)
	}
	for rt, c := range byType {
		rep.RecordTypes = append(rep.RecordTypes, typeCounts{RecordType: rt, counts: *c})
	}
	slices.SortFunc(rep.RecordTypes, func(a, b typeCounts) int { return cmp.Compare(a.RecordType, b.RecordType) })
	slices.SortFunc(rep.Violations, func(a, b ruleReport) int {
		return cmp.Or(cmp.Compare(sevRank(a.Severity), sevRank(b.Severity)), cmp.Compare(b.Rows, a.Rows), cmp.Compare(a.Code, b.Code))
	})
	for _, tr := range res.TopRules {
		rep.TopRules = append(rep.TopRules, topRule{Code: tr.Rule, Name: ruleName(tr.Rule), Count: tr.Count})
	}
	nameTenantRules(rep, t)
	rep.Unchecked = res.Unchecked
	rep.Budget.Errors = res.Errors
	if res.Rows > 0 {
		rep.Budget.Percent = float64(int64(1000*float64(res.Errors)/float64(res.Rows)+0.5)) / 10
	}
	rep.Verdict = verdictAccepted
	if res.Rejected {
		rep.Verdict, rep.Reason, rep.Budget.Over = verdictRejected, res.Reason, true
	} else {
		v.known.accept(res)
	}
	return rep, nil
}

// note counts a violation of a rule on a row; seen holds the rules the row
// was already counted under (a row breaking a rule twice counts once).
func (rep *fileReport) note(code, field, severity string, line int64, seen map[string]bool) {
	i, ok := rep.lineIndex[code]
	if !ok {
		i = len(rep.Violations)
		rep.lineIndex[code] = i
		rep.Violations = append(rep.Violations, ruleReport{Code: code, Name: ruleName(code), Severity: strings.ToLower(severity),
			Fields: []string{}, Message: rules.Message(code, ""), Lines: []int64{}})
	}
	r := &rep.Violations[i]
	if field != "" && !slices.Contains(r.Fields, field) {
		r.Fields = append(r.Fields, field)
	}
	if seen[code] {
		return
	}
	r.Rows++
	if len(r.Lines) < rep.maxLines {
		r.Lines = append(r.Lines, line)
	} else {
		r.MoreLines++
	}
}

// nameTenantRules gives the tenant's own (CEL) rules their message from
// the tenant's configuration: the catalogue knows nothing of them.
func nameTenantRules(rep *fileReport, t tenant.Tenant) {
	for _, c := range t.Validation.Custom {
		for i := range rep.Violations {
			if v := &rep.Violations[i]; v.Code == c.Code {
				v.Name, v.Message = tenantRuleName, c.Message
			}
		}
		for i := range rep.TopRules {
			if rep.TopRules[i].Code == c.Code {
				rep.TopRules[i].Name = tenantRuleName
			}
		}
	}
}

// tenantRuleName is the name a tenant's CEL rule is listed under.
const tenantRuleName = "tenant-rule"

func sevRank(s string) int {
	if s == string(rules.Error) || strings.EqualFold(s, "ERROR") {
		return 0
	}
	return 1
}

func ruleName(code string) string {
	if r, ok := rules.Lookup(code); ok {
		return r.Name
	}
	return code
}

// rejectByFile records a file-level rule's rejection. Only a
// *format.FileError is a verdict; any other error is the command's.
func rejectByFile(rep *fileReport, err error) error {
	var fe *format.FileError
	if !errors.As(err, &fe) {
		return err
	}
	p := fe.Problem
	code := rules.CodeOf(p.Rule)
	// The catalogue's message, not the parser's: the parser's may quote a
	// value from the file.
	rep.FileRule = &fileRule{Code: code, Name: ruleName(code), Line: p.Line, Message: rules.Message(code, p.Field)}
	rep.Verdict = verdictRejected
	rep.Reason = code + " " + ruleName(code) + ": " + rules.Message(code, "")
	if p.Line > 0 {
		rep.Reason += " (line " + strconv.Itoa(p.Line) + ")"
	}
	return nil
}

func hashOf(open func() (io.ReadCloser, error)) (string, error) {
	f, err := open()
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// knownState is what the files accepted so far defined: the Known the
// cross-record rules of the next file resolve references against.
type knownState struct {
	complete bool
	persons  map[knownRef]string
	others   map[string]map[knownRef]bool
}

type knownRef struct {
	vpd string
	id  int64
}

func newKnownState(complete bool) *knownState {
	k := &knownState{complete: complete, persons: map[knownRef]string{}, others: map[string]map[knownRef]bool{}}
	for _, kind := range rules.RecordKinds {
		k.others[kind] = map[knownRef]bool{}
	}
	return k
}

func (k *knownState) Person(vpd string, id int64) (string, bool) {
	e, ok := k.persons[knownRef{vpd, id}]
	return e, ok
}

func (k *knownState) Has(kind, vpd string, id int64) bool { return k.others[kind][knownRef{vpd, id}] }

func (k *knownState) Complete() bool { return k.complete }

// accept adds what an accepted file published: its accepted entities, less
// what its delete rows removed.
func (k *knownState) accept(res rules.Result) {
	for _, d := range res.Decisions {
		if d.Quarantined {
			continue
		}
		switch e := d.Record.Entity.(type) {
		case internalv1.Person:
			k.persons[knownRef{e.Vpd, e.PersonID}] = e.EmployeeNumber
		case internalv1.Assignment:
			k.others[rules.KindAssignment][knownRef{e.Vpd, e.AssignmentID}] = true
		case internalv1.Position:
			k.others[rules.KindPosition][knownRef{e.Vpd, e.PositionID}] = true
		case internalv1.Organisation:
			k.others[rules.KindOrganisation][knownRef{e.Vpd, e.OrganisationID}] = true
		case internalv1.Location:
			k.others[rules.KindLocation][knownRef{e.Vpd, e.LocationID}] = true
		case internalv1.Correction:
			r := knownRef{e.Vpd, e.ID}
			kind := strings.ToLower(string(e.EntityKind))
			if kind == rules.KindPerson {
				delete(k.persons, r)
			} else if m := k.others[kind]; m != nil {
				delete(m, r)
			}
		}
	}
}

// batch is a run of a file's rows, read and mapped.
type batch struct {
	raws []internalv1.RawRecord
	outs []normalise.Outcome
	err  error // the reader's error after the last row, if it stopped on one
}

// batchRows is how many rows travel together between the stages.
const batchRows = 512

// mapRows reads a file and maps its rows in two goroutines, reading ahead
// of mapping, and hands the batches over in file order; the caller judges
// them. Reading, mapping and judging then overlap on a machine with more
// than one core (each alone is a third of the work). The channel is
// always drained to its close by the caller's range loop, so neither
// goroutine outlives the file.
func mapRows(rd ingest.RowsReader, t tenant.Tenant, d ingest.Delivered) <-chan batch {
	read := make(chan batch, 4)
	mapped := make(chan batch, 4)
	go func() {
		defer close(read)
		b := batch{raws: make([]internalv1.RawRecord, 0, batchRows)}
		for {
			fr, err := rd.Next()
			if err != nil {
				if err != io.EOF {
					b.err = err
				}
				read <- b
				return
			}
			b.raws = append(b.raws, ingest.RawRow(t.Code, d.VPD, d.Info, fr))
			if len(b.raws) == batchRows {
				read <- b
				b = batch{raws: make([]internalv1.RawRecord, 0, batchRows)}
			}
		}
	}()
	go func() {
		defer close(mapped)
		for b := range read {
			b.outs = make([]normalise.Outcome, len(b.raws))
			for i := range b.raws {
				b.outs[i] = normalise.MapRowFor(b.raws[i], t)
			}
			mapped <- b
		}
	}()
	return mapped
}
