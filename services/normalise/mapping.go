package normalise

import (
	"errors"
	"strings"
	"time"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/gov2"
	"github.com/esrflow/esrflow/esr/model"
	"github.com/esrflow/esrflow/esr/rules"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// Dialects normalise reads. Ingest writes DialectGOv2 ("go-v2") and
// DialectGOv1 ("go-v1", gov1.go) in RawRecord.file.dialect; the parser
// package's own names ("gov2", "gov1") are accepted too so the spellings
// cannot drift apart silently.
const (
	DialectGOv2 = "go-v2"
)

// Rules normalise adds to the parser's, by their catalogue names (esr/rules
// catalogue.yaml). Violations carry the catalogue code the name maps to,
// like the parser's own rules (format.Rule*: column-count → ESR-R002,
// date → ESR-V001, ...).
const (
	// RuleRequired: the key of a row is empty (e.g. a PHA without person
	// id): ESR-R007.
	RuleRequired = "row-key"
	// RuleDialect: the file's dialect is not one normalise can map:
	// ESR-R006.
	RuleDialect = "dialect"
)

// Kind is what MapRow made of a row.
type Kind int

// Outcome kinds. Every RECORD row gets exactly one, which is what makes a
// file's counts reconcile: rows_read = entities + corrections + ignored +
// quarantined.
const (
	// KindEntity: Outcome.Entity holds a Person, Assignment, Position,
	// Organisation or Location (a value, as internalv1.NewAPI wants).
	KindEntity Kind = iota + 1
	// KindCorrection: Outcome.Entity holds an internalv1.Correction.
	KindCorrection
	// KindIgnored: a row of a segment the model drops (phones, addresses,
	// vehicles, costings, their deletes, and the tenant's ignored types),
	// whose key was present.
	KindIgnored
	// KindQuarantined: Outcome.Violations says why.
	KindQuarantined
)

func (k Kind) String() string {
	switch k {
	case KindEntity:
		return "entity"
	case KindCorrection:
		return "correction"
	case KindIgnored:
		return "ignored"
	case KindQuarantined:
		return "quarantined"
	}
	return "unknown"
}

// Outcome is the result of mapping one raw row.
type Outcome struct {
	Kind Kind
	// Entity is set for KindEntity and KindCorrection.
	Entity any
	// EntityKind names the entity (or, for a correction, the deleted
	// entity's kind); empty for ignored and quarantined rows.
	EntityKind internalv1.EntityKind
	// Violations are set for KindQuarantined: one per problem, in the order
	// found, under catalogue codes (ESR-R002, ESR-V001 ...) with the field names.
	Violations []internalv1.Violation
	// LinkV1 marks a GO v1 assignment mapped without its person: Process
	// links it to the PER row before it in the file (see gov1.go).
	LinkV1 bool
	// Derived are the reference entities a GO v1 ASG row names by text
	// (organisation, location), emitted the first time a file names them.
	Derived []Derived
}

// Derived is a reference entity derived from a row of another kind.
type Derived struct {
	Kind   internalv1.EntityKind
	ID     int64
	Entity any
}

// MapRow maps one RECORD row of esr.raw.v1 to its canonical entity, a
// correction, "ignored", or a quarantine outcome with every violation. It is
// pure: the same row and mapping always give the same outcome.
//
// Order of checks: parse problems reported by ingest (all of them, as
// reported); the file's dialect; the record type; for ignored segments, the
// row's key (column 1 must not be empty: ESR-R007 row-key); otherwise the
// parser's own column checks and gov2.Decode. Messages name rules and fields
// only, never values.
func MapRow(raw internalv1.RawRecord, m tenant.Mapping) Outcome {
	if len(raw.Problems) > 0 {
		vs := make([]internalv1.Violation, 0, len(raw.Problems))
		for _, p := range raw.Problems {
			vs = append(vs, violation(p.Rule, p.Field))
		}
		return quarantined(vs...)
	}
	if isGOv1(raw.File.Dialect) {
		return mapGOv1(raw, m)
	}
	if !isGOv2(raw.File.Dialect) {
		return quarantined(violation(RuleDialect, ""))
	}
	spec := gov2.Spec(raw.RecordType)
	if spec == nil {
		return quarantined(violation(format.RuleRecordType, ""))
	}
	row := format.Row{Line: int(raw.Line), Type: raw.RecordType, Fields: make([]string, 0, len(raw.Fields)+1)}
	row.Fields = append(append(row.Fields, raw.RecordType), raw.Fields...)

	// Ingest drops the rows the tenant's mapping ignores (counting them on
	// FILE_END); those that still arrive (written before it did, replays)
	// are counted here by the same decision, tenant.Mapping.IgnoredRow.
	if m.IgnoresIn(raw.File.Dialect, spec.Type) {
		// The key is checked before the row is dropped, so a keyless row is
		// still visible in quarantine rather than silently counted.
		if probs := format.CheckRow("", row.Line, spec, row.Fields, nil); len(probs) > 0 {
			return fromProblems(probs)
		}
		if !m.IgnoredRow(raw.File.Dialect, row) {
			return quarantined(violation(RuleRequired, spec.Columns[tenant.IgnoredRowKey].Name))
		}
		return Outcome{Kind: KindIgnored}
	}
	// Ingest checked the row already; checking again costs little and means
	// a row is only mapped when it is clean by this service's parser too.
	if probs := format.CheckRow("", row.Line, spec, row.Fields, nil); len(probs) > 0 {
		return fromProblems(probs)
	}
	rec, err := gov2.Decode(row)
	if err != nil {
		var fe *format.Error
		if errors.As(err, &fe) {
			return quarantined(violation(fe.Rule, fe.Field))
		}
		return quarantined(violation(format.RuleRecordType, ""))
	}
	vpd := raw.Vpd
	switch r := rec.(type) {
	case gov2.PersonRow:
		return entity(internalv1.EntityKindPerson, mapPerson(vpd, r))
	case gov2.AssignmentRow:
		return entity(internalv1.EntityKindAssignment, mapAssignment(vpd, r, row, m))
	case gov2.PositionRow:
		return entity(internalv1.EntityKindPosition, mapPosition(vpd, r, row, m))
	case gov2.OrganisationRow:
		return entity(internalv1.EntityKindOrganisation, mapOrganisation(vpd, r))
	case gov2.LocationRow:
		return entity(internalv1.EntityKindLocation, mapLocation(vpd, r))
	case gov2.DeleteRow:
		kind, ok := model.DeleteKind(r.Type)
		if !ok {
			return Outcome{Kind: KindIgnored}
		}
		ek := internalv1.EntityKind(kind)
		return Outcome{Kind: KindCorrection, EntityKind: ek,
			Entity: internalv1.Correction{Vpd: vpd, EntityKind: ek, ID: r.ID, RecordType: r.Type}}
	}
	// A known record type the model has no entity for (none today).
	return Outcome{Kind: KindIgnored}
}

func isGOv2(dialect string) bool { return format.DialectOf(dialect) == format.DialectGOv2 }

func entity(k internalv1.EntityKind, v any) Outcome {
	return Outcome{Kind: KindEntity, EntityKind: k, Entity: v}
}

func quarantined(vs ...internalv1.Violation) Outcome {
	return Outcome{Kind: KindQuarantined, Violations: vs}
}

func fromProblems(probs []*format.Error) Outcome {
	vs := make([]internalv1.Violation, 0, len(probs))
	for _, p := range probs {
		vs = append(vs, violation(p.Rule, p.Field))
	}
	return quarantined(vs...)
}

// violation builds the violation of the catalogue rule a parser or
// normalise slug names, with the catalogue's code, message and severity.
// Its message names the rule and field only: the parser's own messages may
// quote values, so they are not copied.
func violation(slug, field string) internalv1.Violation {
	code := rules.CodeOf(slug)
	if _, ok := rules.Lookup(code); ok {
		return rules.Violation(code, field)
	}
	// A slug with no catalogue entry (a reader failure) keeps its name
	// and a message of its own.
	text, ok := uncatalogued[slug]
	if !ok {
		text = "parse rule " + slug + " failed"
	}
	if field != "" {
		text = field + ": " + text
	}
	return internalv1.Violation{Rule: slug, Field: field, Message: text, Severity: internalv1.SeverityError}
}

// uncatalogued describes the parser rules the catalogue has no code for:
// they are not expected on a row normalise maps, but a message should still
// say what went wrong.
var uncatalogued = map[string]string{
	format.RuleRead:   "the file could not be read",
	format.RuleConfig: "the reader's configuration is unusable",
}

func datePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	d := model.CivilDate(t)
	return &d
}

func date(t time.Time) time.Time { return model.CivilDate(t) }

func tsPtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Millisecond)
	return &u
}

// optFloat is nil when the column is empty: 0 is a real value for hours and
// FTE on bank and honorary posts.
func optFloat(row format.Row, col int, v float64) *float64 {
	if row.Field(col) == "" {
		return nil
	}
	return &v
}

// gender normalises to F or M, keeping anything else as read.
func gender(s string) string {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "F", "FEMALE":
		return "F"
	case "M", "MALE":
		return "M"
	}
	return s
}

// staffGroup applies the tenant's aliases (exact, then ignoring case).
func staffGroup(m tenant.Mapping, s string) string {
	if len(m.StaffGroupAliases) == 0 {
		return s
	}
	if v, ok := m.StaffGroupAliases[s]; ok {
		return v
	}
	for k, v := range m.StaffGroupAliases {
		if strings.EqualFold(strings.TrimSpace(k), strings.TrimSpace(s)) {
			return v
		}
	}
	return s
}

func mapPerson(vpd string, r gov2.PersonRow) internalv1.Person {
	return internalv1.Person{
		Vpd:                   vpd,
		PersonID:              r.PersonID,
		EffectiveStart:        date(r.EffectiveStart),
		EffectiveEnd:          datePtr(r.EffectiveEnd),
		EmployeeNumber:        r.EmployeeNumber,
		NhsUniqueID:           r.NHSUniqueID,
		CrsUUID:               r.NHSCRSUUID,
		Title:                 r.Title,
		LastName:              r.LastName,
		FirstName:             r.FirstName,
		MiddleNames:           r.MiddleNames,
		PreferredName:         r.PreferredName,
		PreviousLastName:      r.PreviousLastName,
		Gender:                gender(r.Gender),
		DateOfBirth:           datePtr(r.DateOfBirth),
		NiNumber:              r.NINumber,
		HireDate:              datePtr(r.HireDate),
		ActualTerminationDate: datePtr(r.TerminationDate),
		LeavingReason:         r.LeavingReason,
		SystemPersonType:      r.SystemPersonType,
		UserPersonType:        r.UserPersonType,
		OfficeEmail:           r.OfficeEmail,
		NhsStartDate:          datePtr(r.NHSStartDate),
		LastUpdate:            tsPtr(r.LastUpdate),
	}
}

// GO v2 ASA columns read from the row itself (empty vs zero).
const (
	colASANormalHours = 22
	colASAFTE         = 25
	colPOABudgetedFTE = 6
	colPOAGradeStep   = 12
)

func mapAssignment(vpd string, r gov2.AssignmentRow, row format.Row, m tenant.Mapping) internalv1.Assignment {
	return internalv1.Assignment{
		Vpd:              vpd,
		PersonID:         r.PersonID,
		AssignmentID:     r.AssignmentID,
		EffectiveStart:   date(r.EffectiveStart),
		EffectiveEnd:     datePtr(r.EffectiveEnd),
		EarliestStart:    datePtr(r.EarliestAssignmentStart),
		AssignmentType:   r.AssignmentType,
		AssignmentNumber: r.AssignmentNumber,
		Status:           internalv1.AssignmentStatus(model.ParseAssignmentStatus(r.SystemStatus)),
		UserStatus:       r.UserStatus,
		Primary:          r.Primary,
		Category:         r.AssignmentCategory,
		EmployeeCategory: r.EmployeeCategory,
		Hours:            optFloat(row, colASANormalHours, r.NormalHours),
		Fte:              optFloat(row, colASAFTE, r.FTE),
		OrganisationID:   r.OrganisationID,
		LocationID:       r.LocationID,
		PositionID:       r.PositionID,
		Position: internalv1.PositionRef{Number: r.PositionName.Number, Title: r.PositionName.Title,
			OccupationCode: r.PositionName.OccupationCode, Area: r.PositionName.Area},
		Grade:                      internalv1.Grade{Owner: r.Grade.Owner, Code: r.Grade.Code, Description: r.Grade.Description},
		StaffGroup:                 staffGroup(m, r.JobName.StaffGroup),
		JobRole:                    r.JobName.JobRole,
		ContractEndDate:            datePtr(r.ContractEndDate),
		LastWorkingDay:             datePtr(r.LastWorkingDay),
		FinalAssignmentEndDate:     datePtr(r.AssignmentEndDate),
		SupervisorPersonID:         r.SupervisorPersonID,
		SupervisorAssignmentID:     r.SupervisorAssignmentID,
		SupervisorAssignmentNumber: r.SupervisorAssignmentNumber,
		LastUpdate:                 tsPtr(r.LastUpdate),
	}
}

func mapPosition(vpd string, r gov2.PositionRow, row format.Row, m tenant.Mapping) internalv1.Position {
	number := r.PositionNumber
	if number == "" {
		number = r.Name.Number
	}
	occupation := r.OccupationCode
	if occupation == "" {
		occupation = r.Name.OccupationCode
	}
	return internalv1.Position{
		Vpd:               vpd,
		PositionID:        r.PositionID,
		EffectiveFrom:     date(r.EffectiveFrom),
		EffectiveTo:       datePtr(r.EffectiveTo),
		Number:            number,
		Title:             r.Name.Title,
		OccupationCode:    occupation,
		Area:              r.Name.Area,
		BudgetedFte:       optFloat(row, colPOABudgetedFTE, r.BudgetedFTE),
		StaffGroup:        staffGroup(m, r.StaffGroup),
		JobRole:           r.JobRole,
		Payscale:          r.Payscale,
		GradeStep:         row.Field(colPOAGradeStep),
		OrganisationID:    r.OrganisationID,
		HiringStatus:      r.HiringStatus,
		WorkplaceOrgCode:  r.WorkplaceOrgCode,
		DeaneryPostNumber: r.DeaneryPostNumber,
		LastUpdate:        tsPtr(r.LastUpdate),
	}
}

func mapOrganisation(vpd string, r gov2.OrganisationRow) internalv1.Organisation {
	return internalv1.Organisation{
		Vpd:                  vpd,
		OrganisationID:       r.OrganisationID,
		Name:                 r.Name,
		Type:                 r.Type,
		EffectiveFrom:        date(r.EffectiveFrom),
		EffectiveTo:          datePtr(r.EffectiveTo),
		CostCentre:           r.DefaultCostCentre,
		ParentOrganisationID: r.ParentOrganisationID,
		NacsCode:             r.NACSCode,
		LocationID:           r.LocationID,
		LastUpdate:           tsPtr(r.LastUpdate),
	}
}

func mapLocation(vpd string, r gov2.LocationRow) internalv1.Location {
	return internalv1.Location{
		Vpd:          vpd,
		LocationID:   r.LocationID,
		Code:         r.Code,
		Description:  r.Description,
		InactiveDate: datePtr(r.InactiveDate),
		SiteCode:     r.SiteCode,
		Town:         r.Town,
		Postcode:     r.Postcode,
		LastUpdate:   tsPtr(r.LastUpdate),
	}
}
