package ingest

import (
	"io"
	"time"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/gov1"
	"github.com/esrflow/esrflow/esr/format/gov2"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// This file is the part of ingest that turns a delivered file into raw
// records, exported so that `esrflow validate` reads a file exactly as the
// pipeline does (one code path): the FileInfo the name implies, the
// dialect's reader with ingest's file-level checks, and the esr.raw record
// of each row.

// Delivered is what ingest knows of a file before and while reading it.
type Delivered struct {
	// Info is the file as esr.raw records carry it: from its name, then
	// (GO v2) the header's run date.
	Info internalv1.FileInfo
	// VPD is the name's VPD, then the header's.
	VPD string
	// Name is the parsed file name; NameErr is set when the name fits no
	// dialect (the reader then reports rule file-name).
	Name    format.FileName
	NameErr error
	// PreviousRun is the header's previous run date (GO v2 only; nil for
	// dialects without one): the run the feed's last file must have been.
	PreviousRun *time.Time
	// CSV is set (by MatchTenant) when the name is one of the tenant's
	// CSV staff lists; csvErr when its run date does not parse.
	CSV    *tenant.CSVMatch
	csvErr error
}

// RowsReader is what ingest needs from a dialect reader.
type RowsReader interface {
	Next() (format.Row, error)
	Summary() format.Summary
}

// Describe is what a file's name says of it: dialect, kind, sequence and
// run date. sha and size are the content's.
func Describe(name, sha string, size int64) Delivered {
	d := Delivered{Info: internalv1.FileInfo{Name: name, Sha256: sha, Kind: internalv1.FileKindChange,
		RunDate: time.Unix(0, 0).UTC(), Size: size}}
	d.Name, d.NameErr = format.ParseFileName(name)
	if d.NameErr == nil {
		d.VPD = d.Name.VPD
		d.Info.Dialect = dialectName(d.Name.Dialect)
		d.Info.Sequence = d.Name.Sequence
		d.Info.RunDate = civilDay(d.Name.Date)
		if d.Name.Kind == format.ExtractFull {
			d.Info.Kind = internalv1.FileKindFull
		}
	}
	return d
}

// Open starts the reader of the file's dialect over in, with the tenant's
// VPDs and ingest's parse options (header, trailer, VPD and run-date checks
// are the reader's: it fails with a *format.FileError). For GO v2 it takes
// the VPD and run date from the header. now is the clock for the run-date
// checks.
func (d *Delivered) Open(in io.Reader, t tenant.Tenant, p ParseOptions, now func() time.Time) (RowsReader, error) {
	if d.CSV != nil {
		return d.openCSV(in, t, p, now)
	}
	dialect := format.DialectGOv2
	if d.NameErr == nil {
		dialect = d.Name.Dialect
	}
	switch dialect {
	case format.DialectGOv1:
		rd, err := gov1.NewReader(d.Info.Name, in, gov1.Options{ExpectedVPDs: t.VPDs, RelaxHeaderFileName: p.RelaxHeaderFileName,
			Now: now, FutureTolerance: p.FutureTolerance, MaxRunAge: p.MaxRunAge})
		if err != nil {
			return nil, err
		}
		return rd, nil
	default:
		// gov2 also reports a name that fits no dialect (rule file-name).
		rd, err := gov2.NewReader(d.Info.Name, in, gov2.Options{ExpectedVPDs: t.VPDs, RelaxHeaderFileName: p.RelaxHeaderFileName,
			Now: now, FutureTolerance: p.FutureTolerance, MaxRunAge: p.MaxRunAge})
		if err != nil {
			return nil, err
		}
		h := rd.Header()
		d.VPD = h.VPD
		d.Info.RunDate = civilDay(h.RunAt)
		prev := civilDay(h.PreviousRunAt)
		d.PreviousRun = &prev
		return rd, nil
	}
}

// RawRow is the esr.raw RECORD ingest writes for one row of a file (without
// its lineage: see stampRaw).
func RawRow(tenantCode, vpd string, info internalv1.FileInfo, row format.Row) internalv1.RawRecord {
	return internalv1.RawRecord{Kind: internalv1.RawKindRecord, Tenant: tenantCode, Vpd: vpd, File: info,
		Line: int64(row.Line), RecordType: row.Type, Fields: dataFields(row.Fields), Problems: problems(row.Problems)}
}

// stampRaw adds a RECORD's lineage: the hash of the row's original bytes
// (anyone holding the archived file can check it) and when ingest read it.
// Kept apart from RawRow so the offline `esrflow validate` path, which
// publishes nothing, does not pay for the hex and the allocations.
func stampRaw(rec *internalv1.RawRecord, row *format.Row, at time.Time) {
	if h := row.RawHash(); h != "" {
		rec.RawSha256 = &h
	}
	rec.IngestedAt = &at
}
