package model

import "strconv"

// Lineage says where a value came from: the tenant, the file and the line in
// it. Every stage carries it unchanged from ingest to the published event, so
// "where did this come from?" is answered without a lookup.
type Lineage struct {
	// Tenant is the tenant's ODS code (e.g. "RXX"), not the VPD: one tenant
	// may be fed by several VPDs.
	Tenant string
	// FileName is the ESR file name as delivered, e.g.
	// GO_412_EXP_GOC_20240311_00000347.DAT.
	FileName string
	// FileSHA256 is the lower-case hex SHA-256 of the whole file, the file's
	// identity for idempotency (the same name can be re-delivered).
	FileSHA256 string
	// Line is the 1-based line number in the file; 0 for file-level records
	// (file start, file end).
	Line int64
}

// String renders tenant/file:line. It holds no personal data, so it is safe
// in logs.
func (l Lineage) String() string {
	return l.Tenant + "/" + l.FileName + ":" + strconv.FormatInt(l.Line, 10)
}
