package model

import "time"

// Person is one ESR person (GO v2 PRA row): who they are and the employment
// facts ESR keeps on the person rather than on an assignment.
type Person struct {
	VPD string
	// PersonID is the ESR surrogate id, stable across assignments and the
	// Kafka key of every event about this person.
	PersonID int64

	// EffectiveStart and EffectiveEnd bound this date-tracked row. A zero
	// EffectiveEnd means open-ended.
	EffectiveStart time.Time
	EffectiveEnd   time.Time

	// EmployeeNumber is the 8-digit business key, unique within the VPD. A
	// rehire gets a new one, so it is not identity.
	EmployeeNumber string
	// NHSUniqueID is the cross-organisation person id used by national
	// workforce statistics; it survives moves between trusts.
	NHSUniqueID string
	// CRSUUID is the 12-digit smartcard (Care Identity Service) user id.
	CRSUUID string

	Title            string
	LastName         string
	FirstName        string
	MiddleNames      string
	PreferredName    string
	PreviousLastName string
	// Gender is normalised to "F", "M" or as read when ESR sends anything
	// else (v1 files spell Female/Male).
	Gender      string
	DateOfBirth time.Time
	// NINumber is sensitive: kept for rehire matching on internal topics,
	// never logged, never in a public event.
	NINumber Sensitive

	HireDate time.Time
	// ActualTerminationDate is the last day of employment; zero while
	// employed. A date in the future is a scheduled leaver.
	ActualTerminationDate time.Time
	// LeavingReason is the national leaving reason text (e.g. "Voluntary
	// Resignation - Relocation", "Employee Transfer").
	LeavingReason string

	SystemPersonType PersonType
	UserPersonType   string
	OfficeEmail      string
	NHSStartDate     time.Time

	LastUpdate time.Time
}

// Key returns the person's entity key.
func (p Person) Key() Key { return Key{Kind: KindPerson, VPD: p.VPD, ID: p.PersonID} }

// TerminationDue reports whether the person record carries a termination
// whose date has arrived by civil date on (a Europe/London day, see
// CivilDate). The design confirms a future-dated termination on its date,
// not the day after, so the date itself counts; before it the termination
// may still be withdrawn.
func (p Person) TerminationDue(on time.Time) bool {
	return !p.ActualTerminationDate.IsZero() && onOrBefore(p.ActualTerminationDate, on)
}
