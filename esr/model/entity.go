package model

import (
	"strconv"
	"strings"
)

// EntityKind names the five canonical entities. Its values are the Avro enum
// symbols used on internal topics.
type EntityKind string

// Entity kinds.
const (
	KindPerson       EntityKind = "PERSON"
	KindAssignment   EntityKind = "ASSIGNMENT"
	KindPosition     EntityKind = "POSITION"
	KindOrganisation EntityKind = "ORGANISATION"
	KindLocation     EntityKind = "LOCATION"
)

// DeleteKind returns the entity kind an ESR GO v2 delete record type refers
// to (PRD, ASD, POD, ORD, LCD). Deletes of segments the model drops (PHD,
// ADD, VHD, COD) report false: they are ignored, not corrections. Note that
// ADD is the address delete code, not "add".
func DeleteKind(recordType string) (EntityKind, bool) {
	switch strings.ToUpper(strings.TrimSpace(recordType)) {
	case "PRD":
		return KindPerson, true
	case "ASD":
		return KindAssignment, true
	case "POD":
		return KindPosition, true
	case "ORD":
		return KindOrganisation, true
	case "LCD":
		return KindLocation, true
	default:
		return "", false
	}
}

// Correction is an ESR delete row (..D): an entity row was removed in ESR to
// correct data. It is never a leaver: a person deleted by PRD did not leave,
// they were entered by mistake (or merged). Publish removes the entity from
// state and emits no leaver-confirmed for it.
type Correction struct {
	VPD string
	// Kind is the kind of entity deleted.
	Kind EntityKind
	// ID is the ESR surrogate id of the deleted entity (person id,
	// assignment id ...), the only key a delete row carries.
	ID int64
	// RecordType is the ESR record type as read (e.g. "ASD"), kept for
	// lineage.
	RecordType string
}

// Key returns the entity key the correction removes.
func (c Correction) Key() Key { return Key{Kind: c.Kind, VPD: c.VPD, ID: c.ID} }

// Key identifies one canonical entity: kind, VPD and ESR surrogate id. It is
// the state-store key in validate and publish.
type Key struct {
	Kind EntityKind
	VPD  string
	ID   int64
}

// String renders KIND/VPD/ID, e.g. "PERSON/412/20990417". It holds no
// personal data (surrogate ids are meaningless outside ESR).
func (k Key) String() string {
	return string(k.Kind) + "/" + k.VPD + "/" + strconv.FormatInt(k.ID, 10)
}
