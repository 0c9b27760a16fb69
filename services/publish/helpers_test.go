package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/kafka/stage"
	"github.com/esrflow/esrflow/platform/statestore"
	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/registry/registrytest"
)

// testEnv is a real embedded Kafka and a real schema registry.
type testEnv struct {
	seeds   []string
	url     string
	sr      *sr.Client
	serde   *avrox.Serde
	entityW avrox.Writer
	adm     *kadm.Client
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	b := testkit.Kafka(t)
	return newEnvOn(t, b.Seeds(), registrytest.Start(t, b.Seeds(), schemas.TopicValidated, schemas.TopicFileReports))
}

func newEnvOn(t *testing.T, seeds []string, url string) *testEnv {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	serde := avrox.New(cl, internalv1.NewAPI())
	_, text, err := schemas.Latest(schemas.Entity)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := serde.Register(ctx, schemas.Subject(schemas.TopicValidated), text)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{seeds: seeds, url: url, sr: cl, serde: serde, entityW: w,
		adm: kadm.NewClient(testkit.Client(t, seeds))}
}

// testClock ticks one second per call, so recorded_at differs between calls.
func testClock() func() time.Time {
	t := time.Date(2024, 4, 1, 6, 0, 0, 0, time.UTC)
	return func() time.Time { t = t.Add(time.Second); return t }
}

// harness drives one processor directly through Process, keeping every
// state change (the changelog) and every produced record.
type harness struct {
	t         *testing.T
	env       *testEnv
	p         *processor
	reg       *prometheus.Registry
	changelog []*kgo.Record
	out       []*kgo.Record
	offset    int64
}

func newHarness(t *testing.T, env *testEnv) *harness {
	t.Helper()
	return newHarnessWith(t, env, nil)
}

// newHarnessWith lets a test adjust the config (clock, tenants).
func newHarnessWith(t *testing.T, env *testEnv, adjust func(*Config)) *harness {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	c := &Config{Brokers: env.seeds, RegistryURL: env.url, Now: testClock()}
	if adjust != nil {
		adjust(c)
	}
	cfg, err := c.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	p, err := newProcessor(cfg, zaptest.NewLogger(t), m, env.serde, env.sr, env.adm, memStore(t), newLinkIndex(memStore(t)))
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, env: env, p: p, reg: reg}
}

// hasPerson reports whether the tenant's committed state holds the person.
func (h *harness) hasPerson(tenant, pid string) bool {
	h.t.Helper()
	_, ok, err := h.p.store.Get(0, stateKey(tenant, keyPerson, pid))
	if err != nil {
		h.t.Fatal(err)
	}
	return ok
}

// memStore is an in-memory state store, closed when the test ends.
func memStore(t *testing.T) *statestore.Store {
	t.Helper()
	store, err := statestore.Open(statestore.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store
}

// transact runs fn in one transaction on partition 0 of the processor's
// store and commits it, as the runner does.
func (h *harness) transact(fn func(tx *stage.Tx) error) *stage.Tx {
	h.t.Helper()
	txn := h.p.store.Begin()
	tx := stage.NewTxIn(txn, 0)
	err := fn(tx)
	if err == nil {
		err = h.p.Finish(context.Background(), 0, tx) // as the runner does after a poll
	}
	if err != nil {
		txn.Discard()
		h.p.TxEnded(false)
		h.t.Fatal(err)
	}
	if err := txn.Commit(nil); err != nil {
		h.t.Fatal(err)
	}
	h.p.TxEnded(true)
	h.changelog = append(h.changelog, tx.StateChanges()...)
	h.out = append(h.out, tx.Records()...)
	return tx
}

// restored builds a fresh processor from h's changelog as compaction
// leaves it (the last value of each key, in the order of those last writes,
// deleted keys gone), as the runner does on start.
func (h *harness) restored() *harness {
	h.t.Helper()
	last := map[string]int{}
	for i, r := range h.changelog {
		last[string(r.Key)] = i
	}
	var compacted []*kgo.Record
	for i, r := range h.changelog {
		if last[string(r.Key)] == i && r.Value != nil {
			compacted = append(compacted, r)
		}
	}
	n := newHarnessWith(h.t, h.env, func(c *Config) { *c = h.p.cfg })
	l := n.p.store.Load(0, statestore.Checkpoint{})
	for i, r := range compacted {
		if err := l.Apply(int64(i), r.Key, r.Value, true); err != nil {
			h.t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		h.t.Fatal(err)
	}
	if err := n.p.Restored(0); err != nil {
		h.t.Fatal(err)
	}
	n.changelog = compacted
	n.offset = h.offset
	return n
}

// feed processes records and returns what they produced.
func (h *harness) feed(recs ...internalv1.EntityRecord) []*kgo.Record {
	h.t.Helper()
	ctx := context.Background()
	var out []*kgo.Record
	for i := range recs {
		v, err := h.env.entityW.Encode(nil, &recs[i])
		if err != nil {
			h.t.Fatal(err)
		}
		in := &kgo.Record{Topic: schemas.TopicValidated, Key: []byte(recs[i].Lineage.Tenant), Value: v, Offset: h.offset}
		h.offset++
		tx := h.transact(func(tx *stage.Tx) error {
			if err := h.p.Process(ctx, in, tx); err != nil {
				return fmt.Errorf("process %s line %d: %w", recs[i].Kind, recs[i].Lineage.Line, err)
			}
			return nil
		})
		out = append(out, tx.Records()...)
	}
	return out
}

// got is a decoded event reduced to what truth.jsonl states, plus the id.
type got struct {
	File, Type, PersonID, EmployeeNumber, Effective string
	Line                                            int64
	AssignmentNumber                                string
	Scheduled, Rehire                               bool
	LeavingReason, LastWorkingDay                   string
	DaysLate                                        int
	Change                                          string
	TransferFrom, TransferTo                        string
	ID                                              string
}

func (g got) String() string {
	return fmt.Sprintf("%s:%d %s %s/%s eff=%s asg=%s sched=%v rehire=%v reason=%q lwd=%s late=%d change=%s from=%s to=%s",
		g.File, g.Line, g.Type, g.PersonID, g.EmployeeNumber, g.Effective, g.AssignmentNumber, g.Scheduled, g.Rehire,
		g.LeavingReason, g.LastWorkingDay, g.DaysLate, g.Change, g.TransferFrom, g.TransferTo)
}

func iso(t time.Time) string { return t.UTC().Format(time.DateOnly) }

func isoPtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return iso(*t)
}

// decoded is one produced event, decoded.
type decoded struct {
	rec      *kgo.Record
	got      got
	starter  *eventsv1.StarterCreated
	leaver   *eventsv1.LeaverConfirmed
	position *eventsv1.PositionUpdated
	reversed *eventsv1.LeaverReversed
	report   *internalv1.FileReport
	batch    *internalv1.HeldBatch
}

// lineages decodes the esr.ops.lineage.v1 records among recs, in order.
func (h *harness) lineages(recs []*kgo.Record) []*internalv1.EventLineage {
	h.t.Helper()
	reader, _, err := schemas.Latest(schemas.EventLineage)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []*internalv1.EventLineage
	for _, r := range recs {
		if r.Topic != schemas.TopicLineage {
			continue
		}
		if string(r.Key) == "" {
			h.t.Fatalf("lineage record without a key")
		}
		var l internalv1.EventLineage
		if _, err := h.env.serde.Decode(context.Background(), r.Value, reader, &l); err != nil {
			h.t.Fatalf("decode %s: %v", r.Topic, err)
		}
		out = append(out, &l)
	}
	return out
}

// decode decodes produced records (events and file reports) through the
// registry, as a consumer would.
func (h *harness) decode(recs []*kgo.Record) []decoded {
	h.t.Helper()
	ctx := context.Background()
	var out []decoded
	for _, r := range recs {
		if r.Topic == DefaultLinkIndex { // JSON, not an event: see linkRecords
			continue
		}
		if r.Topic == schemas.TopicLineage { // one per event: see lineages
			continue
		}
		b, err := schemas.SchemaForTopic(r.Topic)
		if err != nil {
			h.t.Fatal(err)
		}
		reader, _, err := schemas.Latest(b.Schema)
		if err != nil {
			h.t.Fatal(err)
		}
		d := decoded{rec: r}
		var v any
		switch b.Schema {
		case schemas.StarterCreated:
			d.starter = &eventsv1.StarterCreated{}
			v = d.starter
		case schemas.LeaverConfirmed:
			d.leaver = &eventsv1.LeaverConfirmed{}
			v = d.leaver
		case schemas.PositionUpdated:
			d.position = &eventsv1.PositionUpdated{}
			v = d.position
		case schemas.LeaverReversed:
			d.reversed = &eventsv1.LeaverReversed{}
			v = d.reversed
		case schemas.FileReport:
			d.report = &internalv1.FileReport{}
			v = d.report
		case schemas.HeldBatch:
			d.batch = &internalv1.HeldBatch{}
			v = d.batch
		default:
			h.t.Fatalf("unexpected topic %s", r.Topic)
		}
		if _, err := h.env.serde.Decode(ctx, r.Value, reader, v); err != nil {
			h.t.Fatalf("decode %s: %v", r.Topic, err)
		}
		switch {
		case d.starter != nil:
			e := d.starter
			d.got = got{File: e.Source.FileName, Line: e.Source.Line, Type: eventStarter, PersonID: e.PersonID, EmployeeNumber: e.EmployeeNumber,
				Effective: iso(e.EffectiveDate), AssignmentNumber: e.AssignmentNumber, Scheduled: e.Scheduled, Rehire: e.Rehire,
				TransferFrom: deref(e.TransferFromTenant), ID: e.EventID}
		case d.leaver != nil:
			e := d.leaver
			d.got = got{File: e.Source.FileName, Line: e.Source.Line, Type: eventLeaver, PersonID: e.PersonID, EmployeeNumber: e.EmployeeNumber,
				Effective: iso(e.EffectiveDate), LeavingReason: e.LeavingReason, LastWorkingDay: isoPtr(e.LastWorkingDay), DaysLate: e.DaysLate,
				TransferTo: deref(e.TransferToTenant), ID: e.EventID}
		case d.position != nil:
			e := d.position
			d.got = got{File: e.Source.FileName, Line: e.Source.Line, Type: eventPosition, PersonID: e.PersonID, EmployeeNumber: e.EmployeeNumber,
				Effective: iso(e.EffectiveDate), AssignmentNumber: e.AssignmentNumber, Change: string(e.Change), ID: e.EventID}
		case d.reversed != nil:
			// Change carries the reversal and the new date, LeavingReason
			// the reversed leaver's reason.
			e := d.reversed
			d.got = got{File: e.Source.FileName, Line: e.Source.Line, Type: eventReversed, PersonID: e.PersonID, EmployeeNumber: e.EmployeeNumber,
				Effective: iso(e.EffectiveDate), LeavingReason: e.LeavingReason, Change: e.Reversal + "/" + isoPtr(e.NewLeavingDate), ID: e.EventID}
		}
		out = append(out, d)
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// events decodes recs and returns the events only (file reports and held
// batches dropped).
func (h *harness) events(recs []*kgo.Record) []got {
	var out []got
	for _, d := range h.decode(recs) {
		if d.report == nil && d.batch == nil {
			g := d.got
			g.ID = ""
			out = append(out, g)
		}
	}
	return out
}

func (h *harness) reports(recs []*kgo.Record) []*internalv1.FileReport {
	var out []*internalv1.FileReport
	for _, d := range h.decode(recs) {
		if d.report != nil {
			out = append(out, d.report)
		}
	}
	return out
}

// --- hand-built entity streams ---

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func dayPtr(s string) *time.Time {
	if s == "" {
		return nil
	}
	t := day(s)
	return &t
}

// file builds the EntityRecords of one file, numbering lines from 2 (line 1
// is the HDR).
type file struct {
	tenant, vpd string
	info        internalv1.FileInfo
	line        int64
	counts      internalv1.StageCounts
}

func newFile(tenant, run string, seq int64) *file {
	kind := internalv1.FileKindChange
	letter := "C"
	if seq == 1 {
		kind, letter = internalv1.FileKindFull, "F"
	}
	name := "GO_412_EXP_GO" + letter + "_" + run[0:4] + run[5:7] + run[8:10] + "_" + fmt.Sprintf("%08d", seq) + ".DAT"
	sum := sha256.Sum256([]byte(tenant + name))
	return &file{tenant: tenant, vpd: "412", line: 1, info: internalv1.FileInfo{Name: name, Sha256: hex.EncodeToString(sum[:]),
		Dialect: "go-v2", Kind: kind, Sequence: seq, RunDate: day(run), Size: 1000}}
}

func (f *file) rec(kind internalv1.EntityRecordKind, line int64, entity any) internalv1.EntityRecord {
	return internalv1.EntityRecord{Kind: kind, Lineage: internalv1.Lineage{Tenant: f.tenant, FileName: f.info.Name, FileSha256: f.info.Sha256, Line: line},
		Vpd: f.vpd, File: f.info, Entity: entity}
}

func (f *file) start() internalv1.EntityRecord {
	return f.rec(internalv1.EntityRecordKindFileStart, 0, nil)
}

func (f *file) end() internalv1.EntityRecord {
	r := f.rec(internalv1.EntityRecordKindFileEnd, 0, nil)
	c := f.counts
	r.Counts = &c
	return r
}

func (f *file) next(kind internalv1.EntityRecordKind, entity any, recordType string) internalv1.EntityRecord {
	f.line++
	f.counts.RowsRead++
	if kind == internalv1.EntityRecordKindCorrection {
		f.counts.Corrections++
	} else {
		f.counts.Entities++
	}
	r := f.rec(kind, f.line, entity)
	r.Raw = &internalv1.RawRow{RecordType: recordType}
	return r
}

// P describes a PRA. NI defaults to one shared value and DOB to none, so
// only a test that sets DOB matches people on NI number + date of birth.
type P struct {
	ID           int64
	Emp, NHS     string
	Term, Reason string
	NI, DOB      string
}

func (f *file) person(p P) internalv1.EntityRecord {
	emp := p.Emp
	if emp == "" {
		emp = "3" + strconv.FormatInt(p.ID, 10)[1:]
	}
	if p.NI == "" {
		p.NI = "QQ123456C"
	}
	return f.next(internalv1.EntityRecordKindEntity, internalv1.Person{Vpd: f.vpd, PersonID: p.ID, EffectiveStart: day("2020-01-01"),
		EmployeeNumber: emp, NhsUniqueID: p.NHS, LastName: "Testperson", FirstName: "Alex", NiNumber: p.NI, DateOfBirth: dayPtr(p.DOB),
		ActualTerminationDate: dayPtr(p.Term), LeavingReason: p.Reason, SystemPersonType: "EMP"}, "PRA")
}

// A describes an ASA; empty Type and Status mean E and ACTIVE_ASSIGN.
type A struct {
	Person, ID                    int64
	Number, Type, Status          string
	Start, Earliest, LWD, End     string
	Pos, Title, Occ, Grade, Group string
	Role                          string
	Org, Loc                      int64
	PosID                         int64 // the post (ASA col 14); default 8001
}

func (f *file) asg(a A) internalv1.EntityRecord {
	if a.Type == "" {
		a.Type = "E"
	}
	if a.Status == "" {
		a.Status = statusActive
	}
	if a.Start == "" {
		a.Start = "2020-01-01"
	}
	if a.Earliest == "" {
		a.Earliest = a.Start
	}
	if a.Number == "" {
		a.Number = "3" + strconv.FormatInt(a.Person, 10)[1:]
	}
	if a.Pos == "" {
		a.Pos, a.Title, a.Occ = "5100001", "Staff Nurse", "N6A"
	}
	if a.Grade == "" {
		a.Grade = "XR05"
	}
	if a.Group == "" {
		a.Group, a.Role = "Nursing and Midwifery Registered", "Staff Nurse"
	}
	if a.Org == 0 {
		a.Org = 7001
	}
	if a.Loc == 0 {
		a.Loc = 9001
	}
	if a.PosID == 0 {
		a.PosID = 8001
	}
	return f.next(internalv1.EntityRecordKindEntity, internalv1.Assignment{Vpd: f.vpd, PersonID: a.Person, AssignmentID: a.ID,
		EffectiveStart: day(a.Start), EarliestStart: dayPtr(a.Earliest), AssignmentType: a.Type, AssignmentNumber: a.Number,
		Status: internalv1.AssignmentStatus(a.Status), OrganisationID: a.Org, LocationID: a.Loc, PositionID: a.PosID,
		Position:   internalv1.PositionRef{Number: a.Pos, Title: a.Title, OccupationCode: a.Occ, Area: "Ward"},
		Grade:      internalv1.Grade{Owner: "NHS", Code: a.Grade, Description: "Review Body Band " + a.Grade[3:]},
		StaffGroup: a.Group, JobRole: a.Role, LastWorkingDay: dayPtr(a.LWD), FinalAssignmentEndDate: dayPtr(a.End)}, "ASA")
}

func (f *file) org(id int64, name string) internalv1.EntityRecord {
	return f.next(internalv1.EntityRecordKindEntity, internalv1.Organisation{Vpd: f.vpd, OrganisationID: id, Name: name, EffectiveFrom: day("2015-04-01")}, "ORA")
}

// post is a POA row.
func (f *file) post(id int64, number, title, occ, from string) internalv1.EntityRecord {
	return f.next(internalv1.EntityRecordKindEntity, internalv1.Position{Vpd: f.vpd, PositionID: id, EffectiveFrom: day(from),
		Number: number, Title: title, OccupationCode: occ, StaffGroup: "Nursing and Midwifery Registered", JobRole: "Staff Nurse",
		Payscale: "XR05", OrganisationID: 7001, HiringStatus: "Active"}, "POA")
}

func (f *file) loc(id int64, desc string) internalv1.EntityRecord {
	return f.next(internalv1.EntityRecordKindEntity, internalv1.Location{Vpd: f.vpd, LocationID: id, Code: "412L", Description: desc}, "LCA")
}

func (f *file) del(kind internalv1.EntityKind, id int64, recordType string) internalv1.EntityRecord {
	return f.next(internalv1.EntityRecordKindCorrection, internalv1.Correction{Vpd: f.vpd, EntityKind: kind, ID: id, RecordType: recordType}, recordType)
}
