package model

import "time"

// Assignment is one ESR assignment (GO v2 ASA row). The assignment, not the
// person, carries status, position, grade, hours, organisation and location;
// a person can hold several at once (substantive, bank, honorary ...).
type Assignment struct {
	VPD          string
	PersonID     int64
	AssignmentID int64

	// EffectiveStart and EffectiveEnd bound this date-tracked row (a grade
	// change starts a new row); zero EffectiveEnd means open-ended.
	EffectiveStart time.Time
	EffectiveEnd   time.Time
	// EarliestStart is when the assignment itself began, whatever row this
	// is. It is the start date of a starter.
	EarliestStart time.Time

	Type AssignmentType
	// AssignmentNumber is the employee number, suffixed -2, -3 ... for
	// further posts.
	AssignmentNumber string
	Status           AssignmentStatus
	// UserStatus is the trust-configured status text (Maternity, Career
	// Break ...): informational, decisions use Status.
	UserStatus string
	Primary    bool
	// Category is the contract category: Permanent, Fixed Term Temp, Locum,
	// Bank, Honorary ...
	Category string
	// EmployeeCategory is FT/PT as read.
	EmployeeCategory string
	// Hours is normal weekly hours or sessions; nil when ESR sends none (0
	// is a real value for bank and honorary posts).
	Hours *float64
	FTE   *float64

	OrganisationID int64 // 0 when absent
	LocationID     int64 // 0 when absent
	PositionID     int64 // 0 when absent
	// Position is the position as named on the assignment row (the
	// composite number|title|occupation|area), so an assignment is usable
	// without the POA row.
	Position   PositionRef
	Grade      Grade
	StaffGroup string
	JobRole    string

	ContractEndDate time.Time
	// LastWorkingDay and FinalAssignmentEndDate are ESR's leaver signals.
	LastWorkingDay         time.Time
	FinalAssignmentEndDate time.Time

	SupervisorPersonID         int64 // 0 when absent
	SupervisorAssignmentID     int64 // 0 when absent
	SupervisorAssignmentNumber string

	LastUpdate time.Time
}

// Key returns the assignment's entity key.
func (a Assignment) Key() Key { return Key{Kind: KindAssignment, VPD: a.VPD, ID: a.AssignmentID} }

// Start returns the day the assignment began: EarliestStart, or the row's
// EffectiveStart when ESR left EarliestStart empty.
func (a Assignment) Start() time.Time {
	if !a.EarliestStart.IsZero() {
		return a.EarliestStart
	}
	return a.EffectiveStart
}

// IsActiveEmployee reports whether this is an employee assignment in
// employment on civil date on: type E, status ACTIVE_ASSIGN or SUSP_ASSIGN
// (suspension, maternity, career break and secondment are not leaving),
// already started, and not past its final end date or the end of this row.
// Applicants and contingent workers never count, whatever their status.
func (a Assignment) IsActiveEmployee(on time.Time) bool {
	if a.Type != AssignmentTypeEmployee || !a.Status.IsEmployed() {
		return false
	}
	if start := a.Start(); start.IsZero() || on.Before(start) {
		return false
	}
	// An end-dated row with no successor means the assignment stopped on
	// that day; a later row would have replaced this one in state.
	for _, end := range []time.Time{a.FinalAssignmentEndDate, a.EffectiveEnd} {
		if !end.IsZero() && on.After(end) {
			return false
		}
	}
	return true
}

// PositionRef is a position as named on an assignment, and the business
// attributes of a position shared with Position.
type PositionRef struct {
	Number         string
	Title          string
	OccupationCode string
	Area           string
}

// Grade is the pay grade composite "owner|code|description", e.g.
// NHS|XR05|Review Body Band 5.
type Grade struct {
	Owner       string
	Code        string
	Description string
}
