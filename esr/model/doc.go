// Package model is the canonical, dialect-free shape of ESR data that every
// stage after ingest works on: Person, Assignment, Position, Organisation and
// Location, plus Correction for ESR delete rows and Lineage for provenance.
//
// # Keys
//
// Every entity carries its VPD (the ESR tenant database number, kept as a
// string because "0234" and "234" are different VPDs) and its ESR surrogate
// id. The surrogate id is the stable key inside a VPD: (VPD, PersonID),
// (VPD, AssignmentID) and so on. Business keys (employee number, assignment
// number, position number, NHS Unique ID, NHS CRS UUID) are attributes:
// ESR reuses and reissues them (a rehire gets a new employee number), so they
// are indexed but never used as identity.
//
// Surrogate ids are int64. Oracle never issues id 0, so 0 means "absent" for
// optional references (parent organisation, supervisor, location ...).
//
// # Typing
//
// Civil dates (ESR YYYYMMDD fields: hire date, effective dates, termination
// date ...) are time.Time at midnight UTC. They name a calendar day, not an
// instant: comparing them with Before/After/Equal is exact, and they encode
// to Avro "date" without any zone arithmetic. The zero time.Time means the
// date is absent (an empty field, or Oracle's open-ended 4712-12-31); use
// IsZero, never compare with a sentinel. Use Date and CivilDate to build
// them so the invariant holds.
//
// Timestamps (LastUpdate) are real instants; ESR writes them as UK wall-clock
// time and the parser resolves them in Europe/London.
//
// Flags are bool (ESR's Yes/No, Y/N, 1/0 are resolved by the parser).
// Optional quantities whose zero is meaningful (hours, FTE) are pointers; an
// empty string means an absent text value, as in the ESR files themselves.
//
// # Personal data
//
// The model holds what the pipeline needs and nothing more: special-category
// data (ethnicity, religion, sexual orientation, disability), vehicles,
// costings, phones and home addresses are dropped at parse and have no field
// here. The NI number is kept, typed as Sensitive, because rehire matching
// needs it; it may travel on internal topics but never in a public event,
// never in a log line (Sensitive redacts itself when formatted).
package model
