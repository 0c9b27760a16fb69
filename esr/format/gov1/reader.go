// Package gov1 reads ESR Generic Outbound v1 ("ASG" sub-interface) files:
// comma-delimited (trust-configurable), text in double quotes, HDR,<name>
// first, PER and ASG records, FTR,<name>,<count> last, where count is the
// number of data records (ESR-FORMATS §3).
//
// Like gov2 it streams with flat memory, and rows are provisional until Next
// returns io.EOF. A quoted field may not span lines: each record is one line.
package gov1

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/esrflow/esrflow/esr/format"
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
	file    string
	delim   byte
	opts    Options
	lr      *format.LineReader
	hdr     Header
	sum     format.Summary
	data    int // non-blank lines between HDR and FTR: what FTR counts
	fields  []string
	trailer bool
	err     error
}

// NewReader checks the file name and reads the header; problems come back
// as a *format.FileError and a nil Reader.
func NewReader(fileName string, r io.Reader, opts Options) (*Reader, error) {
	file := fileName
	if i := strings.LastIndexAny(file, `/\`); i >= 0 {
		file = file[i+1:]
	}
	rd := &Reader{
		file:  file,
		delim: opts.Delimiter,
		opts:  opts,
		lr:    format.NewLineReader(r, format.LineOptions{File: file, MaxLineBytes: opts.MaxLineBytes, Encoding: opts.Encoding}),
		sum:   format.Summary{File: file, RowsByType: make(map[string]int)},
	}
	if rd.delim == 0 {
		rd.delim = ','
	}
	if rd.delim == '"' || rd.delim == '\n' || rd.delim == '\r' {
		return nil, format.FileFailure(file, 0, "", format.RuleConfig, "delimiter cannot be a quote or line break")
	}
	fn, err := format.ParseFileName(file)
	if err != nil {
		return nil, format.FileFailure(file, 0, "", format.RuleFileName, err.Error())
	}
	if fn.Dialect != format.DialectGOv1 {
		return nil, format.FileFailure(file, 0, "", format.RuleFileName, "a GO v2 file name, want GO_<VPD>_<SUB>_<YYYYMMDD>_<Full|…>_<seq>.DAT")
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

func (r *Reader) fail(line int, recordType string, col int, field, rule, msg string) *format.FileError {
	e := format.FileFailure(r.file, line, recordType, rule, msg)
	e.Problem.Column, e.Problem.Field = col, field
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
		return r.fail(0, "", 0, "", format.RuleMissingHeader, "file is empty")
	}
	if err != nil {
		return asFileError(err)
	}
	r.sum.Records++
	if ln.TooLong || !strings.HasPrefix(ln.Text, TypeHeader) {
		return r.fail(ln.No, "", 0, "", format.RuleMissingHeader, "first line is not an HDR record")
	}
	t := ln.Text
	if len(t) < 4 || t[3] != r.delim {
		return r.fail(ln.No, TypeHeader, 0, "", format.RuleDelimiter, "4th character of line 1 is not "+strconv.QuoteRune(rune(r.delim)))
	}
	f, bad, _ := format.SplitQuoted(t, r.delim, nil)
	if bad >= 0 || len(f) < 2 || f[1] == "" {
		return r.fail(ln.No, TypeHeader, 0, "", format.RuleHeaderFormat, "want HDR"+string(r.delim)+"<file name>")
	}
	for i := 2; i < len(f); i++ {
		if f[i] != "" {
			return r.fail(ln.No, TypeHeader, i, "", format.RuleHeaderFormat, "has "+strconv.Itoa(len(f))+" columns, want 2")
		}
	}
	h := &r.hdr
	h.Line, h.FileName = ln.No, f[1]
	if !r.opts.RelaxHeaderFileName && h.FileName != r.file {
		return r.fail(ln.No, TypeHeader, 1, "file_name", format.RuleHeaderFileName,
			"header names "+format.Quote(h.FileName)+", file is "+format.Quote(r.file))
	}
	// The v1 header has no VPD column: the VPD inside the header's file
	// name is the header's claim.
	if hn, err := format.ParseFileName(h.FileName); err == nil && hn.VPD != h.Name.VPD {
		return r.fail(ln.No, TypeHeader, 1, "file_name", format.RuleVPDMismatch,
			"header VPD "+format.Quote(hn.VPD)+" differs from file name VPD "+format.Quote(h.Name.VPD))
	}
	if fe := format.CheckVPD(r.file, 0, "", 0, h.Name.VPD, r.opts.ExpectedVPDs); fe != nil {
		return fe
	}
	// The extract date is a civil date: compare it as the start of that UK day.
	d := h.Name.Date
	run := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, format.London())
	w := format.RunWindow{Now: r.opts.Now, FutureTolerance: r.opts.FutureTolerance, MaxAge: r.opts.MaxRunAge}
	if fe := w.Check(r.file, 0, "", 0, "", run, time.Time{}); fe != nil {
		fe.Problem.Msg = "file name " + fe.Problem.Msg
		return fe
	}
	return nil
}

// Next returns the next data row; io.EOF after the footer checked out; a
// *format.FileError when the file is rejected.
func (r *Reader) Next() (format.Row, error) {
	for r.err == nil {
		ln, err := r.lr.Next()
		if errors.Is(err, io.EOF) {
			if !r.trailer {
				r.err = r.fail(r.lr.LineCount(), "", 0, "", format.RuleMissingTrailer, "no FTR record before end of file")
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
			r.err = r.fail(ln.No, "", 0, "", format.RuleAfterTrailer, "non-blank line after the FTR record")
			break
		}
		if ln.TooLong {
			r.data++
			return r.emit(format.Row{Line: ln.No, Problems: []*format.Error{
				format.RowProblem(r.file, ln.No, "", 0, "", format.RuleLineTooLong, "line is longer than the line limit"),
			}}, ""), nil
		}
		t := ln.Text
		code := t
		if i := strings.IndexByte(t, r.delim); i >= 0 {
			code = t[:i]
		}
		switch code {
		case TypeHeader:
			r.err = r.fail(ln.No, TypeHeader, 0, "", format.RuleDuplicateHeader, "second HDR record")
			return format.Row{}, r.err
		case TypeFooter:
			r.err = r.readFooter(ln.No, t)
			continue
		}
		r.data++
		fields, bad := r.split(t)
		spec := Spec(code)
		if spec == nil {
			typ, msg := "", "line does not start with a known GO v1 record type (value not shown)"
			if looksLikeCode(code) {
				typ = strings.Clone(code)
				msg = format.Quote(code) + " is not a known GO v1 record type"
			}
			row := format.Row{Line: ln.No, Type: typ, Fields: fields,
				Problems: []*format.Error{format.RowProblem(r.file, ln.No, typ, 0, "", format.RuleRecordType, msg)}}
			return r.emit(row, typ), nil
		}
		row := format.Row{Line: ln.No, Type: spec.Type, Fields: fields}
		if bad >= 0 {
			name := ""
			if bad < len(spec.Columns) {
				name = spec.Columns[bad].Name
			}
			row.Problems = append(row.Problems, format.RowProblem(r.file, ln.No, spec.Type, bad, name, format.RuleQuote,
				"quoted field is unterminated or followed by text"))
		} else {
			// With broken quoting the columns after it are misaligned, so
			// further checks would only add noise to the quarantine record.
			row.Problems = format.CheckRow(r.file, ln.No, spec, row.Fields, row.Problems)
		}
		if !r.opts.KeepSpecialCategory {
			r.sum.SpecialCategoryBlanked += format.BlankSpecial(spec, row.Fields)
		}
		return r.emit(row, spec.Type), nil
	}
	return format.Row{}, r.err
}

func (r *Reader) split(t string) ([]string, int) {
	var dst []string
	if r.opts.ReuseRecord {
		dst = r.fields
	} else {
		dst = make([]string, 0, strings.Count(t, string(r.delim))+1)
	}
	f, bad, _ := format.SplitQuoted(t, r.delim, dst)
	if r.opts.ReuseRecord {
		r.fields = f
	}
	return f, bad
}

func (r *Reader) emit(row format.Row, typ string) format.Row {
	r.sum.Rows++
	r.sum.RowsByType[typ]++
	if len(row.Problems) > 0 {
		r.sum.RowsWithProblems++
	}
	return row
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

// readFooter checks FTR,<file name>,<count>: count = data records (PER, ASG
// and any other non-blank line between HDR and FTR).
func (r *Reader) readFooter(line int, t string) error {
	r.trailer = true
	f, bad, _ := format.SplitQuoted(t, r.delim, nil)
	if bad >= 0 || len(f) < 3 || f[2] == "" {
		return r.fail(line, TypeFooter, 2, "record_count", format.RuleTrailerCount, "want FTR"+string(r.delim)+"<file name>"+string(r.delim)+"<count>")
	}
	for i := 3; i < len(f); i++ {
		if f[i] != "" {
			return r.fail(line, TypeFooter, i, "", format.RuleTrailerCount, "FTR has extra non-empty columns")
		}
	}
	if f[1] != r.hdr.FileName {
		return r.fail(line, TypeFooter, 1, "file_name", format.RuleTrailerFileName,
			"footer names "+format.Quote(f[1])+", header names "+format.Quote(r.hdr.FileName))
	}
	n, err := format.ParseInt(f[2])
	if err != nil {
		return r.fail(line, TypeFooter, 2, "record_count", format.RuleTrailerCount, format.Quote(f[2])+" is not a record count")
	}
	r.sum.TrailerCount = int(n)
	if int(n) != r.data {
		return r.fail(line, TypeFooter, 2, "record_count", format.RuleTrailerCount,
			"FTR declares "+strconv.FormatInt(n, 10)+" records, file has "+strconv.Itoa(r.data)+" (data records, excluding HDR and FTR)")
	}
	return nil
}
