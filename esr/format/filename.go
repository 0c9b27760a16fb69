package format

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Dialect is an ESR file dialect.
type Dialect string

const (
	DialectGOv2 Dialect = "gov2"
	DialectGOv1 Dialect = "gov1"
)

// DialectOf is the dialect a pipeline record's file.dialect names: ingest
// writes "go-v2" and "go-v1", and the parser's own spellings ("gov2",
// "gov1") are accepted too, so the two cannot drift apart silently. Any
// other name (a CSV list's "csv:<list>") gives "".
func DialectOf(name string) Dialect {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "go-v2", string(DialectGOv2):
		return DialectGOv2
	case "go-v1", string(DialectGOv1):
		return DialectGOv1
	}
	return ""
}

// Kind of extract.
type ExtractKind string

const (
	ExtractFull   ExtractKind = "full"
	ExtractChange ExtractKind = "change"
)

// FileName is a parsed ESR file name.
type FileName struct {
	Name     string      // the name as given (base name)
	VPD      string      // trust VPD, kept as a string to preserve zeros
	SubFile  string      // e.g. "EXP" (v2), "ASG" (v1)
	Kind     ExtractKind // full or change
	KindCode string      // the raw token: "F"/"C" (v2) or e.g. "Full" (v1)
	Date     time.Time   // extract date, midnight UTC
	Sequence int64       // the 8-digit sequence number
	Dialect  Dialect
}

// ErrFileName is the cause of every ParseFileName failure.
var ErrFileName = errors.New("file name does not match the ESR grammar")

// ParseFileName parses a GO file name:
//
//	v2: GO_<VPD 3-4 digits>_<SUB 3 letters>_GO{F|C}_<YYYYMMDD>_<seq 8 digits>.DAT
//	v1: GO_<VPD>_<SUB>_<YYYYMMDD>_<Full|other letters>_<seq 8 digits>.DAT
//
// Any directory part must be stripped by the caller. The grammar is strict
// (upper-case .DAT, exact digit counts): a name that does not fit is the
// first sign of a file from the wrong place.
func ParseFileName(name string) (FileName, error) {
	fail := func(why string) (FileName, error) {
		return FileName{}, fmtErr(why)
	}
	base, ok := strings.CutSuffix(name, ".DAT")
	if !ok {
		return fail("extension is not .DAT")
	}
	parts := strings.Split(base, "_")
	if len(parts) != 6 || parts[0] != "GO" {
		return fail("want GO_<VPD>_<SUB>_… with 6 parts")
	}
	fn := FileName{Name: name, VPD: parts[1], SubFile: parts[2]}
	if n := len(fn.VPD); (n != 3 && n != 4) || !allDigits(fn.VPD) {
		return fail("VPD is not 3-4 digits")
	}
	if len(fn.SubFile) != 3 || !allUpper(fn.SubFile) {
		return fail("sub-file is not 3 capital letters")
	}
	var dateTok, seqTok string
	switch {
	case len(parts[3]) == 3 && strings.HasPrefix(parts[3], "GO"):
		fn.Dialect = DialectGOv2
		fn.KindCode = parts[3][2:]
		switch fn.KindCode {
		case "F":
			fn.Kind = ExtractFull
		case "C":
			fn.Kind = ExtractChange
		default:
			return fail("extract type is not GOF or GOC")
		}
		dateTok, seqTok = parts[4], parts[5]
	case len(parts[3]) == 8:
		fn.Dialect = DialectGOv1
		dateTok, fn.KindCode, seqTok = parts[3], parts[4], parts[5]
		if fn.KindCode == "" || !allLetters(fn.KindCode) {
			return fail("v1 extract type is not a word")
		}
		fn.Kind = ExtractChange
		if strings.EqualFold(fn.KindCode, "Full") {
			fn.Kind = ExtractFull
		}
	default:
		return fail("neither GO{F|C} (v2) nor a date (v1) after the sub-file")
	}
	d, err := ParseDate(dateTok)
	if err != nil || d.IsZero() {
		return fail("date is not a valid YYYYMMDD")
	}
	fn.Date = d
	if len(seqTok) != 8 || !allDigits(seqTok) {
		return fail("sequence is not 8 digits")
	}
	fn.Sequence, _ = strconv.ParseInt(seqTok, 10, 64)
	return fn, nil
}

type fileNameError string

func (e fileNameError) Error() string { return ErrFileName.Error() + ": " + string(e) }
func (e fileNameError) Unwrap() error { return ErrFileName }

func fmtErr(why string) error { return fileNameError(why) }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func allUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return s != ""
}

func allLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}
