package tenant

import (
	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/gov2"
)

// This file is the one decision of which rows a tenant's files carry that the
// canonical model does not keep. Ingest drops such rows (counting them on the
// file's FILE_END) so they never cross esr.raw.v1, and normalise counts the
// ones that still reach it (records written before ingest dropped them,
// replays) as ignored; both ask IgnoredRow, so they cannot disagree.

// goV2Unmapped are the GO v2 record types whose segments the canonical model
// does not keep: phones, addresses, vehicles, costings, and their delete rows
// (model.DeleteKind knows no entity for them either).
var goV2Unmapped = map[string]bool{
	gov2.TypePhone: true, gov2.TypeAddress: true, gov2.TypeVehicle: true, gov2.TypeCosting: true,
	gov2.TypePhoneDelete: true, gov2.TypeAddressDelete: true, gov2.TypeVehicleDelete: true, gov2.TypeCostingDelete: true,
}

// IgnoresIn reports whether rows of recordType in a file of dialect (a
// pipeline record's file.dialect: go-v2, go-v1, csv:<list>) are counted as
// ignored rather than mapped: in GO v2 files, the segments the model does
// not keep and the tenant's ignore_record_types (record types GO v2 does
// not know are never ignored: they are quarantined as record-type). GO v1
// and CSV lists ignore nothing: every one of their record types is mapped.
func (m Mapping) IgnoresIn(dialect, recordType string) bool {
	if format.DialectOf(dialect) != format.DialectGOv2 || gov2.Spec(recordType) == nil {
		return false
	}
	return goV2Unmapped[recordType] || m.Ignores(recordType)
}

// IgnoredRow reports whether a row of a file of dialect is counted as
// ignored: its type is one IgnoresIn names, its reader found no problem
// on it, and its key (column 1: the person id of a phone, address, vehicle
// or costing row, the id of a delete, the entity id of a tenant-ignored
// type) is present. Any other row of an ignored type travels on and is
// quarantined, so a broken or keyless row is still seen rather than
// silently counted. row.Fields holds the record type first, as the readers
// return it.
func (m Mapping) IgnoredRow(dialect string, row format.Row) bool {
	return len(row.Problems) == 0 && m.IgnoresIn(dialect, row.Type) && row.Field(IgnoredRowKey) != ""
}

// IgnoredRowKey is the column of an ignored row's key (see IgnoredRow).
const IgnoredRowKey = 1
