// Package gov2 reads ESR Generic Outbound v2 files: tilde-delimited, no
// quoting, HDR first, TRL last, one record per line (ESR-FORMATS §2).
//
// The reader streams: memory stays flat whatever the file size. Rows are
// handed out as they are read, before the trailer has been checked, so a
// caller must hold them as provisional until Next returns io.EOF; a
// *format.FileError means the whole file is rejected.
package gov2

import (
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/esrflow/esrflow/esr/format"
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
	file    string
	opts    Options
	lr      *format.LineReader
	hdr     Header
	sum     format.Summary
	fields  []string
	trailer bool
	err     error // sticky: io.EOF or *format.FileError once reading ended
}

// NewReader checks the file name and reads the header. fileName may carry a
// directory; only its base name is used. Header problems come back as a
// *format.FileError and a nil Reader.
func NewReader(fileName string, r io.Reader, opts Options) (*Reader, error) {
	file := baseName(fileName)
	rd := &Reader{
		file: file,
		opts: opts,
		lr:   format.NewLineReader(r, format.LineOptions{File: file, MaxLineBytes: opts.MaxLineBytes, Encoding: opts.Encoding}),
		sum:  format.Summary{File: file, RowsByType: make(map[string]int)},
	}
	fn, err := format.ParseFileName(file)
	if err != nil {
		return nil, format.FileFailure(file, 0, "", format.RuleFileName, err.Error())
	}
	if fn.Dialect != format.DialectGOv2 {
		return nil, format.FileFailure(file, 0, "", format.RuleFileName, "a GO v1 file name, want GO_<VPD>_<SUB>_GO{F|C}_<YYYYMMDD>_<seq>.DAT")
	}
	rd.hdr.Name = fn
	if ferr := rd.readHeader(); ferr != nil {
		return nil, ferr
	}
	return rd, nil
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

// Header returns the parsed header.
func (r *Reader) Header() Header { return r.hdr }

// Summary reports what was read; complete after Next returned io.EOF or a
// *format.FileError.
func (r *Reader) Summary() format.Summary {
	s := r.sum
	s.Encoding = r.lr.Encoding()
	s.Lines = r.lr.LineCount()
	s.RowsByType = make(map[string]int, len(r.sum.RowsByType))
	for k, v := range r.sum.RowsByType {
		s.RowsByType[k] = v
	}
	return s
}

func (r *Reader) fail(line int, recordType, rule, msg string) *format.FileError {
	return format.FileFailure(r.file, line, recordType, rule, msg)
}

func (r *Reader) failCol(line int, recordType string, col int, rule, msg string, spec *format.RecordSpec) *format.FileError {
	e := r.fail(line, recordType, rule, msg)
	e.Problem.Column = col
	if spec != nil && col < len(spec.Columns) {
		e.Problem.Field = spec.Columns[col].Name
	}
	return e
}

func asFileError(err error) *format.FileError {
	var fe *format.Error
	if errors.As(err, &fe) {
		return &format.FileError{Problem: fe}
	}
	return &format.FileError{Problem: &format.Error{Rule: format.RuleRead, Msg: "reading input failed", Severity: format.SeverityFile, Err: err}}
}

func (r *Reader) readHeader() *format.FileError {
	ln, err := r.lr.Next()
	if errors.Is(err, io.EOF) {
		return r.fail(0, "", format.RuleMissingHeader, "file is empty")
	}
	if err != nil {
		return asFileError(err)
	}
	r.sum.Records++
	if ln.TooLong {
		return r.fail(ln.No, "", format.RuleMissingHeader, "first line is longer than the line limit")
	}
	t := ln.Text
	if !strings.HasPrefix(t, TypeHeader) {
		return r.fail(ln.No, "", format.RuleMissingHeader, "first line is not an HDR record")
	}
	if len(t) < 4 || t[3] != Delimiter {
		return r.fail(ln.No, TypeHeader, format.RuleDelimiter, "4th character of line 1 is not '~'")
	}
	f := format.SplitPlain(t, Delimiter, nil)
	spec := &HeaderSpec
	if len(f) < len(spec.Columns) {
		return r.fail(ln.No, TypeHeader, format.RuleHeaderFormat,
			"has "+strconv.Itoa(len(f))+" columns, want "+strconv.Itoa(len(spec.Columns)))
	}
	for i := len(spec.Columns); i < len(f); i++ {
		if f[i] != "" {
			return r.failCol(ln.No, TypeHeader, i, format.RuleHeaderFormat,
				"has "+strconv.Itoa(len(f))+" columns, want "+strconv.Itoa(len(spec.Columns)), nil)
		}
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
	if !r.opts.RelaxHeaderFileName && h.FileName != r.file {
		return r.failCol(ln.No, TypeHeader, 1, format.RuleHeaderFileName,
			"header names "+format.Quote(h.FileName)+", file is "+format.Quote(r.file), spec)
	}
	if h.VPD != h.Name.VPD {
		return r.failCol(ln.No, TypeHeader, 3, format.RuleVPDMismatch,
			"header VPD "+format.Quote(h.VPD)+" differs from file name VPD "+format.Quote(h.Name.VPD), spec)
	}
	if fe := format.CheckVPD(r.file, ln.No, TypeHeader, 3, h.VPD, r.opts.ExpectedVPDs); fe != nil {
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
	w := format.RunWindow{Now: r.opts.Now, FutureTolerance: r.opts.FutureTolerance, MaxAge: r.opts.MaxRunAge}
	if fe := w.Check(r.file, ln.No, TypeHeader, 5, "run_at", h.RunAt, h.PreviousRunAt); fe != nil {
		return fe
	}
	return nil
}

// Next returns the next data row. Rows with problems are returned too (see
// Row.Problems). At the end it checks the trailer and returns io.EOF; a
// file-level failure is returned as a *format.FileError and ends reading.
func (r *Reader) Next() (format.Row, error) {
	for r.err == nil {
		ln, err := r.lr.Next()
		if errors.Is(err, io.EOF) {
			if !r.trailer {
				r.err = r.fail(r.lr.LineCount(), "", format.RuleMissingTrailer, "no TRL record before end of file")
			} else {
				r.err = io.EOF
			}
			break
		}
		if err != nil {
			r.err = asFileError(err)
			break
		}
		if ln.Blank {
			continue
		}
		r.sum.Records++
		if r.trailer {
			r.err = r.fail(ln.No, "", format.RuleAfterTrailer, "non-blank line after the TRL record")
			break
		}
		if ln.TooLong {
			return r.emit(format.Row{Line: ln.No, Problems: []*format.Error{
				format.RowProblem(r.file, ln.No, "", 0, "", format.RuleLineTooLong, "line is longer than "+strconv.Itoa(r.maxLine())+" bytes"),
			}}, ""), nil
		}
		t := ln.Text
		code := t
		if i := strings.IndexByte(t, Delimiter); i >= 0 {
			code = t[:i]
		}
		switch code {
		case TypeHeader:
			r.err = r.fail(ln.No, TypeHeader, format.RuleDuplicateHeader, "second HDR record")
			return format.Row{}, r.err
		case TypeTrailer:
			r.err = r.readTrailer(ln.No, t)
			continue
		}
		spec := specs[code]
		if spec == nil {
			return r.unknown(ln.No, code, t), nil
		}
		if (spec.Type == TypeVehicle || spec.Type == TypeVehicleDelete) && !r.opts.KeepVehicles {
			r.sum.VehicleRowsDropped++
			continue
		}
		row := format.Row{Line: ln.No, Type: spec.Type, Fields: r.split(t)}
		row.Problems = format.CheckRow(r.file, ln.No, spec, row.Fields, nil)
		if !r.opts.KeepSpecialCategory {
			r.sum.SpecialCategoryBlanked += format.BlankSpecial(spec, row.Fields)
		}
		return r.emit(row, spec.Type), nil
	}
	return format.Row{}, r.err
}

func (r *Reader) maxLine() int {
	if r.opts.MaxLineBytes > 0 {
		return r.opts.MaxLineBytes
	}
	return format.DefaultMaxLineBytes
}

func (r *Reader) emit(row format.Row, typ string) format.Row {
	r.sum.Rows++
	r.sum.RowsByType[typ]++
	if len(row.Problems) > 0 {
		r.sum.RowsWithProblems++
	}
	return row
}

func (r *Reader) split(t string) []string {
	if r.opts.ReuseRecord {
		r.fields = format.SplitPlain(t, Delimiter, r.fields)
		return r.fields
	}
	return format.SplitPlain(t, Delimiter, make([]string, 0, strings.Count(t, "~")+1))
}

// unknown returns a row of an unknown type as a problem: never dropped
// silently. The code is only quoted when it looks like a record code, since
// a broken line can start with anyone's free text.
func (r *Reader) unknown(line int, code, t string) format.Row {
	typ, msg := "", "line does not start with a known GO v2 record type (value not shown)"
	if looksLikeCode(code) {
		typ = strings.Clone(code)
		msg = format.Quote(code) + " is not a known GO v2 record type"
	}
	row := format.Row{Line: line, Type: typ, Fields: r.split(t)}
	row.Problems = []*format.Error{format.RowProblem(r.file, line, typ, 0, "", format.RuleRecordType, msg)}
	return r.emit(row, typ)
}

func looksLikeCode(s string) bool {
	if len(s) == 0 || len(s) > 4 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// readTrailer checks TRL~n: n must equal the number of non-blank lines,
// header and trailer included.
func (r *Reader) readTrailer(line int, t string) error {
	r.trailer = true
	f := format.SplitPlain(t, Delimiter, nil)
	if len(f) < 2 || f[1] == "" {
		return r.failCol(line, TypeTrailer, 1, format.RuleTrailerCount, "TRL has no record count", &TrailerSpec)
	}
	for i := 2; i < len(f); i++ {
		if f[i] != "" {
			return r.failCol(line, TypeTrailer, i, format.RuleTrailerCount, "TRL has extra non-empty columns", nil)
		}
	}
	n, err := format.ParseInt(f[1])
	if err != nil {
		return r.failCol(line, TypeTrailer, 1, format.RuleTrailerCount, format.Quote(f[1])+" is not a record count", &TrailerSpec)
	}
	r.sum.TrailerCount = int(n)
	if int(n) != r.sum.Records {
		return r.failCol(line, TypeTrailer, 1, format.RuleTrailerCount,
			"TRL declares "+strconv.FormatInt(n, 10)+" records, file has "+strconv.Itoa(r.sum.Records)+" (non-blank lines including HDR and TRL)", &TrailerSpec)
	}
	return nil
}
