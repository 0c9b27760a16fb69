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
	d := format.NewDecoder(row, spec)
	var rec Record
	if spec.Delete {
		if probs := format.CheckRow("", row.Line, spec, row.Fields, nil); len(probs) > 0 {
			return nil, probs[0]
		}
		return DeleteRow{Line: row.Line, Type: spec.Type, Entity: spec.Entity, ID: d.Int(1)}, nil
	}
	switch spec.Type {
	case TypeLocation:
		rec = LocationRow{Line: row.Line, LocationID: d.Int(1), Code: d.String(2), Description: d.String(3), InactiveDate: d.Date(4),
			AddressLine1: d.String(5), AddressLine2: d.String(6), AddressLine3: d.String(7), Town: d.String(8), County: d.String(9), Postcode: d.String(10),
			Country: d.String(11), Telephone: d.String(12), Fax: d.String(13), PayslipDeliveryPoint: d.Flag(14), SiteCode: d.String(15),
			WelshDescription: d.String(16), WelshAddressLine1: d.String(17), WelshAddressLine2: d.String(18), WelshAddressLine3: d.String(19),
			WelshTown: d.String(20), LastUpdate: d.Timestamp(21)}
	case TypeOrganisation:
		rec = OrganisationRow{Line: row.Line, OrganisationID: d.Int(1), Name: d.String(2), Type: d.String(3), EffectiveFrom: d.Date(4),
			EffectiveTo: d.Date(5), HierarchyVersionID: d.Int(6), HierarchyVersionFrom: d.Date(7), HierarchyVersionTo: d.Date(8),
			DefaultCostCentre: d.String(9), ParentOrganisationID: d.Int(10), NACSCode: d.String(11), LocationID: d.Int(12),
			LastUpdate: d.Timestamp(13), CostCentreDescription: d.String(14)}
	case TypePosition:
		rec = PositionRow{Line: row.Line, PositionID: d.Int(1), EffectiveFrom: d.Date(2), EffectiveTo: d.Date(3),
			PositionNumber: d.String(4), Name: d.PositionName(5), BudgetedFTE: d.Decimal(6), SubjectiveCode: d.String(7), StaffGroup: d.String(8),
			JobRole: d.String(9), OccupationCode: d.String(10), Payscale: d.String(11), GradeStep: d.GradeStep(12), ISARegulatedPost: d.String(13),
			OrganisationID: d.Int(14), HiringStatus: d.String(15), PositionType: d.String(16), EligibleForOH: d.Flag(17), EPP: d.Flag(18),
			DeaneryPostNumber: d.String(19), ManagingDeaneryBody: d.String(20), WorkplaceOrgCode: d.String(21), LastUpdate: d.Timestamp(22),
			SubjectiveDescription: d.String(23)}
	case TypePerson:
		rec = PersonRow{Line: row.Line, PersonID: d.Int(1), EffectiveStart: d.Date(2), EffectiveEnd: d.Date(3),
			EmployeeNumber: d.String(4), Title: d.String(5), LastName: d.String(6), FirstName: d.String(7), MiddleNames: d.String(8), MaidenName: d.String(9),
			PreferredName: d.String(10), PreviousLastName: d.String(11), Gender: d.String(12), DateOfBirth: d.Date(13), NINumber: d.String(14),
			NHSUniqueID: d.String(15), HireDate: d.Date(16), TerminationDate: d.Date(17), LeavingReason: d.String(18),
			EmployeeStatusFlag: d.String(19), WTROptOut: d.String(20), WTROptOutDate: d.Date(21), EthnicOrigin: d.String(22),
			MaritalStatus: d.String(23), CountryOfBirth: d.String(24), PreviousEmployer: d.String(25), PreviousEmployerType: d.String(26),
			CSD3Months: d.Date(27), CSD12Months: d.Date(28), NHSCRSUUID: d.String(29), SystemPersonType: d.String(33),
			UserPersonType: d.String(34), OfficeEmail: d.String(35), NHSStartDate: d.Date(36), LastUpdate: d.Timestamp(38),
			DisabilityFlag: d.String(39), LegacyPayrollNumber: d.String(40), Nationality: d.String(41)}
	case TypeAssignment:
		rec = AssignmentRow{Line: row.Line, PersonID: d.Int(1), AssignmentID: d.Int(2), EffectiveStart: d.Date(3),
			EffectiveEnd: d.Date(4), EarliestAssignmentStart: d.Date(5), AssignmentType: d.String(6), AssignmentNumber: d.String(7),
			SystemStatus: d.String(8), UserStatus: d.String(9), EmployeeStatusFlag: d.String(10), PayrollName: d.String(11),
			PayrollPeriodType: d.String(12), LocationID: d.Int(13), Supervisor: d.Flag(14), SupervisorPersonID: d.Int(15),
			SupervisorAssignmentID: d.Int(16), SupervisorAssignmentNumber: d.String(17), DepartmentManagerID: d.Int(18),
			EmployeeCategory: d.String(19), AssignmentCategory: d.String(20), Primary: d.Flag(21), NormalHours: d.Decimal(22),
			Frequency: d.String(23), GradeContractHours: d.Decimal(24), FTE: d.Decimal(25), FlexibleWorkingPattern: d.String(26),
			OrganisationID: d.Int(27), PositionID: d.Int(28), PositionName: d.PositionName(29), Grade: d.Grade(30),
			GradeStep: d.GradeStep(31), GradeStartDate: d.Date(32), AnnualSalary: d.Decimal(33), JobName: d.JobName(34),
			PeopleGroup: d.PeopleGroup(35), TAFlag: d.String(36), NightWorkerOptOut: d.Flag(37), ProjectedHireDate: d.Date(38),
			VacancyID: d.String(39), ContractEndDate: d.Date(40), IncrementDate: d.Date(41), MaxPartTimeFlag: d.String(42),
			AfCFlag: d.String(43), LastUpdate: d.Timestamp(44), LastWorkingDay: d.Date(45), EKSFSpinalPoint: d.String(46),
			Manager: d.Flag(47), AssignmentEndDate: d.Date(48)}
	case TypePhone:
		rec = PhoneRow{Line: row.Line, PersonID: d.Int(1), PhoneID: d.Int(2), PhoneType: d.String(3), Number: d.String(4),
			EffectiveStart: d.Date(5), EffectiveEnd: d.Date(6), LastUpdate: d.Timestamp(7)}
	case TypeAddress:
		rec = AddressRow{Line: row.Line, PersonID: d.Int(1), AddressID: d.Int(2), AddressType: d.String(3), Style: d.String(4),
			Primary: d.Flag(5), Line1: d.String(6), Line2: d.String(7), Line3: d.String(8), Town: d.String(9), County: d.String(10), Postcode: d.String(11),
			Country: d.String(12), EffectiveStart: d.Date(13), EffectiveEnd: d.Date(14), LastUpdate: d.Timestamp(15)}
	case TypeVehicle:
		rec = VehicleRow{Line: row.Line, PersonID: d.Int(1), AssignmentID: d.Int(2), AllocationID: d.Int(3),
			EffectiveStart: d.Date(4), EffectiveEnd: d.Date(5), Registration: d.String(6), Make: d.String(7), Model: d.String(8),
			Ownership: d.String(9), InitialRegistrationDate: d.Date(10), LastUpdate: d.Timestamp(11), EngineCC: d.String(12),
			UserRatesTable: d.String(13), FuelType: d.String(14)}
	case TypeCosting:
		rec = CostingRow{Line: row.Line, PersonID: d.Int(1), AssignmentID: d.Int(2), CostingAllocationID: d.Int(3),
			EffectiveStart: d.Date(4), EffectiveEnd: d.Date(5), EntityCode: d.String(6), CharitableIndicator: d.String(7),
			CostCentre: d.String(8), Subjective: d.String(9), Analysis1: d.String(10), Analysis2: d.String(11), ElementNumber: d.String(12),
			PercentageSplit: d.Decimal(14), LastUpdate: d.Timestamp(15)}
	}
	return rec, d.Err()
}
