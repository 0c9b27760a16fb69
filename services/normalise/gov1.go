package normalise

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/gov1"
	"github.com/esrflow/esrflow/esr/model"
	"github.com/esrflow/esrflow/esr/rules"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/platform/kafka/stage"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// GO v1 ("ASG" sub-interface, ESR-FORMATS §3) maps into the same canonical
// model as GO v2, so a v1 trust gets the events a v2 trust would for the same
// changes (docs/canonical-model.md, "GO v1"). What v1 does differently:
//
//   - A person group is a PER row and the ASG rows after it: an ASG carries no
//     person id. MapRow cannot see the row before, so it maps an ASG with
//     person id 0 and Outcome.LinkV1 set; Process, which sees a file's rows in
//     order, fills in the person of the PER before it, or quarantines the row
//     with ESR-R009 (asg-person) when there is none or the assignment
//     number's stem is not that person's employee number.
//   - Organisations and locations are named by text on the ASG row. Their
//     stable key is RefID of the VPD and the name; the first ASG of a file to
//     name one also yields an Organisation or Location entity
//     (Outcome.Derived, rules.Derived), so validate's references resolve and
//     publish knows the name an event carries.
//   - A post is named by its composite (number|title|occupation|area|); the
//     assignment carries it as its position reference, with no position id,
//     so v1 makes no Position entity (a re-titled post reaches its holders
//     through their re-sent ASG rows).
//   - Rows carry no effective start, last update, leaving reason, last
//     working day, NHS Unique ID, CRS UUID or FTE: the effective start is the
//     file's run date, the rest stays empty.

// DialectGOv1 is what ingest writes in RawRecord.file.dialect for GO v1.
const DialectGOv1 = rules.DialectGOv1

// RuleASGPerson: a GO v1 ASG row with no PER before it, or whose assignment
// number's stem is not that PER's employee number: ESR-R009.
const RuleASGPerson = "asg-person"

func isGOv1(dialect string) bool { return format.DialectOf(dialect) == format.DialectGOv1 }

// RefID is the stable surrogate key GO v1 gives an organisation or location
// it names by text: FNV-1a (64-bit) of kind, VPD and the name with case and
// runs of blanks folded, kept to 52 bits and offset by 2^52. The same name
// always gives the same key in every file; keys from 2^52 up never meet an
// ESR surrogate id (at most 15 digits, in practice 7-8); 0 stays "absent".
func RefID(kind internalv1.EntityKind, vpd, name string) int64 {
	n := strings.ToUpper(strings.Join(strings.Fields(name), " "))
	if n == "" {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(string(kind)))
	h.Write([]byte{0})
	h.Write([]byte(vpd))
	h.Write([]byte{0})
	h.Write([]byte(n))
	return int64(h.Sum64()&(1<<52-1)) | 1<<52
}

// v1Statuses maps the user assignment status text GO v1 carries to the
// system status the model decides on (ESR-FORMATS §5.7), by upper-case text.
// A text not listed maps to UNKNOWN (rule ESR-R025).
var v1Statuses = map[string]model.AssignmentStatus{
	"ACTIVE ASSIGNMENT":                   model.StatusActiveAssign,
	"ACTING UP":                           model.StatusActiveAssign,
	"INTERNAL SECONDMENT":                 model.StatusActiveAssign,
	"SUSPEND ASSIGNMENT":                  model.StatusSuspendAssign,
	"SUSPEND NO PAY":                      model.StatusSuspendAssign,
	"SUSPEND WITH PAY":                    model.StatusSuspendAssign,
	"MATERNITY":                           model.StatusSuspendAssign,
	"CAREER BREAK":                        model.StatusSuspendAssign,
	"OUT ON EXTERNAL SECONDMENT - PAID":   model.StatusSuspendAssign,
	"OUT ON EXTERNAL SECONDMENT - UNPAID": model.StatusSuspendAssign,
	"INACTIVE NOT WORKED":                 model.StatusSuspendAssign,
	"TERMINATED":                          model.StatusTermAssign,
	"TERMINATE ASSIGNMENT":                model.StatusTermAssign,
	"TERMINATE PROCESS":                   model.StatusTermAssign,
	"ACTIVE APPLICATION":                  model.StatusActiveApl,
	"APPLICANT":                           model.StatusActiveApl,
	"OFFER":                               model.StatusOffer,
	"OFFER ACCEPTED":                      model.StatusAccepted,
	"ACCEPTED":                            model.StatusAccepted,
}

func v1Status(text string) model.AssignmentStatus {
	if st, ok := v1Statuses[strings.ToUpper(strings.Join(strings.Fields(text), " "))]; ok {
		return st
	}
	return model.ParseAssignmentStatus(text) // a system code as text
}

// mapGOv1 is MapRow for a GO v1 row whose parse problems and dialect were
// checked.
func mapGOv1(raw internalv1.RawRecord, m tenant.Mapping) Outcome {
	spec := gov1.Spec(raw.RecordType)
	if spec == nil {
		return quarantined(violation(format.RuleRecordType, ""))
	}
	row := format.Row{Line: int(raw.Line), Type: raw.RecordType, Fields: make([]string, 0, len(raw.Fields)+1)}
	row.Fields = append(append(row.Fields, raw.RecordType), raw.Fields...)
	if probs := format.CheckRow("", row.Line, spec, row.Fields, nil); len(probs) > 0 {
		return fromProblems(probs)
	}
	rec, err := gov1.Decode(row)
	if err != nil {
		var fe *format.Error
		if errors.As(err, &fe) {
			return quarantined(violation(fe.Rule, fe.Field))
		}
		return quarantined(violation(format.RuleRecordType, ""))
	}
	run := date(raw.File.RunDate)
	switch r := rec.(type) {
	case gov1.PersonRow:
		return entity(internalv1.EntityKindPerson, mapV1Person(raw.Vpd, run, r, row))
	case gov1.AssignmentRow:
		out := entity(internalv1.EntityKindAssignment, mapV1Assignment(raw.Vpd, run, r, row, m))
		out.LinkV1 = true
		if id := RefID(internalv1.EntityKindOrganisation, raw.Vpd, r.Organisation); id != 0 {
			out.Derived = append(out.Derived, Derived{Kind: internalv1.EntityKindOrganisation, ID: id,
				Entity: internalv1.Organisation{Vpd: raw.Vpd, OrganisationID: id, Name: r.Organisation, EffectiveFrom: run,
					NacsCode: r.LegalEntity}})
		}
		if id := RefID(internalv1.EntityKindLocation, raw.Vpd, r.Location); id != 0 {
			out.Derived = append(out.Derived, Derived{Kind: internalv1.EntityKindLocation, ID: id,
				Entity: internalv1.Location{Vpd: raw.Vpd, LocationID: id, Code: r.Location, Description: r.Location,
					Town: r.Town, Postcode: r.Postcode}})
		}
		return out
	}
	return Outcome{Kind: KindIgnored}
}

// v1 PER columns read from the row itself (empty vs No).
const (
	colPERCurrentEmployee  = 13
	colPERCurrentApplicant = 29
	colASGNormalHours      = 23
)

// v1PersonType derives the system person type v1 does not carry from its
// current-employee and current-applicant flags and the termination date.
func v1PersonType(r gov1.PersonRow, row format.Row) (system, user string) {
	emp := r.CurrentEmployee && row.Field(colPERCurrentEmployee) != ""
	apl, _, _ := format.ParseFlag(row.Field(colPERCurrentApplicant))
	switch {
	case emp && apl:
		return "EMP_APL", "Employee and Applicant"
	case emp:
		return "EMP", "Employee"
	case apl && !r.TerminationDate.IsZero():
		return "EX_EMP_APL", "Ex-employee and Applicant"
	case apl:
		return "APL", "Applicant"
	case !r.TerminationDate.IsZero() || row.Field(colPERCurrentEmployee) != "":
		return "EX_EMP", "Ex-employee"
	}
	return "", ""
}

func mapV1Person(vpd string, run time.Time, r gov1.PersonRow, row format.Row) internalv1.Person {
	sys, user := v1PersonType(r, row)
	return internalv1.Person{
		Vpd:                   vpd,
		PersonID:              r.PersonID,
		EffectiveStart:        run,
		EmployeeNumber:        r.EmployeeNumber,
		Title:                 r.Title,
		LastName:              r.LastName,
		FirstName:             r.FirstName,
		MiddleNames:           r.MiddleNames,
		Gender:                gender(r.Gender),
		DateOfBirth:           datePtr(r.DateOfBirth),
		NiNumber:              r.NINumber,
		HireDate:              datePtr(r.HireDate),
		ActualTerminationDate: datePtr(r.TerminationDate),
		SystemPersonType:      sys,
		UserPersonType:        user,
		OfficeEmail:           r.OfficeEmail,
	}
}

func mapV1Assignment(vpd string, run time.Time, r gov1.AssignmentRow, row format.Row, m tenant.Mapping) internalv1.Assignment {
	st := v1Status(r.AssignmentStatus)
	typ := "E"
	if st.IsApplicant() {
		typ = "A"
	}
	occupation := r.PositionName.OccupationCode
	if occupation == "" {
		occupation = r.OccupationCode
	}
	role := r.JobName.JobRole
	if role == "" {
		role = r.JobRole
	}
	return internalv1.Assignment{
		Vpd:              vpd,
		AssignmentID:     r.AssignmentID,
		EffectiveStart:   run,
		EarliestStart:    datePtr(r.EarliestAssignmentStart),
		AssignmentType:   typ,
		AssignmentNumber: r.AssignmentNumber,
		Status:           internalv1.AssignmentStatus(st),
		UserStatus:       r.AssignmentStatus,
		Primary:          r.Primary,
		Category:         r.AssignmentCategory,
		EmployeeCategory: r.EmployeeCategory,
		Hours:            optFloat(row, colASGNormalHours, r.NormalHours),
		OrganisationID:   RefID(internalv1.EntityKindOrganisation, vpd, r.Organisation),
		LocationID:       RefID(internalv1.EntityKindLocation, vpd, r.Location),
		Position: internalv1.PositionRef{Number: r.PositionName.Number, Title: r.PositionName.Title,
			OccupationCode: occupation, Area: r.PositionName.Area},
		Grade:                      internalv1.Grade{Owner: r.Grade.Owner, Code: r.Grade.Code, Description: r.Grade.Description},
		StaffGroup:                 staffGroup(m, r.JobName.StaffGroup),
		JobRole:                    role,
		FinalAssignmentEndDate:     datePtr(r.FinalAssignmentEnd),
		SupervisorAssignmentNumber: r.SupervisorAssignmentNumber,
	}
}

// V1File links a GO v1 file's rows in file order, as Process does (and
// `esrflow validate` offline): a PER opens a person group; an ASG mapped by
// MapRow (Outcome.LinkV1) gets that person, or is quarantined with ESR-R009
// (asg-person), and brings the reference entities it is the first of the
// file to name. The zero value is a file before its first row.
type V1File struct {
	// Person is the person of the last PER row (nil before the first PER,
	// or after a PER that did not map).
	Person *V1Person
	// Refs are the reference entities derived so far, by RefKey.
	Refs map[string]bool
}

// V1Person is what an ASG row needs of the PER row before it.
type V1Person struct {
	PersonID       int64  `json:"pid"`
	EmployeeNumber string `json:"emp"`
}

// RefKey names a derived entity in V1File.Refs: <kind>/<id>.
func RefKey(d Derived) string { return string(d.Kind) + "/" + strconv.FormatInt(d.ID, 10) }

// Next applies the file's next RECORD row (its MapRow outcome) and returns
// the outcome to count and emit, and the derived entities to emit before
// it (new to the file: they are in Refs from now on).
func (f *V1File) Next(recordType string, out Outcome) (Outcome, []Derived) {
	switch {
	case recordType == gov1.TypePerson:
		f.Person = nil
		if per, ok := out.Entity.(internalv1.Person); ok && out.Kind == KindEntity {
			f.Person = &V1Person{PersonID: per.PersonID, EmployeeNumber: per.EmployeeNumber}
		}
		return out, nil
	case !out.LinkV1:
		return out, nil
	}
	a := out.Entity.(internalv1.Assignment)
	switch stem, _, _ := strings.Cut(a.AssignmentNumber, "-"); {
	case f.Person == nil:
		return quarantined(violation(RuleASGPerson, "")), nil
	case stem != f.Person.EmployeeNumber:
		return quarantined(violation(RuleASGPerson, "assignment_number")), nil
	}
	a.PersonID = f.Person.PersonID
	out.Entity, out.LinkV1 = a, false
	var fresh []Derived
	for _, d := range out.Derived {
		if k := RefKey(d); !f.Refs[k] {
			if f.Refs == nil {
				f.Refs = map[string]bool{}
			}
			f.Refs[k] = true
			fresh = append(fresh, d)
		}
	}
	return out, fresh
}

// Changelog keys of the reference entities an open GO v1 file has yielded:
// ref/<tenant>/<sha256>/<kind>/<id>, value 0x01, tombstoned at FILE_END.
const refPrefix = "ref/"

// refStateKey is the changelog key of ref in the file whose state key is sk.
func refStateKey(sk, ref string) string {
	return refPrefix + strings.TrimPrefix(sk, statePrefix) + "/" + ref
}

func (p *Processor) restoreRef(partition int32, rest string, value []byte) error {
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) != 3 {
		return fmt.Errorf("normalise: bad changelog key %q", refPrefix+rest)
	}
	sk := stateKey(parts[0], parts[1])
	fs := p.files[sk]
	if fs == nil {
		if value == nil {
			return nil
		}
		fs = &fileState{partition: partition}
		p.files[sk] = fs
	}
	if value == nil {
		delete(fs.v1.Refs, parts[2])
		return nil
	}
	if fs.v1.Refs == nil {
		fs.v1.Refs = map[string]bool{}
	}
	fs.v1.Refs[parts[2]] = true
	return nil
}

// linkV1 applies a GO v1 row to its file's V1File: the ASG is linked (or
// quarantined), encoded, and preceded by the reference entities it is the
// first to name, each also written as a changelog key.
func (p *Processor) linkV1(tx *stage.Tx, key []byte, hdrs []kgo.RecordHeader, sk string, fs *fileState, pr *preparedRow) (Outcome, error) {
	raw := pr.raw
	out, fresh := fs.v1.Next(raw.RecordType, pr.out)
	if !pr.out.LinkV1 {
		return out, nil
	}
	var err error
	if pr.value, err = p.encodeOutcome(raw, out); err != nil {
		return out, err
	}
	rawRow := &internalv1.RawRow{RecordType: raw.RecordType, Fields: nonNil(raw.Fields)}
	for _, d := range fresh {
		rec := internalv1.EntityRecord{Kind: internalv1.EntityRecordKindEntity, Lineage: recordLineage(raw), Vpd: raw.Vpd,
			File: raw.File, Raw: rawRow, Entity: d.Entity, ReplayID: raw.ReplayID}
		p.stampLineage(&rec, raw)
		if err := p.emitEntity(tx, key, hdrs, rec); err != nil {
			return out, err
		}
		tx.SetState([]byte(refStateKey(sk, RefKey(d))), []byte{1})
		p.metrics.record(raw.Tenant, strings.ToLower(string(d.Kind)))
	}
	return out, nil
}
