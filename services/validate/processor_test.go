package validate_test

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/platform/kafka/stage"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// Rows from esr/format/gov2/testdata (synthetic values).
const (
	linePOA = "POA~8812045~20190401~~5102277~5102277|Staff Nurse|N6A|Cardiology|~1~4311100~Nursing and Midwifery Registered~Staff Nurse~N6A~XR05~XR05|3~Not Applicable~7730112~Active~NONE~Yes~No~~~RXX~20240308 173102~Registered Nurses"
	linePRA = "PRA~20990417~20240311~~31004581~Ms.~Okafor~Adaeze~Ngozi~~Ada~~F~19880214~JT482913C~4017723~20240311~~~~~~~~~~~~~700011223344~~~~EMP~Employee~adaeze.okafor@example.nhs.uk~20160905~~20240309 101455~N~~British~~"
	linePHA = "PHA~20990417~50112093~M~07700 900417~20240311~~20240309 101455"
	lineASA = "ASA~" + asaFields
	lineLCA = "LCA~905512~412 z 0231 Ward 7 Admin~Ward 7 Admin~~Riverside Wing~Hospital Lane~~Northtown~Northshire~NT4 2QX~United Kingdom~01632 960111~~Yes~RXX01~~~~~~20240308 173102"
	// The organisation without its parent (not in these files).
	lineORA = "ORA~7730112~412 Cardiology Outpatients~NHS_DE~20150401~~60021~20150401~~412C3310~~RXX~905512~20240308 173102~Cardiology OP"
)

const asaFields = "20990417~41877120~20240311~~20240311~E~31004581~ACTIVE_ASSIGN~Active Assignment~~412 Monthly~Calendar Month~905512~N~~~~~FT~Permanent~Yes~37.5~Week~37.5~1~~7730112~8812045~5102277|Staff Nurse|N6A|Cardiology|~NHS|XR05|Review Body Band 5~XR05|3~20240311~29970~Nursing and Midwifery Registered|Staff Nurse~412 z 0231 Ward 7|Standard User||~GTA||~No~~~~20250311~~~20240309 101455~~~N~~"

func d(y int, m time.Month, dd int) time.Time { return time.Date(y, m, dd, 0, 0, 0, 0, time.UTC) }

// file builds the raw records of one file from its data lines (line 2 on).
func file(seq int, lines ...string) []internalv1.RawRecord {
	info := internalv1.FileInfo{Name: fmt.Sprintf("GO_412_EXP_GOC_202403%02d_%08d.DAT", 10+seq, seq),
		Sha256: strings.Repeat(fmt.Sprintf("%02x", seq), 32), Dialect: "go-v2", Kind: internalv1.FileKindChange,
		Sequence: int64(seq), RunDate: d(2024, 3, 10+seq), Size: 100}
	base := internalv1.RawRecord{Tenant: "RXX", Vpd: "412", File: info, Fields: []string{}, Problems: []internalv1.Problem{}}
	start, end := base, base
	start.Kind, end.Kind = internalv1.RawKindFileStart, internalv1.RawKindFileEnd
	end.Counts = &internalv1.RawCounts{Lines: int64(len(lines) + 2), Rows: int64(len(lines)), RowsByType: map[string]int64{}}
	recs := []internalv1.RawRecord{start}
	for i, l := range lines {
		f := strings.Split(l, "~")
		r := base
		r.Kind, r.Line, r.RecordType, r.Fields = internalv1.RawKindRecord, int64(i+2), f[0], f[1:]
		recs = append(recs, r)
	}
	return append(recs, end)
}

func set(line string, col int, v string) string {
	f := strings.Split(line, "~")
	f[col] = v
	return strings.Join(f, "~")
}

type summary struct {
	validated   []string // kind:line
	quarantined []string // line rule/field...
	ends        []internalv1.StageCounts
}

func summarise(h *harness, out output) summary {
	var s summary
	for _, r := range out.validated {
		e := h.decodeEntity(r)
		s.validated = append(s.validated, fmt.Sprintf("%s:%d", e.Kind, e.Lineage.Line))
		if e.Kind == internalv1.EntityRecordKindFileEnd {
			s.ends = append(s.ends, *e.Counts)
		}
	}
	for _, r := range out.quarantined {
		q := h.decodeQuarantine(r)
		k := fmt.Sprintf("%s %s:%d", q.Stage, q.Raw.RecordType, q.Lineage.Line)
		for _, v := range q.Violations {
			k += " " + v.Rule + "/" + v.Field
		}
		s.quarantined = append(s.quarantined, k)
	}
	return s
}

func TestReferencesAcrossFilesAndCorrections(t *testing.T) {
	h := newHarness(t)
	var raws []internalv1.RawRecord
	// File 1 defines the location, organisation, position and person, then
	// a second assignment in a position nobody defined and one of an
	// unknown person without its number (a record rule fails, so the
	// cross-record rules do not judge it).
	other := set(set(set(lineASA, 28, "99000001"), 2, "41877121"), 21, "No")
	stranger := set(set(set(set(lineASA, 1, "20990999"), 7, ""), 2, "41877122"), 21, "No")
	raws = append(raws, file(1, lineLCA, lineORA, linePOA, linePRA, lineASA, linePHA, other, stranger)...)
	// File 2: both are known from file 1.
	raws = append(raws, file(2, lineASA)...)
	// File 3: the position and the person are deleted; references now fail.
	raws = append(raws, file(3, "POD~8812045", "PRD~20990417", lineASA)...)
	s := summarise(h, h.run(raws))

	wantValidated := []string{
		"FILE_START:0", "ENTITY:2", "ENTITY:3", "ENTITY:4", "ENTITY:5", "ENTITY:6", "FILE_END:0",
		"FILE_START:0", "ENTITY:2", "FILE_END:0",
		"FILE_START:0", "CORRECTION:2", "CORRECTION:3", "FILE_END:0",
	}
	wantQuarantined := []string{
		"VALIDATE ASA:8 ESR-X002/position_id",
		"VALIDATE ASA:9 ESR-R011/assignment_number",
		"VALIDATE ASA:4 ESR-X001/person_id ESR-X002/position_id",
	}
	if fmt.Sprint(s.validated) != fmt.Sprint(wantValidated) {
		t.Errorf("validated %v\nwant %v", s.validated, wantValidated)
	}
	if fmt.Sprint(s.quarantined) != fmt.Sprint(wantQuarantined) {
		t.Errorf("quarantined %v\nwant %v", s.quarantined, wantQuarantined)
	}
	wantEnds := []internalv1.StageCounts{
		{RowsRead: 8, Entities: 5, Corrections: 0, Ignored: 1, Quarantined: 2},
		{RowsRead: 1, Entities: 1},
		{RowsRead: 3, Entities: 0, Corrections: 2, Quarantined: 1},
	}
	if fmt.Sprint(s.ends) != fmt.Sprint(wantEnds) {
		t.Errorf("FILE_END counts %+v\nwant %+v", s.ends, wantEnds)
	}
	if p, q := h.val.KnownCounts("RXX"); p != 0 || q != 0 {
		t.Errorf("known after the deletes: %d persons %d positions, want 0 0", p, q)
	}
}

func TestQuarantinedPersonIsNotKnown(t *testing.T) {
	h := newHarness(t)
	// A person row without employee number is quarantined, so its
	// assignment fails the reference check too.
	s := summarise(h, h.run(file(1, lineLCA, lineORA, linePOA, set(linePRA, 4, ""), lineASA)))
	want := []string{"VALIDATE PRA:5 ESR-R010/employee_number", "VALIDATE ASA:6 ESR-X001/person_id"}
	if fmt.Sprint(s.quarantined) != fmt.Sprint(want) {
		t.Errorf("quarantined %v, want %v", s.quarantined, want)
	}
	if fmt.Sprint(s.ends) != fmt.Sprint([]internalv1.StageCounts{{RowsRead: 5, Entities: 3, Quarantined: 2}}) {
		t.Errorf("counts %+v", s.ends)
	}
}

// A row may refer to one further down its file: references resolve against
// the whole file, not the rows before it.
func TestForwardReferenceWithinFile(t *testing.T) {
	h := newHarness(t)
	s := summarise(h, h.run(file(1, lineASA, linePRA, linePOA, lineORA, lineLCA)))
	if len(s.quarantined) != 0 {
		t.Errorf("quarantined %v, want none", s.quarantined)
	}
	want := []string{"FILE_START:0", "ENTITY:2", "ENTITY:3", "ENTITY:4", "ENTITY:5", "ENTITY:6", "FILE_END:0"}
	if fmt.Sprint(s.validated) != fmt.Sprint(want) {
		t.Errorf("validated %v, want %v", s.validated, want)
	}
}

// TestRestore cuts validate's input at points inside the full file and
// inside change files, rebuilds a fresh processor from the changelog written
// so far (last value per key, as compaction leaves it), and finishes with it:
// the output must be byte-identical to an uninterrupted run.
func TestRestore(t *testing.T) {
	cfg := truthCfg
	cfg.Staff, cfg.Days, cfg.Faults = 300, 3, true
	g := generate(t, cfg)
	h := newHarness(t)
	whole := h.run(flatten(g.files))
	inputs := whole.normalised

	runValidate := func(p stage.Processor, recs []*kgo.Record) (out, state []*kgo.Record) {
		for _, r := range recs {
			tx := step(t, p, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value})
			out = append(out, tx.Records()...)
			state = append(state, tx.StateChanges()...)
		}
		return out, state
	}
	wantOut, _ := runValidate(h.newValidate(), inputs)
	fullEnd := len(g.files[0]) // normalised records of the full file <= raw records
	for _, cut := range []int{1, fullEnd / 2, len(inputs) / 2, len(inputs) - 2} {
		first, state := runValidate(h.newValidate(), inputs[:cut])
		p := h.restoredValidate(state)
		rest, _ := runValidate(p, inputs[cut:])
		got := append(first, rest...)
		if len(got) != len(wantOut) {
			t.Fatalf("cut %d: %d outputs, want %d", cut, len(got), len(wantOut))
		}
		for i := range got {
			if !h.same(got[i], wantOut[i]) {
				t.Fatalf("cut %d: output %d differs from an uninterrupted run", cut, i)
			}
		}
	}
	// A changelog written by an older validate, whose buffered records'
	// sequence numbers were unpadded, restores the same, with the records
	// buffered after the restore under the new keys beside them; the file's
	// end deletes both.
	cut := fullEnd / 2
	first, state := runValidate(h.newValidate(), inputs[:cut])
	rest, restState := runValidate(h.restoredValidate(unpaddedBufKeys(t, state)), inputs[cut:])
	got := append(first, rest...)
	if len(got) != len(wantOut) {
		t.Fatalf("older keys: %d outputs, want %d", len(got), len(wantOut))
	}
	for i := range got {
		if !h.same(got[i], wantOut[i]) {
			t.Fatalf("older keys: output %d differs from an uninterrupted run", i)
		}
	}
	for _, r := range compact(append(unpaddedBufKeys(t, state), restState...)) {
		if strings.HasPrefix(string(r.Key), "buf/") {
			t.Fatalf("older keys: %s is still buffered after every file ended", r.Key)
		}
	}

	// Released drops what is held in memory of the partition's tenants.
	p := h.newValidate()
	firstEnd := slices.IndexFunc(inputs, func(r *kgo.Record) bool {
		return h.decodeEntity(r).Kind == internalv1.EntityRecordKindFileEnd
	})
	runValidate(p, inputs[:firstEnd+1])
	if n, _ := p.KnownCounts("RXX"); n == 0 {
		t.Fatal("no persons known after the first file")
	}
	p.Released(1)
	if n, _ := p.KnownCounts("RXX"); n == 0 {
		t.Fatal("Released(1) dropped partition 0's tenant")
	}
	p.Released(0)
	if n, m := p.KnownCounts("RXX"); n != 0 || m != 0 {
		t.Fatalf("Released(0) kept %d persons %d positions", n, m)
	}
}

// unpadded rewrites changelog records' buffered-record keys as validate
// wrote them before sequence numbers were fixed-width.
func unpaddedBufKeys(t *testing.T, recs []*kgo.Record) []*kgo.Record {
	t.Helper()
	out := make([]*kgo.Record, len(recs))
	n := 0
	for i, r := range recs {
		c := *r
		if k := string(r.Key); strings.HasPrefix(k, "buf/") {
			j := strings.LastIndexByte(k, '/')
			seq, err := strconv.Atoi(k[j+1:])
			if err != nil {
				t.Fatal(err)
			}
			c.Key = []byte(k[:j+1] + strconv.Itoa(seq))
			n++
		}
		out[i] = &c
	}
	if n == 0 {
		t.Fatal("no buffered records in the changelog")
	}
	return out
}

// same reports whether two outputs are the same record: equal bytes, or for
// esr.validated.v1 equal decoded values (Avro maps, such as FILE_END's
// rule_counts, encode in Go's map order).
func (h *harness) same(a, b *kgo.Record) bool {
	if a.Topic != b.Topic {
		return false
	}
	if bytes.Equal(a.Value, b.Value) {
		return true
	}
	return a.Topic == schemas.TopicValidated && reflect.DeepEqual(h.decodeEntity(a), h.decodeEntity(b))
}

// compact keeps the last value of each key, dropping deleted keys, in first
// write order: what a compacted changelog replays.
func compact(recs []*kgo.Record) []*kgo.Record {
	last := map[string]*kgo.Record{}
	var order []string
	for _, r := range recs {
		k := string(r.Key)
		if _, ok := last[k]; !ok {
			order = append(order, k)
		}
		last[k] = r
	}
	var out []*kgo.Record
	for _, k := range order {
		if last[k].Value != nil {
			out = append(out, last[k])
		}
	}
	return out
}

// A full file replaces what validate knows only when the tenant's feed
// says its omissions are corrections (missing: correct). Under the GO
// default (ignore), publish keeps the people a full file omits, so they
// stay known here as well.
func TestFullFileResetsKnownOnlyWhenOmissionsAreCorrections(t *testing.T) {
	full := file(2, linePRA, lineASA)
	for i := range full {
		full[i].File.Kind = internalv1.FileKindFull
	}
	correct, err := tenant.New(tenant.Tenant{Code: "RXX", VPDs: []string{"412"}, Feeds: tenant.Feeds{GO: tenant.Feed{Missing: tenant.MissingCorrect}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name               string
		tenants            *tenant.Set
		quarantined        []string
		persons, positions int
	}{
		// File 1 defines the location, organisation and position; the full
		// file 2 does not, so under correct its assignment no longer finds
		// them. The person it re-sends is known again.
		{"correct", correct, []string{"VALIDATE ASA:3 ESR-X002/position_id ESR-X003/organisation_id ESR-X004/location_id"}, 1, 0},
		{"ignore (default)", nil, nil, 1, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.val = h.newValidateWith(tt.tenants)
			s := summarise(h, h.run(append(file(1, lineLCA, lineORA, linePOA, linePRA), full...)))
			if fmt.Sprint(s.quarantined) != fmt.Sprint(tt.quarantined) {
				t.Errorf("quarantined %v, want %v", s.quarantined, tt.quarantined)
			}
			if p, q := h.val.KnownCounts("RXX"); p != tt.persons || q != tt.positions {
				t.Errorf("known %d persons %d positions, want %d %d", p, q, tt.persons, tt.positions)
			}
		})
	}
}
