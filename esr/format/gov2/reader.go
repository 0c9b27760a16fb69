// Package gov2 reads ESR Generic Outbound v2 files: tilde-delimited, no
// quoting, HDR first, TRL last, one record per line (ESR-FORMATS §2).
//
// The reader streams: memory stays flat whatever the file size. Rows are
// handed out as they are read, before the trailer has been checked, so a
// caller must hold them as provisional until Next returns io.EOF; a
// *format.FileError means the whole file is rejected.
package gov2

import (
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/internal/stream"
)

// Delimiter separates GO v2 fields.
const Delimiter = '~'

// DefaultInterfaceVersions are the header interface versions accepted when
// Options.InterfaceVersions is empty.
var defaultInterfaceVersions = []string{"01", "02"}

// Options tunes the checks. The zero value is a sensible production default.
type Options struct {
	// ExpectedVPDs, when non-empty, is the tenant's VPD set: a header VPD
	// outside it rejects the file (rule unexpected-vpd).
	ExpectedVPDs []string
	// InterfaceVersions allowed in the header; empty = {"01","02"}.
	InterfaceVersions []string
	// RelaxHeaderFileName skips the check that the HDR file-name field
	// equals the actual file name (for files renamed in transit).
	RelaxHeaderFileName bool
	// Now is the clock for the run-date window; nil = time.Now.
	Now func() time.Time
	// FutureTolerance: how far the header run date may be ahead of Now
	// (0 = format.DefaultFutureTolerance, negative = unchecked).
	FutureTolerance time.Duration
	// MaxRunAge: oldest acceptable header run date relative to Now
	// (0 = unchecked, e.g. for replaying history).
	MaxRunAge time.Duration
	// KeepVehicles keeps VHA/VHD rows; by default they are dropped at parse
	// time (vehicle data is out of scope and personal).
	KeepVehicles bool
	// KeepSpecialCategory keeps ethnic origin, marital status, country of
	// birth and disability; by default they are blanked at parse time.
	KeepSpecialCategory bool
	// MaxLineBytes bounds a line (0 = format.DefaultMaxLineBytes); a longer
	// line is a row problem (line-too-long), not a crash.
	MaxLineBytes int
	// MaxColumns bounds the columns kept of a row (0 =
	// format.DefaultMaxColumns); a wider row keeps the first MaxColumns and
	// gets a column-count problem.
	MaxColumns int
	// Encoding forces a text encoding; empty = UTF-8 with a per-file
	// Windows-1252 fallback.
	Encoding format.Encoding
	// ReuseRecord lets Next reuse the Row.Fields slice between calls (as
	// encoding/csv does): faster, but the caller must copy what it keeps.
	ReuseRecord bool
}

// Header is the parsed HDR line.
type Header struct {
	Line             int
	FileName         string // as written in the header
	CreatedAt        time.Time
	VPD              string
	PreviousRunAt    time.Time
	RunAt            time.Time
	InterfaceVersion string
	Name             format.FileName // the parsed actual file name
}

// Reader reads one GO v2 file.
type Reader struct {
	in   stream.Reader
	opts Options
	hdr  Header
}

// NewReader checks the file name and reads the header. fileName may carry a
// directory; only its base name is used. Header problems come back as a
// *format.FileError and a nil Reader.
func NewReader(fileName string, r io.Reader, opts Options) (*Reader, error) {
	file := stream.BaseName(fileName)
	rd := &Reader{opts: opts}
	rd.in.Init(file, r, stream.Envelope{Header: TypeHeader, Trailer: TypeTrailer, Delim: Delimiter},
		stream.Options{MaxLineBytes: opts.MaxLineBytes, MaxColumns: opts.MaxColumns, Encoding: opts.Encoding, ReuseRecord: opts.ReuseRecord})
	fn, fe := stream.ParseFileName(file, format.DialectGOv2, "a GO v1 file name, want GO_<VPD>_<SUB>_GO{F|C}_<YYYYMMDD>_<seq>.DAT")
	if fe != nil {
		return nil, fe
	}
	rd.hdr.Name = fn
	if fe := rd.readHeader(); fe != nil {
		return nil, fe
	}
	return rd, nil
}

// Header returns the parsed header.
func (r *Reader) Header() Header { return r.hdr }

// Summary reports what was read; complete after Next returned io.EOF or a
// *format.FileError.
func (r *Reader) Summary() format.Summary { return r.in.Summary() }

// failCol is a file failure at column col, named from spec when given.
func (r *Reader) failCol(line int, recordType string, col int, rule, msg string, spec *format.RecordSpec) *format.FileError {
	field := ""
	if spec != nil && col < len(spec.Columns) {
		field = spec.Columns[col].Name
	}
	return r.in.Fail(line, recordType, col, field, rule, msg)
}

func (r *Reader) readHeader() *format.FileError {
	ln, fe := r.in.First("file is empty")
	if fe != nil {
		return fe
	}
	if ln.TooLong {
		return r.in.Fail(ln.No, "", 0, "", format.RuleMissingHeader, "first line is longer than the line limit")
	}
	t := ln.Text
	if !strings.HasPrefix(t, TypeHeader) {
		return r.in.Fail(ln.No, "", 0, "", format.RuleMissingHeader, "first line is not an HDR record")
	}
	if fe := r.in.CheckDelimiter(ln); fe != nil {
		return fe
	}
	f := format.SplitPlain(t, Delimiter, nil)
	spec := &HeaderSpec
	if len(f) < len(spec.Columns) {
		return r.in.Fail(ln.No, TypeHeader, 0, "", format.RuleHeaderFormat,
			"has "+strconv.Itoa(len(f))+" columns, want "+strconv.Itoa(len(spec.Columns)))
	}
	if i := stream.ExtraColumn(f, len(spec.Columns)); i >= 0 {
		return r.in.Fail(ln.No, TypeHeader, i, "", format.RuleHeaderFormat,
			"has "+strconv.Itoa(len(f))+" columns, want "+strconv.Itoa(len(spec.Columns)))
	}
	h := &r.hdr
	h.Line = ln.No
	h.FileName, h.VPD, h.InterfaceVersion = f[1], f[3], f[6]
	for _, c := range []struct {
		col int
		dst *time.Time
	}{{2, &h.CreatedAt}, {4, &h.PreviousRunAt}, {5, &h.RunAt}} {
		v, err := format.ParseTimestamp(f[c.col], nil)
		if err != nil || (v.IsZero() && c.col != 4) {
			return r.failCol(ln.No, TypeHeader, c.col, format.RuleHeaderFormat,
				format.Quote(f[c.col])+" is not a YYYYMMDD HHMMSS timestamp", spec)
		}
		*c.dst = v
	}
	if fe := r.in.CheckHeaderFileName(ln.No, h.FileName, r.opts.RelaxHeaderFileName); fe != nil {
		return fe
	}
	if h.VPD != h.Name.VPD {
		return r.failCol(ln.No, TypeHeader, 3, format.RuleVPDMismatch,
			"header VPD "+format.Quote(h.VPD)+" differs from file name VPD "+format.Quote(h.Name.VPD), spec)
	}
	if fe := format.CheckVPD(r.in.File, ln.No, TypeHeader, 3, h.VPD, r.opts.ExpectedVPDs); fe != nil {
		return fe
	}
	versions := r.opts.InterfaceVersions
	if len(versions) == 0 {
		versions = defaultInterfaceVersions
	}
	if !slices.Contains(versions, h.InterfaceVersion) {
		return r.failCol(ln.No, TypeHeader, 6, format.RuleInterfaceVersion,
			"interface version "+format.Quote(h.InterfaceVersion)+" is not one of "+strings.Join(versions, ","), spec)
	}
	// The name's date is the extract's run date (ESR-FORMATS §2.2): a header
	// that says another day belongs to another file, or was edited.
	if ry, rm, rd := h.RunAt.Date(); ry != h.Name.Date.Year() || rm != h.Name.Date.Month() || rd != h.Name.Date.Day() {
		return r.failCol(ln.No, TypeHeader, 5, format.RuleRunDateName,
			"header run date "+h.RunAt.Format(time.DateOnly)+" differs from the file name's date "+h.Name.Date.Format(time.DateOnly), spec)
	}
	w := format.RunWindow{Now: r.opts.Now, FutureTolerance: r.opts.FutureTolerance, MaxAge: r.opts.MaxRunAge}
	if fe := w.Check(r.in.File, ln.No, TypeHeader, 5, "run_at", h.RunAt, h.PreviousRunAt); fe != nil {
		return fe
	}
	return nil
}

// Next returns the next data row. Rows with problems are returned too (see
// Row.Problems). At the end it checks the trailer and returns io.EOF; a
// file-level failure is returned as a *format.FileError and ends reading.
func (r *Reader) Next() (format.Row, error) {
	for {
		ln, code, ok := r.in.Next()
		switch {
		case !ok:
			return format.Row{}, r.in.Err()
		case ln.TooLong:
			return r.in.ProblemRow(ln.No, "", nil, format.RuleLineTooLong, "line is longer than "+strconv.Itoa(r.in.MaxLine)+" bytes"), nil
		case code == TypeTrailer:
			r.in.Stop(r.readTrailer(ln.No, ln.Text))
			continue
		}
		spec := specs[code]
		if spec == nil {
			return r.in.Unknown(ln.No, code, "GO v2", r.split(ln.Text)), nil
		}
		if (spec.Type == TypeVehicle || spec.Type == TypeVehicleDelete) && !r.opts.KeepVehicles {
			r.in.Sum.VehicleRowsDropped++
			continue
		}
		return r.in.Record(ln.No, spec, r.split(ln.Text), -1, r.opts.KeepSpecialCategory), nil
	}
}

func (r *Reader) split(t string) []string {
	return r.in.Keep(r.in.Bound(format.SplitPlain(t, Delimiter, r.in.FieldBuf(t, Delimiter))))
}

// readTrailer checks TRL~n: n must equal the number of non-blank lines,
// header and trailer included.
func (r *Reader) readTrailer(line int, t string) *format.FileError {
	f := format.SplitPlain(t, Delimiter, nil)
	if len(f) < 2 || f[1] == "" {
		return r.failCol(line, TypeTrailer, 1, format.RuleTrailerCount, "TRL has no record count", &TrailerSpec)
	}
	if i := stream.ExtraColumn(f, 2); i >= 0 {
		return r.failCol(line, TypeTrailer, i, format.RuleTrailerCount, "TRL has extra non-empty columns", nil)
	}
	return r.in.CheckTrailerCount(line, 1, f[1], r.in.Sum.Records, "non-blank lines including HDR and TRL")
}
