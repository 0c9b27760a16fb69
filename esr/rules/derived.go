package rules

import "github.com/esrflow/esrflow/schemas/gen/internalv1"

// DialectGOv1 is file.dialect of a GO v1 file, as ingest writes it.
const DialectGOv1 = "go-v1"

// Derived reports whether an ENTITY record is a reference entity normalise
// derived from a row of another kind rather than mapped from a row of its
// own: GO v1 names an assignment's organisation and location by text on the
// ASG row, and normalise turns each name into an Organisation or Location
// the first time a file names it (docs/canonical-model.md, "GO v1"). Such a
// record is not a row, so no file count counts it (rows_read = entities +
// corrections + ignored + quarantined holds over rows), but validate still
// checks it and publish still learns the name from it.
func Derived(rec internalv1.EntityRecord) bool {
	if rec.Kind != internalv1.EntityRecordKindEntity || rec.Raw == nil || rec.Raw.RecordType != "ASG" {
		return false
	}
	_, isAssignment := rec.Entity.(internalv1.Assignment)
	return !isAssignment
}
