package model

import "time"

// Location is one ESR location (GO v2 LCA row). Only the parts consumers
// route on are kept: it is a workplace, and street addresses, phone numbers
// and Welsh translations add nothing the pipeline needs.
type Location struct {
	VPD         string
	LocationID  int64
	Code        string
	Description string
	// InactiveDate is the day the location closes; zero while in use.
	InactiveDate time.Time
	SiteCode     string
	Town         string
	Postcode     string
	LastUpdate   time.Time
}

// Key returns the location's entity key.
func (l Location) Key() Key { return Key{Kind: KindLocation, VPD: l.VPD, ID: l.LocationID} }
