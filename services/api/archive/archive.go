// Package archive reads the originals ingest keeps at
// <archive>/<TENANT>/<sha256>, read-only: a window of a file's physical
// lines, decoded and split as the file's dialect parser does, each with the
// hash of its original bytes (docs/api.md, A file's lines).
//
// It streams: only the lines up to the last one asked for are read, with
// memory bounded by format.DefaultMaxLineBytes whatever the file's size.
package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/gov2"
	"github.com/esrflow/esrflow/esr/tenant"
)

// ErrGone is returned by Open when the archive does not hold the file (its
// retention deleted it, or it was never archived here).
var ErrGone = errors.New("the archived original is no longer kept")

// Open opens a tenant's archived original. tenant must be an upper-case
// ODS code and sha a lower-case SHA-256 (the caller checked both: they are
// path elements, and nothing else may reach the file system).
func Open(root, tenantCode, sha string) (*os.File, error) {
	if !safeElement(tenantCode) || len(sha) != 64 || !safeElement(sha) {
		return nil, ErrGone
	}
	f, err := os.Open(filepath.Join(root, tenantCode, sha))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrGone
	}
	return f, err
}

// safeElement reports whether s is one path element of letters and digits
// only, so it can neither climb out of the archive nor name another place.
func safeElement(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// Line is one physical line of an archived file.
type Line struct {
	No int
	// RecordType is the line's record code (GO dialects: the text before
	// the first delimiter) when it looks like one; "" otherwise, for a blank
	// line, a CSV line or a line over the length limit.
	RecordType string
	// Fields are the line's columns after the record type (all of them
	// when RecordType is ""), split as the dialect's parser splits them and
	// at most format.DefaultMaxColumns of them.
	Fields []string
	// RawSHA256 is the lower-case hex SHA-256 of the line's original bytes
	// (before charset decoding, without its terminator), as lineage hashes
	// them; "" for a line over the length limit, whose bytes are not kept.
	RawSHA256 string
	TooLong   bool
}

// Window is a file's lines from..to (1-based, inclusive), as far as the
// file goes.
type Window struct {
	Lines []Line
	// EOF: the file ends within the window (its last line is the window's
	// last, or the file has fewer lines than from).
	EOF bool
}

// Splitter splits a line's decoded text into its record type and fields.
type Splitter func(text string) (recordType string, fields []string)

// SplitterFor is how the parser of dialect splits a line: GO v2 on '~'
// without quoting, GO v1 on ',' with quoting, a CSV list (tenant.CSVDialectPrefix)
// with quoting on delim (0: ','), with no record type. Any other dialect
// keeps the whole line as one field.
func SplitterFor(dialect string, delim byte) Splitter {
	switch {
	case dialect == "go-v2" || dialect == "gov2":
		return goSplitter(func(t string) []string { return format.SplitPlain(t, gov2.Delimiter, nil) })
	case dialect == "go-v1" || dialect == "gov1":
		// gov1.Options.Delimiter is never set by ingest: ',' always.
		return goSplitter(func(t string) []string { f, _, _ := format.SplitQuoted(t, ',', nil); return f })
	case strings.HasPrefix(dialect, tenant.CSVDialectPrefix):
		if delim == 0 || delim == '"' {
			delim = ','
		}
		// A quoted value spanning lines is split per physical line here
		// (documented): its first line has the quote left open.
		return func(t string) (string, []string) { f, _, _ := format.SplitQuoted(t, delim, nil); return "", bound(f) }
	}
	return func(t string) (string, []string) { return "", []string{t} }
}

// goSplitter splits a GO line: the first field is its record code when it
// looks like one. A broken line can start with anyone's free text, so any
// other first field stays among the (then unnamed, personal) fields.
func goSplitter(split func(string) []string) Splitter {
	return func(t string) (string, []string) {
		f := bound(split(t))
		if len(f) > 0 && format.LooksLikeRecordCode(f[0]) {
			return f[0], f[1:]
		}
		return "", f
	}
}

// bound keeps at most format.DefaultMaxColumns fields, as the parsers do,
// so a line of delimiters cannot make an answer of thousands of columns.
func bound(f []string) []string {
	if len(f) > format.DefaultMaxColumns {
		return f[:format.DefaultMaxColumns]
	}
	return f
}

// Read returns lines from..to of f (1-based physical lines, blank ones
// included, as lineage numbers them), decoded as ingest decodes the file
// (format.LineReader: UTF-8, the whole file Windows-1252 from its first line
// that is not UTF-8) and split by split. It reads from the start of f and
// stops after line to.
//
// A file mixing both encodings (ingest rejected it: rule encoding) cannot be
// decoded consistently; it is read again decoded as Windows-1252
// throughout, which decodes every byte.
func Read(ctx context.Context, f io.ReadSeeker, from, to int, split Splitter) (Window, error) {
	w, err := read(ctx, f, from, to, split, format.EncodingAuto)
	var fe *format.Error
	if errors.As(err, &fe) && fe.Rule == format.RuleEncoding {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return Window{}, err
		}
		return read(ctx, f, from, to, split, format.EncodingWindows1252)
	}
	return w, err
}

func read(ctx context.Context, f io.Reader, from, to int, split Splitter, enc format.Encoding) (Window, error) {
	lr := format.NewLineReader(f, format.LineOptions{Encoding: enc})
	var w Window
	for n := 1; n <= to; n++ {
		// A far line of a large file is a long read: stop when the caller
		// has gone.
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return Window{}, err
			}
		}
		ln, err := lr.Next()
		if errors.Is(err, io.EOF) {
			w.EOF = true
			return w, nil
		}
		if err != nil {
			return Window{}, err
		}
		if ln.No < from {
			continue
		}
		out := Line{No: ln.No, TooLong: ln.TooLong, Fields: []string{}}
		if !ln.TooLong {
			sum := sha256.Sum256(ln.Raw)
			out.RawSHA256 = hex.EncodeToString(sum[:])
			if !ln.Blank {
				out.RecordType, out.Fields = split(ln.Text)
			}
		}
		w.Lines = append(w.Lines, out)
	}
	// Whether the window's last line was the file's: one more read says.
	if _, err := lr.Next(); errors.Is(err, io.EOF) {
		w.EOF = true
	}
	return w, nil
}
