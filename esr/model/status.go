package model

import "strings"

// AssignmentStatus is ESR's system assignment status (Oracle
// PER_SYSTEM_STATUS). Trusts configure their own user statuses (Maternity,
// Career Break, Internal Secondment ...) but each maps onto one of these, so
// all decisions are made on the system status.
type AssignmentStatus string

// System assignment statuses. The first three are employee statuses, the next
// three applicant statuses.
const (
	StatusActiveAssign AssignmentStatus = "ACTIVE_ASSIGN"
	// StatusSuspendAssign covers maternity, career break, suspension and
	// external secondment: the person is still employed.
	StatusSuspendAssign AssignmentStatus = "SUSP_ASSIGN"
	StatusTermAssign    AssignmentStatus = "TERM_ASSIGN"
	StatusActiveApl     AssignmentStatus = "ACTIVE_APL"
	StatusOffer         AssignmentStatus = "OFFER"
	StatusAccepted      AssignmentStatus = "ACCEPTED"
	// StatusUnknown is any value outside the list above. It is never treated
	// as employed or terminated, so an unexpected status cannot start or
	// end anyone's access.
	StatusUnknown AssignmentStatus = "UNKNOWN"
)

// ParseAssignmentStatus maps an ESR system status to the enum, tolerating
// case and surrounding blanks. Anything else yields StatusUnknown; the raw
// text stays available in Assignment.UserStatus for diagnosis.
func ParseAssignmentStatus(s string) AssignmentStatus {
	switch st := AssignmentStatus(strings.ToUpper(strings.TrimSpace(s))); st {
	case StatusActiveAssign, StatusSuspendAssign, StatusTermAssign,
		StatusActiveApl, StatusOffer, StatusAccepted:
		return st
	default:
		return StatusUnknown
	}
}

// IsEmployee reports whether the status belongs to an employee assignment,
// current or terminated.
func (s AssignmentStatus) IsEmployee() bool {
	return s == StatusActiveAssign || s == StatusSuspendAssign || s == StatusTermAssign
}

// IsApplicant reports whether the status belongs to an applicant or offer.
// Applicants are never starters: TIS sends them up to 12 weeks ahead and many
// never start.
func (s AssignmentStatus) IsApplicant() bool {
	return s == StatusActiveApl || s == StatusOffer || s == StatusAccepted
}

// IsTerminated reports whether the assignment has been terminated.
func (s AssignmentStatus) IsTerminated() bool { return s == StatusTermAssign }

// IsEmployed reports whether the status means "still employed": active or
// suspended. Suspension, maternity, career break and secondment are not
// leaving.
func (s AssignmentStatus) IsEmployed() bool {
	return s == StatusActiveAssign || s == StatusSuspendAssign
}

// AssignmentType is ESR's assignment type column.
type AssignmentType string

// Assignment types (Oracle values).
const (
	AssignmentTypeEmployee   AssignmentType = "E"
	AssignmentTypeApplicant  AssignmentType = "A"
	AssignmentTypeContingent AssignmentType = "C"
)

// PersonType is ESR's system person type: EMP, EX_EMP, APL, EMP_APL,
// EX_EMP_APL, CWK ... It is kept as text because combined types are common
// and trusts see new ones on ESR releases; the helpers read its parts.
type PersonType string

// Common system person types.
const (
	PersonTypeEmployee          PersonType = "EMP"
	PersonTypeExEmployee        PersonType = "EX_EMP"
	PersonTypeApplicant         PersonType = "APL"
	PersonTypeEmployeeApplicant PersonType = "EMP_APL"
)

// IsEmployee reports whether the person is currently an employee (EMP or a
// combined type starting with EMP_, such as an employee applying for another
// post). EX_EMP is not.
func (t PersonType) IsEmployee() bool {
	s := strings.ToUpper(string(t))
	return s == "EMP" || strings.HasPrefix(s, "EMP_")
}

// IsExEmployee reports whether the person is a former employee (EX_EMP, and
// combined types starting with EX_EMP such as EX_EMP_APL).
func (t PersonType) IsExEmployee() bool {
	return strings.HasPrefix(strings.ToUpper(string(t)), "EX_EMP")
}

// IsApplicant reports whether any part of the type is APL.
func (t PersonType) IsApplicant() bool {
	for _, p := range strings.Split(strings.ToUpper(string(t)), "_") {
		if p == "APL" {
			return true
		}
	}
	return false
}
