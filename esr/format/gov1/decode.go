package gov1

import (
	"time"

	"github.com/esrflow/esrflow/esr/format"
)

// Record is a typed GO v1 row.
type Record interface {
	RecordType() string
}

// PersonRow is a v1 PER record.
type PersonRow struct {
	Line                                             int
	PersonID                                         int64
	EmployeeNumber                                   string
	Title, LastName, FirstName, MiddleNames          string
	MaidenName, Gender                               string
	DateOfBirth                                      time.Time
	NINumber                                         string
	HireDate, TerminationDate                        time.Time
	CurrentEmployee                                  bool
	AddressLine1, AddressLine2, Town, County         string
	Postcode, Country                                string
	PersonalEmail, HomePhone, HomeFax, MobilePhone   string
	OfficeEmail, Pager, WorkPhone                    string
	WTROptOut, ApplicantNumber, CurrentApplicantFlag string
}

// AssignmentRow is a v1 ASG record. v1 links it to its person only by file
// order (it follows its PER) and by assignment number stem.
type AssignmentRow struct {
	Line                                         int
	AssignmentID                                 int64
	AssignmentNumber                             string
	EarliestAssignmentStart, FinalAssignmentEnd  time.Time
	AssignmentStatus, PayrollPayType             string
	PayrollName, PayrollPeriodType               string
	AddressLine1, AddressLine2, Town, County     string
	Postcode, Country                            string
	Supervisor                                   bool
	SupervisorAssignmentNumber                   string
	SupervisorEmployeeNumber                     string
	SupervisorFullName                           string
	AccrualPlan                                  string
	EmployeeCategory, AssignmentCategory         string
	Primary                                      bool
	NormalHours                                  float64
	NormalHoursFrequency                         string
	GradeContractHours, Sessions                 float64
	SessionsFrequency                            string
	WorkPatternDetails, WorkPatternStartDay      string
	FlexibleWorkingPattern, AvailabilitySchedule string
	Organisation, LegalEntity                    string
	PositionName                                 format.PositionName
	JobRole, OccupationCode, Location            string
	Grade                                        format.Grade
	JobName                                      format.JobName
	PeopleGroup                                  format.PeopleGroup
	TAFlag, NightWorker                          string
	ProjectedHireDate                            time.Time
	VacancyID                                    string
}

func (PersonRow) RecordType() string     { return TypePerson }
func (AssignmentRow) RecordType() string { return TypeAssignment }

// Decode converts a row from Reader.Next into its typed struct. A row
// without Problems always decodes.
func Decode(row format.Row) (Record, error) {
	spec := Spec(row.Type)
	if spec == nil {
		return nil, format.RowProblem("", row.Line, row.Type, 0, "", format.RuleRecordType, "not a known GO v1 record type")
	}
	d := format.NewDecoder(row, spec)
	var rec Record
	switch spec.Type {
	case TypePerson:
		rec = PersonRow{Line: row.Line, PersonID: d.Int(1), EmployeeNumber: d.String(2), Title: d.String(3),
			LastName: d.String(4), FirstName: d.String(5), MiddleNames: d.String(6), MaidenName: d.String(7),
			Gender: d.String(8), DateOfBirth: d.Date(9), NINumber: d.String(10), HireDate: d.Date(11),
			TerminationDate: d.Date(12), CurrentEmployee: d.Flag(13), AddressLine1: d.String(14), AddressLine2: d.String(15),
			Town: d.String(16), County: d.String(17), Postcode: d.String(18), Country: d.String(19),
			PersonalEmail: d.String(20), HomePhone: d.String(21), HomeFax: d.String(22), MobilePhone: d.String(23),
			OfficeEmail: d.String(24), Pager: d.String(25), WorkPhone: d.String(26), WTROptOut: d.String(27),
			ApplicantNumber: d.String(28), CurrentApplicantFlag: d.String(29)}
	case TypeAssignment:
		rec = AssignmentRow{Line: row.Line, AssignmentID: d.Int(1), AssignmentNumber: d.String(2),
			EarliestAssignmentStart: d.Date(3), FinalAssignmentEnd: d.Date(4), AssignmentStatus: d.String(5),
			PayrollPayType: d.String(6), PayrollName: d.String(7), PayrollPeriodType: d.String(8),
			AddressLine1: d.String(9), AddressLine2: d.String(10), Town: d.String(11), County: d.String(12),
			Postcode: d.String(13), Country: d.String(14), Supervisor: d.Flag(15), SupervisorAssignmentNumber: d.String(16),
			SupervisorEmployeeNumber: d.String(17), SupervisorFullName: d.String(18), AccrualPlan: d.String(19),
			EmployeeCategory: d.String(20), AssignmentCategory: d.String(21), Primary: d.Flag(22),
			NormalHours: d.Decimal(23), NormalHoursFrequency: d.String(24), GradeContractHours: d.Decimal(25),
			Sessions: d.Decimal(26), SessionsFrequency: d.String(27), WorkPatternDetails: d.String(28),
			WorkPatternStartDay: d.String(29), FlexibleWorkingPattern: d.String(30), AvailabilitySchedule: d.String(31),
			Organisation: d.String(32), LegalEntity: d.String(33), PositionName: d.PositionName(34),
			JobRole: d.String(35), OccupationCode: d.String(36), Location: d.String(37), Grade: d.Grade(38),
			JobName: d.JobName(39), PeopleGroup: d.PeopleGroup(40), TAFlag: d.String(41), NightWorker: d.String(42),
			ProjectedHireDate: d.Date(43), VacancyID: d.String(44)}
	}
	return rec, d.Err()
}
