package format

import "encoding/hex"

// Row is one data record as read from a file. A row with Problems is still
// returned, so the caller can quarantine it with its reasons; a row without
// problems is guaranteed to decode into its typed struct.
type Row struct {
	Line int    // 1-based physical line number
	Type string // record type, e.g. "ASA"; empty when it could not be read
	// Fields are the decoded, unquoted values, Fields[0] being the record
	// type (csvfeed: the mapped columns in mapping order). Special-category
	// values are already blanked unless the reader was told to keep them.
	// With Options.ReuseRecord the slice is reused by the next call to Next.
	Fields   []string
	Problems []*Error
	// RawSHA256 is the SHA-256 of the row's original bytes as they are in
	// the file: before charset decoding, without the line terminator (a
	// quoted CSV value spanning lines: its lines with the terminators
	// between them). Zero when not known (a line over the length limit).
	RawSHA256 [32]byte
}

// RawHash returns RawSHA256 as lower-case hex, or "" when it is not known.
func (r *Row) RawHash() string {
	if r.RawSHA256 == ([32]byte{}) {
		return ""
	}
	return hex.EncodeToString(r.RawSHA256[:])
}

// OK reports whether the row has no problems.
func (r *Row) OK() bool { return len(r.Problems) == 0 }

// Field returns Fields[i], or "" when the row is short.
func (r *Row) Field(i int) string {
	if i < 0 || i >= len(r.Fields) {
		return ""
	}
	return r.Fields[i]
}

// Summary is what a reader saw in a file; complete once Next returned io.EOF
// (or a *FileError).
type Summary struct {
	File     string
	Encoding Encoding // encoding the file was decoded with
	Lines    int      // physical lines read, blank ones included
	// Records counts the non-blank lines, header and trailer included (what
	// the GO v2 trailer counts).
	Records int
	// Rows is the number of data rows returned by Next.
	Rows             int
	RowsByType       map[string]int // data rows returned, by record type
	RowsWithProblems int
	TrailerCount     int // count declared by the trailer, when read
	// VehicleRowsDropped counts VHA/VHD rows discarded for PII minimisation.
	VehicleRowsDropped int
	// SpecialCategoryBlanked counts special-category values blanked.
	SpecialCategoryBlanked int
}
