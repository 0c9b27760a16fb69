package model

import "time"

// Organisation is one node of the ESR organisation hierarchy (GO v2 ORA row).
type Organisation struct {
	VPD            string
	OrganisationID int64
	// Name is VPD-prefixed in ESR ("412 Cardiology Outpatients"); it is kept
	// as read because trusts recognise it that way.
	Name          string
	Type          string
	EffectiveFrom time.Time
	EffectiveTo   time.Time // zero when open-ended
	CostCentre    string
	// ParentOrganisationID may point to a row later in the file (a forward
	// reference resolved after the whole file is read); 0 for the root.
	ParentOrganisationID int64
	// NACSCode is the ODS code (NACS is its legacy name).
	NACSCode   string
	LocationID int64 // 0 when absent
	LastUpdate time.Time
}

// Key returns the organisation's entity key.
func (o Organisation) Key() Key { return Key{Kind: KindOrganisation, VPD: o.VPD, ID: o.OrganisationID} }
