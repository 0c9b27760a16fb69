package gov2

import (
	"time"

	"github.com/esrflow/esrflow/esr/format"
)

// Record is a typed GO v2 row. Zero time.Time means "no date"; flags are
// false when empty; ids are 0 when empty.
type Record interface {
	RecordType() string
}

// LocationRow is an LCA record.
type LocationRow struct {
	Line                                                    int
	LocationID                                              int64
	Code, Description                                       string
	InactiveDate                                            time.Time
	AddressLine1, AddressLine2, AddressLine3                string
	Town, County, Postcode, Country                         string
	Telephone, Fax                                          string
	PayslipDeliveryPoint                                    bool
	SiteCode                                                string
	WelshDescription                                        string
	WelshAddressLine1, WelshAddressLine2, WelshAddressLine3 string
	WelshTown                                               string
	LastUpdate                                              time.Time
}

// OrganisationRow is an ORA record.
type OrganisationRow struct {
	Line                                     int
	OrganisationID                           int64
	Name, Type                               string
	EffectiveFrom, EffectiveTo               time.Time
	HierarchyVersionID                       int64
	HierarchyVersionFrom, HierarchyVersionTo time.Time
	DefaultCostCentre                        string
	ParentOrganisationID                     int64 // may refer to a row later in the file
	NACSCode                                 string
	LocationID                               int64
	LastUpdate                               time.Time
	CostCentreDescription                    string
}

// PositionRow is a POA record.
type PositionRow struct {
	Line                       int
	PositionID                 int64
	EffectiveFrom, EffectiveTo time.Time
	PositionNumber             string // business key; string to keep leading zeros
	Name                       format.PositionName
	BudgetedFTE                float64
	SubjectiveCode             string
	StaffGroup, JobRole        string
	OccupationCode, Payscale   string
	GradeStep                  format.GradeStep
	ISARegulatedPost           string
	OrganisationID             int64
	HiringStatus, PositionType string
	EligibleForOH, EPP         bool
	DeaneryPostNumber          string
	ManagingDeaneryBody        string
	WorkplaceOrgCode           string
	LastUpdate                 time.Time
	SubjectiveDescription      string
}

// PersonRow is a PRA record. Special-category fields are empty unless the
// reader ran with KeepSpecialCategory.
type PersonRow struct {
	Line                                        int
	PersonID                                    int64
	EffectiveStart, EffectiveEnd                time.Time
	EmployeeNumber                              string
	Title, LastName, FirstName, MiddleNames     string
	MaidenName, PreferredName, PreviousLastName string
	Gender                                      string
	DateOfBirth                                 time.Time
	NINumber                                    string
	NHSUniqueID                                 string
	HireDate, TerminationDate                   time.Time
	LeavingReason                               string
	EmployeeStatusFlag                          string
	WTROptOut                                   string
	WTROptOutDate                               time.Time
	EthnicOrigin, MaritalStatus, CountryOfBirth string // special category
	PreviousEmployer, PreviousEmployerType      string
	CSD3Months, CSD12Months                     time.Time
	NHSCRSUUID                                  string
	SystemPersonType, UserPersonType            string
	OfficeEmail                                 string
	NHSStartDate                                time.Time
	LastUpdate                                  time.Time
	DisabilityFlag                              string // special category; raw so "not given" stays distinct
	LegacyPayrollNumber                         string
	Nationality                                 string
}

// AssignmentRow is an ASA record.
type AssignmentRow struct {
	Line                                       int
	PersonID, AssignmentID                     int64
	EffectiveStart, EffectiveEnd               time.Time
	EarliestAssignmentStart                    time.Time
	AssignmentType                             string
	AssignmentNumber                           string
	SystemStatus, UserStatus                   string
	EmployeeStatusFlag                         string
	PayrollName, PayrollPeriodType             string
	LocationID                                 int64
	Supervisor                                 bool
	SupervisorPersonID, SupervisorAssignmentID int64 // may refer to later rows
	SupervisorAssignmentNumber                 string
	DepartmentManagerID                        int64
	EmployeeCategory, AssignmentCategory       string
	Primary                                    bool
	NormalHours                                float64
	Frequency                                  string
	GradeContractHours, FTE                    float64
	FlexibleWorkingPattern                     string
	OrganisationID, PositionID                 int64
	PositionName                               format.PositionName
	Grade                                      format.Grade
	GradeStep                                  format.GradeStep
	GradeStartDate                             time.Time
	AnnualSalary                               float64
	JobName                                    format.JobName
	PeopleGroup                                format.PeopleGroup
	TAFlag                                     string
	NightWorkerOptOut                          bool
	ProjectedHireDate                          time.Time
	VacancyID                                  string
	ContractEndDate, IncrementDate             time.Time
	MaxPartTimeFlag, AfCFlag                   string
	LastUpdate                                 time.Time
	LastWorkingDay                             time.Time // leaver signal
	EKSFSpinalPoint                            string
	Manager                                    bool
	AssignmentEndDate                          time.Time // leaver signal
}

// PhoneRow is a PHA record.
type PhoneRow struct {
	Line                         int
	PersonID, PhoneID            int64
	PhoneType, Number            string
	EffectiveStart, EffectiveEnd time.Time
	LastUpdate                   time.Time
}

// AddressRow is an ADA record.
type AddressRow struct {
	Line                            int
	PersonID, AddressID             int64
	AddressType, Style              string
	Primary                         bool
	Line1, Line2, Line3             string
	Town, County, Postcode, Country string
	EffectiveStart, EffectiveEnd    time.Time
	LastUpdate                      time.Time
}

// VehicleRow is a VHA record (only seen with Options.KeepVehicles).
type VehicleRow struct {
	Line                                 int
	PersonID, AssignmentID, AllocationID int64
	EffectiveStart, EffectiveEnd         time.Time
	Registration, Make, Model, Ownership string
	InitialRegistrationDate              time.Time
	LastUpdate                           time.Time
	EngineCC, UserRatesTable, FuelType   string
}

// CostingRow is a COA record.
type CostingRow struct {
	Line                                         int
	PersonID, AssignmentID, CostingAllocationID  int64
	EffectiveStart, EffectiveEnd                 time.Time
	EntityCode, CharitableIndicator              string
	CostCentre, Subjective, Analysis1, Analysis2 string
	ElementNumber                                string
	PercentageSplit                              float64
	LastUpdate                                   time.Time
}

// DeleteRow is any ..D record: a data correction keyed by ESR surrogate id,
// never a leaver.
type DeleteRow struct {
	Line   int
	Type   string // e.g. "ASD"
	Entity string // e.g. "assignment"; "address" for ADD
	ID     int64
}

func (LocationRow) RecordType() string     { return TypeLocation }
func (OrganisationRow) RecordType() string { return TypeOrganisation }
func (PositionRow) RecordType() string     { return TypePosition }
func (PersonRow) RecordType() string       { return TypePerson }
func (AssignmentRow) RecordType() string   { return TypeAssignment }
func (PhoneRow) RecordType() string        { return TypePhone }
func (AddressRow) RecordType() string      { return TypeAddress }
func (VehicleRow) RecordType() string      { return TypeVehicle }
func (CostingRow) RecordType() string      { return TypeCosting }
func (d DeleteRow) RecordType() string     { return d.Type }

// Decode converts a row from Reader.Next into its typed struct. A row
// without Problems always decodes; for a row with problems Decode does its
// best and returns the first field error.
func Decode(row format.Row) (Record, error) {
	spec := specs[row.Type]
	if spec == nil {
		return nil, format.RowProblem("", row.Line, row.Type, 0, "", format.RuleRecordType, "not a known GO v2 record type")
	}
	d := &decoder{row: row, spec: spec}
	var rec Record
	if spec.Delete {
		if probs := format.CheckRow("", row.Line, spec, row.Fields, nil); len(probs) > 0 {
			return nil, probs[0]
		}
		return DeleteRow{Line: row.Line, Type: spec.Type, Entity: spec.Entity, ID: d.int(1)}, nil
	}
	switch spec.Type {
	case TypeLocation:
		rec = LocationRow{Line: row.Line, LocationID: d.int(1), Code: d.s(2), Description: d.s(3), InactiveDate: d.date(4),
			AddressLine1: d.s(5), AddressLine2: d.s(6), AddressLine3: d.s(7), Town: d.s(8), County: d.s(9), Postcode: d.s(10),
			Country: d.s(11), Telephone: d.s(12), Fax: d.s(13), PayslipDeliveryPoint: d.flag(14), SiteCode: d.s(15),
			WelshDescription: d.s(16), WelshAddressLine1: d.s(17), WelshAddressLine2: d.s(18), WelshAddressLine3: d.s(19),
			WelshTown: d.s(20), LastUpdate: d.ts(21)}
	case TypeOrganisation:
		rec = OrganisationRow{Line: row.Line, OrganisationID: d.int(1), Name: d.s(2), Type: d.s(3), EffectiveFrom: d.date(4),
			EffectiveTo: d.date(5), HierarchyVersionID: d.int(6), HierarchyVersionFrom: d.date(7), HierarchyVersionTo: d.date(8),
			DefaultCostCentre: d.s(9), ParentOrganisationID: d.int(10), NACSCode: d.s(11), LocationID: d.int(12),
			LastUpdate: d.ts(13), CostCentreDescription: d.s(14)}
	case TypePosition:
		rec = PositionRow{Line: row.Line, PositionID: d.int(1), EffectiveFrom: d.date(2), EffectiveTo: d.date(3),
			PositionNumber: d.s(4), Name: d.positionName(5), BudgetedFTE: d.dec(6), SubjectiveCode: d.s(7), StaffGroup: d.s(8),
			JobRole: d.s(9), OccupationCode: d.s(10), Payscale: d.s(11), GradeStep: d.gradeStep(12), ISARegulatedPost: d.s(13),
			OrganisationID: d.int(14), HiringStatus: d.s(15), PositionType: d.s(16), EligibleForOH: d.flag(17), EPP: d.flag(18),
			DeaneryPostNumber: d.s(19), ManagingDeaneryBody: d.s(20), WorkplaceOrgCode: d.s(21), LastUpdate: d.ts(22),
			SubjectiveDescription: d.s(23)}
	case TypePerson:
		rec = PersonRow{Line: row.Line, PersonID: d.int(1), EffectiveStart: d.date(2), EffectiveEnd: d.date(3),
			EmployeeNumber: d.s(4), Title: d.s(5), LastName: d.s(6), FirstName: d.s(7), MiddleNames: d.s(8), MaidenName: d.s(9),
			PreferredName: d.s(10), PreviousLastName: d.s(11), Gender: d.s(12), DateOfBirth: d.date(13), NINumber: d.s(14),
			NHSUniqueID: d.s(15), HireDate: d.date(16), TerminationDate: d.date(17), LeavingReason: d.s(18),
			EmployeeStatusFlag: d.s(19), WTROptOut: d.s(20), WTROptOutDate: d.date(21), EthnicOrigin: d.s(22),
			MaritalStatus: d.s(23), CountryOfBirth: d.s(24), PreviousEmployer: d.s(25), PreviousEmployerType: d.s(26),
			CSD3Months: d.date(27), CSD12Months: d.date(28), NHSCRSUUID: d.s(29), SystemPersonType: d.s(33),
			UserPersonType: d.s(34), OfficeEmail: d.s(35), NHSStartDate: d.date(36), LastUpdate: d.ts(38),
			DisabilityFlag: d.s(39), LegacyPayrollNumber: d.s(40), Nationality: d.s(41)}
	case TypeAssignment:
		rec = AssignmentRow{Line: row.Line, PersonID: d.int(1), AssignmentID: d.int(2), EffectiveStart: d.date(3),
			EffectiveEnd: d.date(4), EarliestAssignmentStart: d.date(5), AssignmentType: d.s(6), AssignmentNumber: d.s(7),
			SystemStatus: d.s(8), UserStatus: d.s(9), EmployeeStatusFlag: d.s(10), PayrollName: d.s(11),
			PayrollPeriodType: d.s(12), LocationID: d.int(13), Supervisor: d.flag(14), SupervisorPersonID: d.int(15),
			SupervisorAssignmentID: d.int(16), SupervisorAssignmentNumber: d.s(17), DepartmentManagerID: d.int(18),
			EmployeeCategory: d.s(19), AssignmentCategory: d.s(20), Primary: d.flag(21), NormalHours: d.dec(22),
			Frequency: d.s(23), GradeContractHours: d.dec(24), FTE: d.dec(25), FlexibleWorkingPattern: d.s(26),
			OrganisationID: d.int(27), PositionID: d.int(28), PositionName: d.positionName(29), Grade: d.grade(30),
			GradeStep: d.gradeStep(31), GradeStartDate: d.date(32), AnnualSalary: d.dec(33), JobName: d.jobName(34),
			PeopleGroup: d.peopleGroup(35), TAFlag: d.s(36), NightWorkerOptOut: d.flag(37), ProjectedHireDate: d.date(38),
			VacancyID: d.s(39), ContractEndDate: d.date(40), IncrementDate: d.date(41), MaxPartTimeFlag: d.s(42),
			AfCFlag: d.s(43), LastUpdate: d.ts(44), LastWorkingDay: d.date(45), EKSFSpinalPoint: d.s(46),
			Manager: d.flag(47), AssignmentEndDate: d.date(48)}
	case TypePhone:
		rec = PhoneRow{Line: row.Line, PersonID: d.int(1), PhoneID: d.int(2), PhoneType: d.s(3), Number: d.s(4),
			EffectiveStart: d.date(5), EffectiveEnd: d.date(6), LastUpdate: d.ts(7)}
	case TypeAddress:
		rec = AddressRow{Line: row.Line, PersonID: d.int(1), AddressID: d.int(2), AddressType: d.s(3), Style: d.s(4),
			Primary: d.flag(5), Line1: d.s(6), Line2: d.s(7), Line3: d.s(8), Town: d.s(9), County: d.s(10), Postcode: d.s(11),
			Country: d.s(12), EffectiveStart: d.date(13), EffectiveEnd: d.date(14), LastUpdate: d.ts(15)}
	case TypeVehicle:
		rec = VehicleRow{Line: row.Line, PersonID: d.int(1), AssignmentID: d.int(2), AllocationID: d.int(3),
			EffectiveStart: d.date(4), EffectiveEnd: d.date(5), Registration: d.s(6), Make: d.s(7), Model: d.s(8),
			Ownership: d.s(9), InitialRegistrationDate: d.date(10), LastUpdate: d.ts(11), EngineCC: d.s(12),
			UserRatesTable: d.s(13), FuelType: d.s(14)}
	case TypeCosting:
		rec = CostingRow{Line: row.Line, PersonID: d.int(1), AssignmentID: d.int(2), CostingAllocationID: d.int(3),
			EffectiveStart: d.date(4), EffectiveEnd: d.date(5), EntityCode: d.s(6), CharitableIndicator: d.s(7),
			CostCentre: d.s(8), Subjective: d.s(9), Analysis1: d.s(10), Analysis2: d.s(11), ElementNumber: d.s(12),
			PercentageSplit: d.dec(14), LastUpdate: d.ts(15)}
	}
	return rec, d.err
}

// decoder pulls typed values out of a row by column index, remembering the
// first failure so the struct literals above stay flat.
type decoder struct {
	row  format.Row
	spec *format.RecordSpec
	err  error
}

func (d *decoder) s(i int) string { return d.row.Field(i) }

func (d *decoder) fail(i int, cause error) {
	if d.err != nil {
		return
	}
	c := &d.spec.Columns[i]
	rule, msg, _ := c.Check(d.row.Field(i))
	if rule == "" {
		rule, msg = format.RuleColumnCount, cause.Error()
	}
	d.err = format.RowProblem("", d.row.Line, d.spec.Type, i, c.Name, rule, msg)
}

func (d *decoder) int(i int) int64 {
	v, err := format.ParseInt(d.s(i))
	if err != nil {
		d.fail(i, err)
	}
	return v
}

func (d *decoder) dec(i int) float64 {
	v, err := format.ParseDecimal(d.s(i))
	if err != nil {
		d.fail(i, err)
	}
	return v
}

func (d *decoder) date(i int) time.Time {
	v, err := format.ParseDate(d.s(i))
	if err != nil {
		d.fail(i, err)
	}
	return v
}

func (d *decoder) ts(i int) time.Time {
	v, err := format.ParseTimestamp(d.s(i), nil)
	if err != nil {
		d.fail(i, err)
	}
	return v
}

func (d *decoder) flag(i int) bool {
	v, _, err := format.ParseFlag(d.s(i))
	if err != nil {
		d.fail(i, err)
	}
	return v
}

func (d *decoder) positionName(i int) format.PositionName {
	v, err := format.ParsePositionName(d.s(i))
	if err != nil {
		d.fail(i, err)
	}
	return v
}

func (d *decoder) grade(i int) format.Grade {
	v, err := format.ParseGrade(d.s(i))
	if err != nil {
		d.fail(i, err)
	}
	return v
}

func (d *decoder) gradeStep(i int) format.GradeStep {
	v, err := format.ParseGradeStep(d.s(i))
	if err != nil {
		d.fail(i, err)
	}
	return v
}

func (d *decoder) jobName(i int) format.JobName {
	v, err := format.ParseJobName(d.s(i))
	if err != nil {
		d.fail(i, err)
	}
	return v
}

func (d *decoder) peopleGroup(i int) format.PeopleGroup {
	v, err := format.ParsePeopleGroup(d.s(i))
	if err != nil {
		d.fail(i, err)
	}
	return v
}
