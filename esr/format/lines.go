package format

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"unicode/utf8"
)

// Encoding names the character encoding a file was decoded with.
type Encoding string

const (
	// EncodingAuto decodes UTF-8 and switches the whole file to Windows-1252
	// at the first line that is not valid UTF-8.
	EncodingAuto Encoding = ""
	// EncodingUTF8 is strict UTF-8: an invalid line rejects the file.
	EncodingUTF8 Encoding = "utf-8"
	// EncodingWindows1252 decodes every byte as Windows-1252.
	EncodingWindows1252 Encoding = "windows-1252"
)

// DefaultMaxLineBytes bounds one line. The longest real ESR row (ASA, 50
// columns) is well under 4 KiB, so 64 KiB only trips on a broken file.
const DefaultMaxLineBytes = 64 << 10

// DefaultMaxColumns bounds the columns kept of one GO row. The widest ESR
// record (ASA) has 50, so 128 only trips on a broken file. With the line
// bound it bounds a row in memory whatever its width: at most
// DefaultMaxLineBytes of text and DefaultMaxColumns field headers, where a
// line of 64 KiB of delimiters would otherwise make 65,536 fields (1 MiB of
// string headers per row, held again by every stage that batches rows).
const DefaultMaxColumns = 128

// LineOptions configures a LineReader.
type LineOptions struct {
	File         string   // used in errors
	MaxLineBytes int      // 0 = DefaultMaxLineBytes
	Encoding     Encoding // EncodingAuto unless the feed is known
}

// Line is one physical line, decoded, without its terminator.
type Line struct {
	No      int    // 1-based physical line number
	Text    string // decoded text; empty when TooLong
	TooLong bool   // the line exceeded MaxLineBytes and was skipped
	Blank   bool   // empty or only spaces/tabs
	// Raw is the line's bytes as they are in the file, before decoding and
	// without its terminator (a first line's BOM included), for lineage
	// hashes. It is only valid until the next call to Next; nil when
	// TooLong.
	Raw []byte
	// EOL is the terminator the line had: "\n", "\r\n" or "" (last line).
	EOL string
}

// LineReader splits a stream into decoded lines with memory bounded by
// MaxLineBytes whatever the file size. It splits on \n only, strips one
// trailing \r (CRLF files) and a UTF-8 BOM at the start of the stream.
type LineReader struct {
	br        *bufio.Reader
	opts      LineOptions
	no        int
	enc       Encoding // encoding in force: utf-8 until a fallback happens
	fixed     bool     // encoding was forced by options
	nonASCII  bool     // a valid non-ASCII UTF-8 line has been seen
	decodeBuf []byte
	done      bool
}

// NewLineReader wraps r. It does not read until Next is called.
func NewLineReader(r io.Reader, opts LineOptions) *LineReader {
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = DefaultMaxLineBytes
	}
	// bufio needs a little slack for the terminator (\r\n) beyond the limit.
	size := opts.MaxLineBytes + 2
	if size < 16 {
		size = 16
	}
	lr := &LineReader{br: bufio.NewReaderSize(r, size), opts: opts, enc: EncodingUTF8}
	if opts.Encoding != EncodingAuto {
		lr.enc = opts.Encoding
		lr.fixed = true
	}
	return lr
}

// Encoding reports the encoding in force (the one used for the whole file
// once reading has finished).
func (lr *LineReader) Encoding() Encoding { return lr.enc }

// LineCount is the number of physical lines read so far.
func (lr *LineReader) LineCount() int { return lr.no }

// Next returns the next line, io.EOF at end of input, or an *Error (rule
// "read" or "encoding") that should reject the file.
func (lr *LineReader) Next() (Line, error) {
	if lr.done {
		return Line{}, io.EOF
	}
	raw, tooLong, err := lr.readRaw()
	if err != nil {
		if errors.Is(err, io.EOF) && (len(raw) > 0 || tooLong) {
			// A final line without a terminator still counts.
			lr.done = true
		} else if errors.Is(err, io.EOF) {
			lr.done = true
			return Line{}, io.EOF
		} else {
			lr.done = true
			return Line{}, &Error{File: lr.opts.File, Line: lr.no + 1, Rule: RuleRead, Msg: "reading input failed", Severity: SeverityFile, Err: err}
		}
	}
	lr.no++
	if tooLong {
		return Line{No: lr.no, TooLong: true}, nil
	}
	// Split off the terminator: \n, and one \r before it (or at the very
	// end of a last line without \n, as before).
	eol := ""
	if n := len(raw); n > 0 && raw[n-1] == '\n' {
		eol, raw = "\n", raw[:n-1]
	}
	if n := len(raw); n > 0 && raw[n-1] == '\r' {
		eol, raw = "\r"+eol, raw[:n-1]
	}
	orig := raw
	if lr.no == 1 {
		raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	}
	text, err := lr.decode(raw)
	if err != nil {
		lr.done = true
		return Line{}, err
	}
	return Line{No: lr.no, Text: text, Blank: isBlank(raw), Raw: orig, EOL: eol}, nil
}

// readRaw returns one line including its \n. A line longer than the buffer
// is consumed to its end and reported as tooLong so memory stays bounded.
func (lr *LineReader) readRaw() ([]byte, bool, error) {
	line, err := lr.br.ReadSlice('\n')
	if err == nil || !errors.Is(err, bufio.ErrBufferFull) {
		if len(line) > lr.opts.MaxLineBytes+lenTerminator(line) {
			return nil, true, err
		}
		return line, false, err
	}
	for errors.Is(err, bufio.ErrBufferFull) {
		_, err = lr.br.ReadSlice('\n')
	}
	return nil, true, err
}

func lenTerminator(b []byte) int {
	n := 0
	if len(b) > 0 && b[len(b)-1] == '\n' {
		n++
		if len(b) > 1 && b[len(b)-2] == '\r' {
			n++
		}
	}
	return n
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

func (lr *LineReader) decode(raw []byte) (string, error) {
	switch lr.enc {
	case EncodingWindows1252:
		return lr.decode1252(raw), nil
	case EncodingUTF8:
		ascii := isASCII(raw)
		if ascii || utf8.Valid(raw) {
			if !ascii {
				lr.nonASCII = true
			}
			return string(raw), nil
		}
		if lr.fixed {
			return "", &Error{File: lr.opts.File, Line: lr.no, Rule: RuleEncoding, Msg: "line is not valid UTF-8", Severity: SeverityFile}
		}
		if lr.nonASCII {
			// Earlier lines were decoded as UTF-8 and have been handed out;
			// a file mixing both encodings cannot be decoded consistently.
			return "", &Error{File: lr.opts.File, Line: lr.no, Rule: RuleEncoding, Msg: "invalid UTF-8 after earlier non-ASCII UTF-8 lines: mixed encodings", Severity: SeverityFile}
		}
		// Everything so far was ASCII, which decodes the same in both, so
		// switching the whole file to Windows-1252 here is consistent.
		lr.enc = EncodingWindows1252
		return lr.decode1252(raw), nil
	}
	return "", &Error{File: lr.opts.File, Line: lr.no, Rule: RuleConfig, Msg: "unsupported encoding " + Quote(string(lr.enc)), Severity: SeverityFile}
}

func isASCII(b []byte) bool {
	// Eight bytes at a time: almost every ESR line is pure ASCII.
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func (lr *LineReader) decode1252(raw []byte) string {
	if isASCII(raw) {
		return string(raw)
	}
	buf := lr.decodeBuf[:0]
	for _, c := range raw {
		if c < 0x80 {
			buf = append(buf, c)
			continue
		}
		buf = utf8.AppendRune(buf, DecodeWindows1252Byte(c))
	}
	lr.decodeBuf = buf
	return string(buf)
}

// cp1252 maps 0x80–0x9F; the rest of the high half equals Latin-1. Undefined
// bytes map to the C1 control of the same value, as the WHATWG decoder does.
var cp1252 = [32]rune{
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
}

// DecodeWindows1252Byte returns the rune for one Windows-1252 byte.
func DecodeWindows1252Byte(c byte) rune {
	if c >= 0x80 && c < 0xA0 {
		return cp1252[c-0x80]
	}
	return rune(c)
}
