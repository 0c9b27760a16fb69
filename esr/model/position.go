package model

import "time"

// Position is one ESR position (GO v2 POA row): the post, independent of who
// holds it. Shared positions can have several incumbents.
type Position struct {
	VPD        string
	PositionID int64

	EffectiveFrom time.Time
	EffectiveTo   time.Time // zero when open-ended

	// PositionRef holds the business number, title, occupation code and
	// area, split from ESR's position name composite.
	PositionRef

	BudgetedFTE *float64
	StaffGroup  string
	JobRole     string
	Payscale    string
	// GradeStep is the composite payscale|step as read, e.g. "XR05|3".
	GradeStep      string
	OrganisationID int64 // 0 when absent
	HiringStatus   string
	// WorkplaceOrgCode is the ODS code of the workplace organisation.
	WorkplaceOrgCode string
	// DeaneryPostNumber is set on doctors-in-training posts only.
	DeaneryPostNumber string

	LastUpdate time.Time
}

// Key returns the position's entity key.
func (p Position) Key() Key { return Key{Kind: KindPosition, VPD: p.VPD, ID: p.PositionID} }
