package schemas_test

import (
	"time"

	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// Representative synthetic values (invented data, ESR-FORMATS.md §2.5) for
// the latest version of every schema. A golden payload is written from these
// when a version is released and is never rewritten, so these values may
// evolve with the schemas while the goldens stay frozen.

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func ptr[T any](v T) *T { return &v }

// recorded is a millisecond-precision instant: timestamp-millis keeps no
// more, so a finer value would not round-trip.
func recordedAt() time.Time { return time.Date(2024, 3, 11, 2, 17, 3, 250_000_000, time.UTC) }

func fileInfo() internalv1.FileInfo {
	return internalv1.FileInfo{
		Name:     "GO_412_EXP_GOC_20240311_00000347.DAT",
		Sha256:   "9f2c4e1a7b3d5f6e8a0c2b4d6f8e0a1c3b5d7f9e1a2c4b6d8f0e2a4c6b8d0f1e",
		Dialect:  "go-v2",
		Kind:     internalv1.FileKindChange,
		Sequence: 347,
		RunDate:  day(2024, 3, 11),
		Size:     2417,
	}
}

func lineage(line int64) internalv1.Lineage {
	f := fileInfo()
	return internalv1.Lineage{Tenant: "RXX", FileName: f.Name, FileSha256: f.Sha256, Line: line}
}

func source() eventsv1.Source {
	f := fileInfo()
	return eventsv1.Source{FileName: f.Name, FileSha256: f.Sha256, Line: 6}
}

func fixture(name string) any {
	switch name {
	case schemas.Raw:
		return &internalv1.RawRecord{
			Kind: internalv1.RawKindRecord, Tenant: "RXX", Vpd: "412", File: fileInfo(), Line: 4,
			RecordType: "ORA",
			Fields:     []string{"7730112", "412 Cardiology Outpatients", "NHS_DE", "20150401", "", "60021", "20150401", "", "412C3310", "7730001", "RXX", "905512", "20240308 173102", "Cardiology OP"},
			Problems:   []internalv1.Problem{{Rule: "R2", Column: -1, Field: "", Message: "1 extra empty trailing column"}},
			Origin:     ptr(lineage(4)),
			ReplayID:   ptr("rp-0c1d2e3f4a5b"),
			RawSha256:  ptr("5b0e3f1c9a7d2e4b6c8a0f1e3d5c7b9a1e2f4d6c8b0a2e4f6d8c0b2a4e6f8d0c"),
			IngestedAt: ptr(recordedAt()),
			// Counts travel on FILE_END only; set here so the golden
			// payload carries every field of the schema (raw v4's
			// ignored_rows and ignored_by_type).
			Counts: &internalv1.RawCounts{Lines: 14, Rows: 9, RowsByType: map[string]int64{"ORA": 9},
				IgnoredRows: 3, IgnoredByType: map[string]int64{"PHA": 2, "COA": 1}},
		}
	case schemas.Entity:
		return &internalv1.EntityRecord{
			Kind: internalv1.EntityRecordKindEntity, Lineage: lineage(6), Vpd: "412", File: fileInfo(),
			Raw: &internalv1.RawRow{RecordType: "ASA", Fields: []string{"20990417", "41877120"}},
			Entity: internalv1.Assignment{
				Vpd: "412", PersonID: 20990417, AssignmentID: 41877120,
				EffectiveStart: day(2024, 3, 11), EarliestStart: ptr(day(2024, 3, 11)),
				AssignmentType: "E", AssignmentNumber: "31004581",
				Status: internalv1.AssignmentStatusActiveAssign, UserStatus: "Active Assignment",
				Primary: true, Category: "Permanent", EmployeeCategory: "FT",
				Hours: ptr(37.5), Fte: ptr(1.0),
				OrganisationID: 7730112, LocationID: 905512, PositionID: 8812045,
				Position:   internalv1.PositionRef{Number: "5102277", Title: "Staff Nurse", OccupationCode: "N6A", Area: "Cardiology"},
				Grade:      internalv1.Grade{Owner: "NHS", Code: "XR05", Description: "Review Body Band 5"},
				StaffGroup: "Nursing and Midwifery Registered", JobRole: "Staff Nurse",
				SupervisorPersonID: 20110032, SupervisorAssignmentID: 41000219, SupervisorAssignmentNumber: "30977120",
				LastUpdate: ptr(time.Date(2024, 3, 9, 10, 14, 55, 0, time.UTC)),
			},
			Warnings: []internalv1.Violation{
				{Rule: "ESR-V021", Field: "fte", Message: "fte: above the warning threshold", Severity: internalv1.SeverityWarning},
			},
			RuleSetVersion: "rs-3f9a0c1d2e4b",
			RuleCounts:     map[string]int64{},
			ReplayID:       ptr("rp-0c1d2e3f4a5b"),
			RawSha256:      ptr("5b0e3f1c9a7d2e4b6c8a0f1e3d5c7b9a1e2f4d6c8b0a2e4f6d8c0b2a4e6f8d0c"),
			MappingVersion: ptr("mp-1a2b3c4d5e6f"),
			IngestedAt:     ptr(recordedAt()), NormalisedAt: ptr(recordedAt()), ValidatedAt: ptr(recordedAt()),
		}
	case schemas.Quarantine:
		return &internalv1.QuarantineRecord{
			Stage: internalv1.StageValidate, Lineage: lineage(7), Vpd: "412",
			Raw: internalv1.RawRow{RecordType: "ASA", Fields: []string{"20990417", "41877121", "20240311"}},
			Violations: []internalv1.Violation{
				{Rule: "V3", Field: "assignment_number", Message: "stem does not match employee number", Severity: internalv1.SeverityError},
				{Rule: "V7", Field: "fte", Message: "FTE above 1", Severity: internalv1.SeverityWarning},
			},
			QuarantinedAt:  recordedAt(),
			RuleSetVersion: "rs-3f9a0c1d2e4b",
			EntityKind:     "assignment",
			Canonical:      ptr(`{"person_id":20990417,"assignment_id":41877121}`),
			File:           ptr(fileInfo()),
			ReplayID:       ptr("rp-0c1d2e3f4a5b"),
			RawSha256:      ptr("5b0e3f1c9a7d2e4b6c8a0f1e3d5c7b9a1e2f4d6c8b0a2e4f6d8c0b2a4e6f8d0c"),
		}
	case schemas.FileReport:
		return &internalv1.FileReport{
			Tenant: "RXX", Vpd: "412", File: fileInfo(), Status: internalv1.FileStatusReleased,
			Reason: ptr("released out of order by rxx-workforce-ops: sequence 346 will not be re-sent"),
			Hold: &internalv1.FileHold{Feed: "412/EXP", LastSequence: 345, LastFile: ptr("GO_412_EXP_GOC_20240309_00000345.DAT"),
				LastRunDate: ptr(day(2024, 3, 9)), AwaitingSequences: []int64{346},
				RefreshRequest: ptr("REFRESH_RXX_412_EXP_00000346-00000346.json")},
			Decision: &internalv1.IntakeDecisionRef{DecisionID: "8f0e4c2a-1b3d-4e5f-9a7b-6c5d4e3f2a1b", Actor: "rxx-workforce-ops",
				Reason: "sequence 346 will not be re-sent", DecidedAt: recordedAt()},
			RowsRead: 8, EntitiesAccepted: 5, Quarantined: 0, Corrections: 1, Ignored: 2,
			EventsEmitted:  map[string]int64{"starter-created": 1},
			ReportedAt:     recordedAt(),
			RuleSetVersion: "rs-3f9a0c1d2e4b",
			Warnings:       1,
			TopRules:       []internalv1.RuleCount{{Rule: "ESR-V003", Count: 2}},
			ReplayID:       ptr("rp-0c1d2e3f4a5b"),
		}
	case schemas.StarterCreated:
		return &eventsv1.StarterCreated{
			EventID: "5c1e0f0e-8d7b-5b8e-9a51-7f2f0b1f9d20", Tenant: "RXX", Vpd: "412",
			PersonID: "20990417", EmployeeNumber: "31004581",
			EffectiveDate: day(2024, 3, 11), RecordedAt: recordedAt(), Source: source(),
			AssignmentNumber: "31004581", PositionNumber: "5102277", PositionTitle: "Staff Nurse",
			Organisation: "412 Cardiology Outpatients", StartDate: day(2024, 3, 11),
		}
	case schemas.LeaverConfirmed:
		return &eventsv1.LeaverConfirmed{
			EventID: "0b6f3f8e-2c55-5e0c-8f7e-3a7d9a4c1e42", Tenant: "RXX", Vpd: "412",
			PersonID: "20110032", EmployeeNumber: "30977120",
			EffectiveDate: day(2024, 3, 29), RecordedAt: recordedAt(), Source: source(),
			LeavingDate: day(2024, 3, 29), LeavingReason: "Voluntary Resignation - Relocation",
			LastWorkingDay: ptr(day(2024, 3, 29)), DaysLate: 4,
			FinalAssignmentEndDate: ptr(day(2024, 3, 29)),
		}
	case schemas.PositionUpdated:
		before := eventsv1.PositionSnapshot{
			PositionNumber: "5102277", PositionTitle: "Staff Nurse", Organisation: "412 Cardiology Outpatients",
			Grade: "XR05", StaffGroup: "Nursing and Midwifery Registered", JobRole: "Staff Nurse",
			OccupationCode: "N6A", Location: "Ward 7 Admin",
		}
		after := before
		after.PositionTitle, after.Grade = "Senior Staff Nurse", "XR06"
		return &eventsv1.PositionUpdated{
			EventID: "7d2a9c4b-1e3f-5a6b-8c9d-0e1f2a3b4c5d", Tenant: "RXX", Vpd: "412",
			PersonID: "20990417", EmployeeNumber: "31004581",
			EffectiveDate: day(2024, 4, 1), RecordedAt: recordedAt(), Source: source(),
			AssignmentNumber: "31004581", Change: eventsv1.PositionChangeAttributesChanged,
			Before: &before, After: &after,
		}
	case schemas.LeaverReversed:
		return &eventsv1.LeaverReversed{
			EventID: "3e9b1d7c-5a2f-5c4e-9b8a-1d2c3e4f5a6b", Tenant: "RXX", Vpd: "412",
			PersonID: "20110032", EmployeeNumber: "30977120",
			EffectiveDate: day(2024, 3, 11), RecordedAt: recordedAt(), Source: source(),
			ReversedEventID: "0b6f3f8e-2c55-5e0c-8f7e-3a7d9a4c1e42", ReversedLeavingDate: day(2024, 3, 11),
			Reversal: "REDATED", NewLeavingDate: ptr(day(2024, 4, 30)), LeavingReason: "Voluntary Resignation - Relocation",
		}
	case schemas.OperatorCommand:
		return &internalv1.OperatorCommand{
			CommandID: "5b0e7c1d-9a2f-4c3e-8d7b-6a5f4e3d2c1b", Tenant: "RXX", Action: internalv1.OperatorActionRelease,
			BatchID: "hb-9f2c4e1a7b3d5f6e", Actor: "rxx-workforce-ops", Reason: "Confirmed with HR: restructure of estates",
			RequestedAt: recordedAt(),
		}
	case schemas.HeldBatch:
		f := fileInfo()
		return &internalv1.HeldBatch{
			BatchID: "hb-9f2c4e1a7b3d5f6e", Tenant: "RXX", Vpd: "412", FileName: f.Name, FileSha256: f.Sha256,
			RunDate: f.RunDate, Status: internalv1.HeldBatchStatusReleased, Leavers: 2, ActivePopulation: 40,
			MaxLeavers: 1, MaxPercent: 2.5, Tripped: "count 2 > 1",
			Held: []internalv1.HeldLeaverRef{
				{PersonID: "20110032", EmployeeNumber: "30977120", LeavingDate: day(2024, 3, 11), EventID: "0b6f3f8e-2c55-5e0c-8f7e-3a7d9a4c1e42", Line: 14},
				{PersonID: "20110047", EmployeeNumber: "30977135", LeavingDate: day(2024, 3, 11), EventID: "1c7a4f9e-3d66-5f1d-9a8f-4b8e0b5d2f53", Line: 0},
			},
			HeldAt: recordedAt(), DecidedAt: ptr(recordedAt().Add(time.Hour)), DecidedBy: "rxx-workforce-ops",
			Reason: "Confirmed with HR: restructure of estates", CommandID: "5b0e7c1d-9a2f-4c3e-8d7b-6a5f4e3d2c1b", Emitted: 2,
		}
	case schemas.ReplayRequest:
		return &internalv1.ReplayRequest{
			ReplayID: "rp-0c1d2e3f4a5b", Tenant: "RXX", RequestedBy: "rxx-workforce-ops",
			Reason: "staff group alias added for Bank Nurses", RequestedAt: recordedAt(),
			Rows: []internalv1.ReplayRow{{Lineage: lineage(7), Vpd: "412", File: fileInfo(),
				Raw:       internalv1.RawRow{RecordType: "ASA", Fields: []string{"20990417", "41877121", "20240311"}},
				RawSha256: ptr("5b0e3f1c9a7d2e4b6c8a0f1e3d5c7b9a1e2f4d6c8b0a2e4f6d8c0b2a4e6f8d0c")}},
		}
	case schemas.IntakeDecision:
		return &internalv1.IntakeDecision{
			DecisionID: "8f0e4c2a-1b3d-4e5f-9a7b-6c5d4e3f2a1b", Tenant: "RXX", Sha256: fileInfo().Sha256,
			Action: internalv1.IntakeActionRelease, Actor: "rxx-workforce-ops",
			Reason: "sequence 346 will not be re-sent", RequestedAt: recordedAt(),
		}
	case schemas.EventLineage:
		return &internalv1.EventLineage{
			EventID: "0b9a8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d", Tenant: "RXX", Topic: "esr.RXX.starter-created.v1",
			RawSha256:      ptr("5b0e3f1c9a7d2e4b6c8a0f1e3d5c7b9a1e2f4d6c8b0a2e4f6d8c0b2a4e6f8d0c"),
			MappingVersion: ptr("mp-1a2b3c4d5e6f"), RuleSetVersion: ptr("rs-0123456789ab"),
			IngestedAt: ptr(recordedAt()), NormalisedAt: ptr(recordedAt()), ValidatedAt: ptr(recordedAt()),
			PublishedAt: recordedAt(),
		}
	}
	return nil
}

// zero returns a pointer to a fresh value of the Go type of schema name.
func zero(name string) any {
	switch name {
	case schemas.Raw:
		return new(internalv1.RawRecord)
	case schemas.Entity:
		return new(internalv1.EntityRecord)
	case schemas.Quarantine:
		return new(internalv1.QuarantineRecord)
	case schemas.FileReport:
		return new(internalv1.FileReport)
	case schemas.StarterCreated:
		return new(eventsv1.StarterCreated)
	case schemas.LeaverConfirmed:
		return new(eventsv1.LeaverConfirmed)
	case schemas.LeaverReversed:
		return new(eventsv1.LeaverReversed)
	case schemas.PositionUpdated:
		return new(eventsv1.PositionUpdated)
	case schemas.OperatorCommand:
		return new(internalv1.OperatorCommand)
	case schemas.HeldBatch:
		return new(internalv1.HeldBatch)
	case schemas.ReplayRequest:
		return new(internalv1.ReplayRequest)
	case schemas.IntakeDecision:
		return new(internalv1.IntakeDecision)
	case schemas.EventLineage:
		return new(internalv1.EventLineage)
	}
	return nil
}
