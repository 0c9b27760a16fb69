package csvfeed

import (
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/internal/stream"
)

// Options tunes a reader.
type Options struct {
	// ExpectedVPDs is checked against the "vpd" group of the file name
	// pattern, when the feed has one.
	ExpectedVPDs []string
	// KeepSpecialCategory keeps columns whose canonical field is special
	// category (format.IsSpecialCategory); by default they are blanked.
	KeepSpecialCategory bool
	// MaxLineBytes bounds one record (a quoted value may span lines; the
	// joined record counts). 0 = format.DefaultMaxLineBytes.
	MaxLineBytes int
	Encoding     format.Encoding
	ReuseRecord  bool
}

// Reader reads one CSV report through a Feed mapping.
type Reader struct {
	in    stream.Reader
	feed  *Feed
	opts  Options
	pos   []int // pos[i] = 0-based CSV column of feed column i, -1 if absent
	width int   // number of header columns
	raw   []string
}

// NewReader checks the file name and reads the header row. Problems come
// back as a *format.FileError and a nil Reader.
func NewReader(fileName string, r io.Reader, feed *Feed, opts Options) (*Reader, error) {
	file := stream.BaseName(fileName)
	if feed == nil {
		return nil, format.FileFailure(file, 0, "", format.RuleConfig, "no feed mapping")
	}
	rd := &Reader{feed: feed, opts: opts}
	rd.in.Init(file, r, stream.Envelope{}, stream.Options{MaxLineBytes: opts.MaxLineBytes, Encoding: opts.Encoding, ReuseRecord: opts.ReuseRecord})
	if feed.pattern != nil {
		m := feed.pattern.FindStringSubmatch(file)
		if m == nil {
			return nil, format.FileFailure(file, 0, "", format.RuleFileName, "file name does not match the "+feed.cfg.Name+" feed pattern")
		}
		if i := feed.pattern.SubexpIndex("vpd"); i > 0 {
			if fe := format.CheckVPD(file, 0, "", 0, m[i], opts.ExpectedVPDs); fe != nil {
				return nil, fe
			}
		}
	}
	if fe := rd.readHeader(); fe != nil {
		return nil, fe
	}
	return rd, nil
}

// Feed returns the mapping in use.
func (r *Reader) Feed() *Feed { return r.feed }

// Summary reports what was read.
func (r *Reader) Summary() format.Summary { return r.in.Summary() }

func (r *Reader) readHeader() *format.FileError {
	ln, fe := r.in.First("file is empty: no header row")
	if fe != nil {
		return fe
	}
	if ln.TooLong || ln.Blank {
		return r.in.Fail(ln.No, "", 0, "", format.RuleMissingHeader, "first line is not a header row")
	}
	hdr, bad, _ := format.SplitQuoted(ln.Text, r.feed.delim, nil)
	if bad >= 0 {
		return r.in.Fail(ln.No, "", 0, "", format.RuleMissingHeader, "header row has broken quoting")
	}
	r.width = len(hdr)
	at := make(map[string]int, len(hdr))
	for i, h := range hdr {
		h = normHeader(h)
		if _, dup := at[h]; dup {
			at[h] = -2 // ambiguous; only an error if mapped
			continue
		}
		at[h] = i
	}
	r.pos = make([]int, len(r.feed.cols))
	for i, c := range r.feed.cols {
		p, ok := at[normHeader(c.Header)]
		switch {
		case ok && p == -2:
			return r.in.Fail(ln.No, "", 0, c.Field, format.RuleDuplicateColumn, "header "+strconv.Quote(c.Header)+" appears more than once")
		case !ok && !c.Optional:
			return r.in.Fail(ln.No, "", 0, c.Field, format.RuleMissingColumn, "mapped header "+strconv.Quote(c.Header)+" is missing")
		case !ok:
			p = -1
		}
		r.pos[i] = p
	}
	return nil
}

// Next returns the next data row (mapped columns in feed order), io.EOF at
// the end, or a *format.FileError.
func (r *Reader) Next() (format.Row, error) {
	ln, _, ok := r.in.Next()
	if !ok {
		return format.Row{}, r.in.Err()
	}
	typ, limit := r.feed.typ, r.in.MaxLine
	if ln.TooLong {
		return r.in.ProblemRow(ln.No, typ, nil, format.RuleLineTooLong, "record is longer than "+strconv.Itoa(limit)+" bytes"), nil
	}
	text := ln.Text
	raw, bad, open := format.SplitQuoted(text, r.feed.delim, r.raw[:0])
	tooLong := false
	// A quoted value may contain line breaks: join following lines
	// until the quote closes, within the same byte bound as a line.
	for open {
		next, err := r.in.Continuation()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return format.Row{}, err
		}
		if next.TooLong || len(text)+1+len(next.Text) > limit {
			tooLong = true
			break
		}
		text += "\n" + next.Text
		raw, bad, open = format.SplitQuoted(text, r.feed.delim, r.raw[:0])
	}
	r.raw = raw[:0]
	if tooLong {
		return r.in.ProblemRow(ln.No, typ, nil, format.RuleLineTooLong, "quoted record is longer than "+strconv.Itoa(limit)+" bytes"), nil
	}
	row := format.Row{Line: ln.No, Type: typ, Fields: r.project(raw)}
	if bad >= 0 {
		row.Problems = append(row.Problems, format.RowProblem(r.in.File, ln.No, typ, bad+1, r.fieldAt(bad), format.RuleQuote, stream.MsgQuote))
	} else {
		row.Problems = r.check(ln.No, raw, row.Fields, row.Problems)
	}
	if !r.opts.KeepSpecialCategory {
		for i, c := range r.feed.cols {
			if c.special && row.Fields[i] != "" {
				row.Fields[i] = ""
				r.in.Sum.SpecialCategoryBlanked++
			}
		}
	}
	return r.in.Emit(row), nil
}

func (r *Reader) fieldAt(csvCol int) string {
	for i, p := range r.pos {
		if p == csvCol {
			return r.feed.cols[i].Field
		}
	}
	return ""
}

// project copies the mapped columns out of the raw CSV row, in feed order;
// unmapped columns are dropped here, which keeps unneeded personal data out
// of everything downstream.
func (r *Reader) project(raw []string) []string {
	out := r.in.FieldBufN(len(r.pos))
	for _, p := range r.pos {
		v := ""
		if p >= 0 && p < len(raw) {
			v = raw[p]
		}
		out = append(out, v)
	}
	return r.in.Keep(out)
}

func (r *Reader) check(line int, raw, fields []string, probs []*format.Error) []*format.Error {
	typ := r.feed.typ
	if len(raw) < r.width {
		probs = append(probs, format.RowProblem(r.in.File, line, typ, 0, "", format.RuleColumnCount,
			"has "+strconv.Itoa(len(raw))+" columns, header has "+strconv.Itoa(r.width)))
	} else {
		for i := r.width; i < len(raw); i++ {
			if raw[i] != "" {
				probs = append(probs, format.RowProblem(r.in.File, line, typ, i+1, "", format.RuleColumnCount,
					"has "+strconv.Itoa(len(raw))+" columns, header has "+strconv.Itoa(r.width)+"; extra column is not empty"))
				break
			}
		}
	}
	for i := range r.feed.cols {
		c := &r.feed.cols[i]
		if r.pos[i] < 0 || r.pos[i] >= len(raw) {
			continue
		}
		v := fields[i]
		if v == "" {
			if c.Required {
				probs = append(probs, format.RowProblem(r.in.File, line, typ, r.pos[i]+1, c.Field, format.RuleRequired, "value is required"))
			}
			continue
		}
		if rule, msg := c.check(v); rule != "" {
			probs = append(probs, format.RowProblem(r.in.File, line, typ, r.pos[i]+1, c.Field, rule, msg))
		}
	}
	return probs
}

func (c *column) check(v string) (rule, msg string) {
	var ok bool
	switch c.kind {
	case format.KindText:
		return "", ""
	case format.KindInteger:
		ok, rule = format.ValidInt(v), format.RuleInteger
	case format.KindDecimal:
		ok, rule = format.ValidDecimal(v), format.RuleDecimal
	case format.KindFlag:
		ok, rule = format.ValidFlag(v), format.RuleFlag
	case format.KindDate:
		_, err := time.Parse(c.layout, v)
		ok, rule = err == nil, format.RuleDate
	case format.KindTimestamp:
		_, err := time.Parse(c.layout, v)
		ok, rule = err == nil, format.RuleTimestamp
	}
	if ok {
		return "", ""
	}
	what := "not a valid " + c.kind.String()
	if c.layout != "" {
		what += " in layout " + c.layout
	}
	if c.Sensitive || c.special {
		return rule, "value is " + what + " (value not shown: personal data)"
	}
	return rule, format.Quote(v) + " is " + what
}

// Decode returns a row's mapped values by canonical field name, typed by
// column kind: string, int64, float64, bool, or time.Time (dates at midnight
// UTC, timestamps in Europe/London). Empty values are omitted. A row without
// Problems always decodes.
func (f *Feed) Decode(row format.Row) (map[string]any, error) {
	out := make(map[string]any, len(f.cols))
	for i := range f.cols {
		c := &f.cols[i]
		v := row.Field(i)
		if v == "" {
			continue
		}
		var (
			val any
			err error
		)
		switch c.kind {
		case format.KindText:
			val = v
		case format.KindInteger:
			val, err = format.ParseInt(v)
		case format.KindDecimal:
			val, err = format.ParseDecimal(v)
		case format.KindFlag:
			val, _, err = format.ParseFlag(v)
		case format.KindDate:
			val, err = format.ParseDateLayout(v, c.layout)
		case format.KindTimestamp:
			val, err = time.ParseInLocation(c.layout, v, format.London())
		}
		if err != nil {
			rule, msg := c.check(v)
			return out, format.RowProblem("", row.Line, row.Type, 0, c.Field, rule, msg)
		}
		out[c.Field] = val
	}
	return out, nil
}
