// Package gov1 reads ESR Generic Outbound v1 ("ASG" sub-interface) files:
// comma-delimited (trust-configurable), text in double quotes, HDR,<name>
// first, PER and ASG records, FTR,<name>,<count> last, where count is the
// number of data records (ESR-FORMATS §3).
//
// Like gov2 it streams with flat memory, and rows are provisional until Next
// returns io.EOF. A quoted field may not span lines: each record is one line.
package gov1

import (
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/internal/stream"
)

// Options tunes the checks; the zero value is a production default.
type Options struct {
	// Delimiter between fields; 0 = ','. The quote character is always '"'.
	Delimiter byte
	// ExpectedVPDs, when non-empty, is the tenant's VPD set (rule unexpected-vpd).
	ExpectedVPDs []string
	// RelaxHeaderFileName skips the HDR/FTR file name == actual name check.
	RelaxHeaderFileName bool
	// Now, FutureTolerance and MaxRunAge bound the extract date in the file
	// name (v1 headers carry no run date); see gov2.Options.
	Now             func() time.Time
	FutureTolerance time.Duration
	MaxRunAge       time.Duration
	// KeepSpecialCategory: v1 carries no special-category columns today; the
	// option exists so callers configure both dialects alike.
	KeepSpecialCategory bool
	MaxLineBytes        int
	MaxColumns          int // 0 = format.DefaultMaxColumns (see gov2.Options)
	Encoding            format.Encoding
	ReuseRecord         bool
}

// Header is the parsed HDR line.
type Header struct {
	Line     int
	FileName string          // as written in the header
	Name     format.FileName // the parsed actual file name
}

// Reader reads one GO v1 file.
type Reader struct {
	in    stream.Reader
	delim byte
	opts  Options
	hdr   Header
}

// NewReader checks the file name and reads the header; problems come back
// as a *format.FileError and a nil Reader.
func NewReader(fileName string, r io.Reader, opts Options) (*Reader, error) {
	file := stream.BaseName(fileName)
	rd := &Reader{delim: opts.Delimiter, opts: opts}
	if rd.delim == 0 {
		rd.delim = ','
	}
	rd.in.Init(file, r, stream.Envelope{Header: TypeHeader, Trailer: TypeFooter, Delim: rd.delim},
		stream.Options{MaxLineBytes: opts.MaxLineBytes, MaxColumns: opts.MaxColumns, Encoding: opts.Encoding, ReuseRecord: opts.ReuseRecord})
	if rd.delim == '"' || rd.delim == '\n' || rd.delim == '\r' {
		return nil, format.FileFailure(file, 0, "", format.RuleConfig, "delimiter cannot be a quote or line break")
	}
	fn, fe := stream.ParseFileName(file, format.DialectGOv1, "a GO v2 file name, want GO_<VPD>_<SUB>_<YYYYMMDD>_<Full|…>_<seq>.DAT")
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

func (r *Reader) readHeader() *format.FileError {
	ln, fe := r.in.First("file is empty")
	if fe != nil {
		return fe
	}
	if ln.TooLong || !strings.HasPrefix(ln.Text, TypeHeader) {
		return r.in.Fail(ln.No, "", 0, "", format.RuleMissingHeader, "first line is not an HDR record")
	}
	if fe := r.in.CheckDelimiter(ln); fe != nil {
		return fe
	}
	f, bad, _ := format.SplitQuoted(ln.Text, r.delim, nil)
	if bad >= 0 || len(f) < 2 || f[1] == "" {
		return r.in.Fail(ln.No, TypeHeader, 0, "", format.RuleHeaderFormat, "want HDR"+string(r.delim)+"<file name>")
	}
	if i := stream.ExtraColumn(f, 2); i >= 0 {
		return r.in.Fail(ln.No, TypeHeader, i, "", format.RuleHeaderFormat, "has "+strconv.Itoa(len(f))+" columns, want 2")
	}
	h := &r.hdr
	h.Line, h.FileName = ln.No, f[1]
	if fe := r.in.CheckHeaderFileName(ln.No, h.FileName, r.opts.RelaxHeaderFileName); fe != nil {
		return fe
	}
	// The v1 header has no VPD column: the VPD inside the header's file
	// name is the header's claim.
	if hn, err := format.ParseFileName(h.FileName); err == nil && hn.VPD != h.Name.VPD {
		return r.in.Fail(ln.No, TypeHeader, 1, "file_name", format.RuleVPDMismatch,
			"header VPD "+format.Quote(hn.VPD)+" differs from file name VPD "+format.Quote(h.Name.VPD))
	}
	if fe := format.CheckVPD(r.in.File, 0, "", 0, h.Name.VPD, r.opts.ExpectedVPDs); fe != nil {
		return fe
	}
	// The extract date is a civil date: compare it as the start of that UK day.
	d := h.Name.Date
	run := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, format.London())
	w := format.RunWindow{Now: r.opts.Now, FutureTolerance: r.opts.FutureTolerance, MaxAge: r.opts.MaxRunAge}
	if fe := w.Check(r.in.File, 0, "", 0, "", run, time.Time{}); fe != nil {
		fe.Problem.Msg = "file name " + fe.Problem.Msg
		return fe
	}
	return nil
}

// Next returns the next data row; io.EOF after the footer checked out; a
// *format.FileError when the file is rejected.
func (r *Reader) Next() (format.Row, error) {
	for {
		ln, code, ok := r.in.Next()
		switch {
		case !ok:
			return format.Row{}, r.in.Err()
		case ln.TooLong:
			return r.in.ProblemRow(ln.No, "", nil, format.RuleLineTooLong, "line is longer than the line limit"), nil
		case code == TypeFooter:
			r.in.Stop(r.readFooter(ln.No, ln.Text))
			continue
		}
		fields, bad := r.split(ln.Text)
		spec := Spec(code)
		if spec == nil {
			return r.in.Unknown(ln.No, code, "GO v1", fields), nil
		}
		return r.in.Record(ln.No, spec, fields, bad, r.opts.KeepSpecialCategory), nil
	}
}

func (r *Reader) split(t string) ([]string, int) {
	f, bad, _ := format.SplitQuoted(t, r.delim, r.in.FieldBuf(t, r.delim))
	return r.in.Keep(r.in.Bound(f)), bad
}

// readFooter checks FTR,<file name>,<count>: count = data records (PER, ASG
// and any other non-blank line between HDR and FTR).
func (r *Reader) readFooter(line int, t string) *format.FileError {
	f, bad, _ := format.SplitQuoted(t, r.delim, nil)
	if bad >= 0 || len(f) < 3 || f[2] == "" {
		return r.in.Fail(line, TypeFooter, 2, "record_count", format.RuleTrailerCount, "want FTR"+string(r.delim)+"<file name>"+string(r.delim)+"<count>")
	}
	if i := stream.ExtraColumn(f, 3); i >= 0 {
		return r.in.Fail(line, TypeFooter, i, "", format.RuleTrailerCount, "FTR has extra non-empty columns")
	}
	if f[1] != r.hdr.FileName {
		return r.in.Fail(line, TypeFooter, 1, "file_name", format.RuleTrailerFileName,
			"footer names "+format.Quote(f[1])+", header names "+format.Quote(r.hdr.FileName))
	}
	return r.in.CheckTrailerCount(line, 2, f[2], r.in.DataRecords(), "data records, excluding HDR and FTR")
}
