// Package stream is the reader machinery the ESR dialects share: the line
// loop over a format.LineReader, the header/trailer envelope (duplicate
// header, missing trailer, lines after the trailer), summary bookkeeping,
// whole-line row problems and file-level error construction. A dialect reader
// keeps a Reader and says only what differs: its header, its trailer check
// and how a data line becomes a row.
package stream

import (
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"strconv"
	"strings"

	"github.com/esrflow/esrflow/esr/format"
)

// Envelope names a dialect's header and trailer record codes and the
// delimiter that ends a record code. A dialect without an envelope (csvfeed)
// leaves it zero: every non-blank line is then data, and end of input is
// simply io.EOF.
type Envelope struct {
	Header, Trailer string
	Delim           byte
}

// Options are the reader options every dialect has.
type Options struct {
	MaxLineBytes int // 0 = format.DefaultMaxLineBytes
	MaxColumns   int // 0 = format.DefaultMaxColumns; see Bound
	Encoding     format.Encoding
	ReuseRecord  bool
}

// Reader is held by each dialect reader as an unexported field (not
// embedded, so none of its methods join the dialect's API).
type Reader struct {
	File    string // base name of the file, for errors
	MaxLine int    // the line bound in force
	MaxCols int    // the column bound in force (Bound)
	// Sum is the summary being built; dialects add their own counts
	// (vehicles dropped, special-category values blanked).
	Sum format.Summary

	lr      *format.LineReader
	env     Envelope
	reuse   bool
	fields  []string // the reused Row.Fields with ReuseRecord
	wide    int      // columns of the row Bound last cut, until Emit reports it
	data    int      // non-blank lines between header and trailer
	trailer bool     // the trailer has been read
	err     error    // sticky: io.EOF or *format.FileError once reading ended
	// The original bytes of the record being read (its line, and any
	// continuation lines with the terminators between them) go through
	// h, so Emit can stamp Row.RawSHA256; hashed is false when they are
	// not all known (a line over the limit).
	h       hash.Hash
	hashed  bool
	lastEOL []byte
	digest  [32]byte // h's sum, kept here so Row does not escape
}

// eols are the terminators as bytes, so hashing one does not allocate.
var eols = map[string][]byte{"": nil, "\n": []byte("\n"), "\r": []byte("\r"), "\r\n": []byte("\r\n")}

// BaseName returns the last element of a slash- or backslash-separated path.
func BaseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

// ParseFileName parses file with format.ParseFileName and checks it names a
// file of dialect want; wrong is the message when it names the other dialect.
func ParseFileName(file string, want format.Dialect, wrong string) (format.FileName, *format.FileError) {
	fn, err := format.ParseFileName(file)
	if err != nil {
		return fn, format.FileFailure(file, 0, "", format.RuleFileName, err.Error())
	}
	if fn.Dialect != want {
		return fn, format.FileFailure(file, 0, "", format.RuleFileName, wrong)
	}
	return fn, nil
}

// Init prepares s to read r. It does not read.
func (s *Reader) Init(file string, r io.Reader, env Envelope, o Options) {
	*s = Reader{
		File:    file,
		MaxLine: o.MaxLineBytes,
		MaxCols: o.MaxColumns,
		Sum:     format.Summary{File: file, RowsByType: make(map[string]int)},
		lr:      format.NewLineReader(r, format.LineOptions{File: file, MaxLineBytes: o.MaxLineBytes, Encoding: o.Encoding}),
		env:     env,
		reuse:   o.ReuseRecord,
		h:       sha256.New(),
	}
	if s.MaxLine <= 0 {
		s.MaxLine = format.DefaultMaxLineBytes
	}
	if s.MaxCols <= 0 {
		s.MaxCols = format.DefaultMaxColumns
	}
}

// Summary returns a copy of the summary with the line reader's figures.
func (s *Reader) Summary() format.Summary {
	sum := s.Sum
	sum.Encoding = s.lr.Encoding()
	sum.Lines = s.lr.LineCount()
	sum.RowsByType = make(map[string]int, len(s.Sum.RowsByType))
	for k, v := range s.Sum.RowsByType {
		sum.RowsByType[k] = v
	}
	return sum
}

// Err is the terminal error once Next has returned ok == false.
func (s *Reader) Err() error { return s.err }

// Stop ends reading with fe, unless fe is nil.
func (s *Reader) Stop(fe *format.FileError) {
	if fe != nil {
		s.err = fe
	}
}

// DataRecords is the number of non-blank lines read between the header and
// the trailer (what the GO v1 footer counts).
func (s *Reader) DataRecords() int { return s.data }

// Fail builds a file-level error at a column (0 = the whole line).
func (s *Reader) Fail(line int, recordType string, col int, field, rule, msg string) *format.FileError {
	e := format.FileFailure(s.File, line, recordType, rule, msg)
	e.Problem.Column, e.Problem.Field = col, field
	return e
}

// AsFileError turns an error from format.LineReader into a file failure.
func AsFileError(err error) *format.FileError {
	var fe *format.Error
	if errors.As(err, &fe) {
		return &format.FileError{Problem: fe}
	}
	return &format.FileError{Problem: &format.Error{Rule: format.RuleRead, Msg: "reading input failed", Severity: format.SeverityFile, Err: err}}
}

// First reads the first physical line, the header, and counts it as a
// record. An empty file is a missing-header failure with emptyMsg.
func (s *Reader) First(emptyMsg string) (format.Line, *format.FileError) {
	ln, err := s.lr.Next()
	if errors.Is(err, io.EOF) {
		return ln, format.FileFailure(s.File, 0, "", format.RuleMissingHeader, emptyMsg)
	}
	if err != nil {
		return ln, AsFileError(err)
	}
	s.Sum.Records++
	return ln, nil
}

// CheckDelimiter checks that the header code is followed by the dialect's
// delimiter (the 4th character of line 1).
func (s *Reader) CheckDelimiter(ln format.Line) *format.FileError {
	if t := ln.Text; len(t) < 4 || t[3] != s.env.Delim {
		return s.Fail(ln.No, s.env.Header, 0, "", format.RuleDelimiter, "4th character of line 1 is not "+strconv.QuoteRune(rune(s.env.Delim)))
	}
	return nil
}

// CheckHeaderFileName checks the file name written in the header against
// the actual one (column 1, unless relax).
func (s *Reader) CheckHeaderFileName(line int, name string, relax bool) *format.FileError {
	if relax || name == s.File {
		return nil
	}
	return s.Fail(line, s.env.Header, 1, "file_name", format.RuleHeaderFileName,
		"header names "+format.Quote(name)+", file is "+format.Quote(s.File))
}

// Next returns the next non-blank line, counted in Summary.Records, with its
// record code (the text before the first delimiter; "" without an
// envelope). A second header ends reading. A line over the limit comes back
// with TooLong set and no code. The trailer is returned once, with code ==
// Envelope.Trailer, for the dialect to check (Stop with its verdict); after
// it only blank lines may follow. ok is false once reading has ended: Err
// then says why (io.EOF when the file is good).
func (s *Reader) Next() (ln format.Line, code string, ok bool) {
	for s.err == nil {
		ln, err := s.lr.Next()
		if errors.Is(err, io.EOF) {
			if s.env.Trailer != "" && !s.trailer {
				s.err = s.Fail(s.lr.LineCount(), "", 0, "", format.RuleMissingTrailer, "no "+s.env.Trailer+" record before end of file")
			} else {
				s.err = io.EOF
			}
			break
		}
		if err != nil {
			s.err = AsFileError(err)
			break
		}
		if ln.Blank {
			continue
		}
		s.startRecord(ln)
		s.Sum.Records++
		if s.trailer {
			s.err = s.Fail(ln.No, "", 0, "", format.RuleAfterTrailer, "non-blank line after the "+s.env.Trailer+" record")
			break
		}
		if ln.TooLong || s.env.Header == "" {
			s.data++
			return ln, "", true
		}
		code := ln.Text
		if i := strings.IndexByte(code, s.env.Delim); i >= 0 {
			code = code[:i]
		}
		switch code {
		case s.env.Header:
			s.err = s.Fail(ln.No, s.env.Header, 0, "", format.RuleDuplicateHeader, "second "+s.env.Header+" record")
			return format.Line{}, "", false
		case s.env.Trailer:
			s.trailer = true
			return ln, code, true
		}
		s.data++
		return ln, code, true
	}
	return format.Line{}, "", false
}

// Continuation returns the next physical line as it is (blank or not, not
// counted), for a record whose quoted value spans lines. The error is io.EOF
// at the end of input, or a *format.FileError that ends reading.
func (s *Reader) Continuation() (format.Line, error) {
	ln, err := s.lr.Next()
	if err != nil && !errors.Is(err, io.EOF) {
		fe := AsFileError(err)
		s.err = fe
		return ln, fe
	}
	if err == nil {
		if ln.TooLong {
			s.hashed = false
		}
		s.h.Write(s.lastEOL)
		s.h.Write(ln.Raw)
		s.lastEOL = eols[ln.EOL]
	}
	return ln, err
}

// startRecord starts the hash of a record's original bytes at its first
// line.
func (s *Reader) startRecord(ln format.Line) {
	s.h.Reset()
	s.h.Write(ln.Raw)
	s.hashed, s.lastEOL = !ln.TooLong, eols[ln.EOL]
}

// CheckTrailerCount checks the count v declared in column col of the
// trailer against want; what says what the dialect counts.
func (s *Reader) CheckTrailerCount(line, col int, v string, want int, what string) *format.FileError {
	n, err := format.ParseInt(v)
	if err != nil {
		return s.Fail(line, s.env.Trailer, col, "record_count", format.RuleTrailerCount, format.Quote(v)+" is not a record count")
	}
	s.Sum.TrailerCount = int(n)
	if int(n) != want {
		return s.Fail(line, s.env.Trailer, col, "record_count", format.RuleTrailerCount,
			s.env.Trailer+" declares "+strconv.FormatInt(n, 10)+" records, file has "+strconv.Itoa(want)+" ("+what+")")
	}
	return nil
}

// ExtraColumn returns the index of the first non-empty field from index
// from on, or -1: extra trailing columns are accepted only when empty.
func ExtraColumn(f []string, from int) int {
	for i := from; i < len(f); i++ {
		if f[i] != "" {
			return i
		}
	}
	return -1
}

// FieldBuf returns the slice to split a row of text into: the reused one
// with ReuseRecord, else a new one with room for every delim-separated field.
// Pass the filled slice to Keep.
func (s *Reader) FieldBuf(text string, delim byte) []string {
	if s.reuse {
		return s.fields[:0]
	}
	return make([]string, 0, strings.Count(text, string(delim))+1)
}

// FieldBufN is FieldBuf for a row of n fields.
func (s *Reader) FieldBufN(n int) []string {
	if s.reuse {
		return s.fields[:0]
	}
	return make([]string, 0, n)
}

// Bound keeps at most MaxCols of a row's fields, so a row's size in memory
// has a bound whatever its width. A row cut short gets a column-count
// problem (from Emit) naming how many columns it had; its fields are copied
// into a slice of MaxCols, so the wide one is not kept for reuse either.
func (s *Reader) Bound(f []string) []string {
	if len(f) <= s.MaxCols {
		return f
	}
	s.wide = len(f)
	return append(make([]string, 0, s.MaxCols), f[:s.MaxCols]...)
}

// Keep records f for reuse by the next row (with ReuseRecord) and returns it.
func (s *Reader) Keep(f []string) []string {
	if s.reuse {
		s.fields = f
	}
	return f
}

// Emit counts a row in the summary and returns it.
func (s *Reader) Emit(row format.Row) format.Row {
	if s.wide > 0 {
		row.Problems = append(row.Problems, format.RowProblem(s.File, row.Line, row.Type, 0, "", format.RuleColumnCount,
			"has "+strconv.Itoa(s.wide)+" columns, more than the limit of "+strconv.Itoa(s.MaxCols)+"; the columns after it are dropped"))
		s.wide = 0
	}
	if s.hashed {
		s.h.Sum(s.digest[:0])
		row.RawSHA256 = s.digest
	}
	s.Sum.Rows++
	s.Sum.RowsByType[row.Type]++
	if len(row.Problems) > 0 {
		s.Sum.RowsWithProblems++
	}
	return row
}

// ProblemRow emits a row with one whole-line problem (column 0).
func (s *Reader) ProblemRow(line int, recordType string, fields []string, rule, msg string) format.Row {
	return s.Emit(format.Row{Line: line, Type: recordType, Fields: fields,
		Problems: []*format.Error{format.RowProblem(s.File, line, recordType, 0, "", rule, msg)}})
}

// Unknown emits a row whose record code is not one of the dialect's: never
// dropped silently. The code is quoted (and becomes Row.Type) only when it
// looks like a record code, since a broken line can start with anyone's free
// text.
func (s *Reader) Unknown(line int, code, dialect string, fields []string) format.Row {
	typ, msg := "", "line does not start with a known "+dialect+" record type (value not shown)"
	if format.LooksLikeRecordCode(code) {
		typ = strings.Clone(code)
		msg = format.Quote(code) + " is not a known " + dialect + " record type"
	}
	return s.ProblemRow(line, typ, fields, format.RuleRecordType, msg)
}

// MsgQuote is the message of a quote problem.
const MsgQuote = "quoted field is unterminated or followed by text"

// Record emits a row of a known record type. A row whose quoting is broken
// at field badCol (>= 0) gets only that problem: the columns after it are
// misaligned, so further checks would only add noise to the quarantine
// record. Otherwise the row is checked against spec. Special-category
// columns are blanked unless keepSpecial.
func (s *Reader) Record(line int, spec *format.RecordSpec, fields []string, badCol int, keepSpecial bool) format.Row {
	row := format.Row{Line: line, Type: spec.Type, Fields: fields}
	if badCol >= 0 {
		name := ""
		if badCol < len(spec.Columns) {
			name = spec.Columns[badCol].Name
		}
		row.Problems = append(row.Problems, format.RowProblem(s.File, line, spec.Type, badCol, name, format.RuleQuote, MsgQuote))
	} else {
		row.Problems = format.CheckRow(s.File, line, spec, fields, row.Problems)
	}
	if !keepSpecial {
		s.Sum.SpecialCategoryBlanked += format.BlankSpecial(spec, fields)
	}
	return s.Emit(row)
}
