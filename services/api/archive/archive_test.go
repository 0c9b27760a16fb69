package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/esrflow/esrflow/esr/format"
)

func hashOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.ReadSeeker
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) Seek(off int64, whence int) (int64, error) { return c.r.Seek(off, whence) }

// A window near the start of a large file reads only a little of it.
func TestReadStopsAfterTheWindow(t *testing.T) {
	var b bytes.Buffer
	for b.Len() < 8<<20 {
		b.WriteString("ASA~1~2~3~some text to make the line longer than a few bytes~20240311\n")
	}
	in := &countingReader{r: bytes.NewReader(b.Bytes())}
	w, err := Read(context.Background(), in, 2, 4, SplitterFor("go-v2", 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Lines) != 3 || w.Lines[0].No != 2 || w.Lines[2].No != 4 || w.EOF {
		t.Fatalf("window = %+v", w)
	}
	if in.n > 256<<10 {
		t.Errorf("read %d bytes of %d for lines 2-4", in.n, b.Len())
	}
}

// A file mixing UTF-8 and Windows-1252 (ingest rejects it) is shown
// decoded as Windows-1252 throughout rather than not at all.
func TestReadMixedEncodings(t *testing.T) {
	file := "PRA~1~Chlo\xc3\xa9\nPRA~2~Zo\xeb\n"
	w, err := Read(context.Background(), strings.NewReader(file), 1, 2, SplitterFor("go-v2", 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Lines) != 2 || w.Lines[1].Fields[1] != "Zoë" || w.Lines[0].Fields[1] != "ChloÃ©" || !w.EOF {
		t.Errorf("mixed = %+v", w)
	}
	if w.Lines[1].RawSHA256 != hashOf("PRA~2~Zo\xeb") {
		t.Errorf("raw hash = %s", w.Lines[1].RawSHA256)
	}
	// Windows-1252 from the first line: decoded like ingest does.
	w, err = Read(context.Background(), strings.NewReader("HDR~x\r\nPRA~2~\x93Jo\x94\r\n"), 2, 2, SplitterFor("go-v2", 0))
	if err != nil || len(w.Lines) != 1 || w.Lines[0].Fields[1] != "“Jo”" {
		t.Errorf("Windows-1252 = %+v, %v", w, err)
	}
}

// A line over the limit has no fields and no hash; the BOM of a first line
// is hashed (lineage hashes the bytes as they are) but not shown.
func TestReadLongLineAndBOM(t *testing.T) {
	file := "\xef\xbb\xbfHDR~x\nPRA~" + strings.Repeat("y", format.DefaultMaxLineBytes+10) + "\nTRL~3"
	w, err := Read(context.Background(), strings.NewReader(file), 1, 5, SplitterFor("go-v2", 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Lines) != 3 || !w.EOF {
		t.Fatalf("window = %d lines, EOF %v", len(w.Lines), w.EOF)
	}
	if l := w.Lines[0]; l.RecordType != "HDR" || l.RawSHA256 != hashOf("\xef\xbb\xbfHDR~x") {
		t.Errorf("BOM line = %+v", l)
	}
	if l := w.Lines[1]; !l.TooLong || l.RawSHA256 != "" || len(l.Fields) != 0 {
		t.Errorf("long line = %+v", l)
	}
	if l := w.Lines[2]; l.RecordType != "TRL" || l.RawSHA256 != hashOf("TRL~3") { // no final newline
		t.Errorf("last line = %+v", l)
	}
}

func TestSplitters(t *testing.T) {
	for _, c := range []struct {
		dialect string
		delim   byte
		line    string
		typ     string
		fields  []string
	}{
		{"go-v2", 0, `PRA~1~"Smith, J"~`, "PRA", []string{"1", `"Smith, J"`, ""}},
		{"go-v1", 0, `PER,1,"Smith, J",""""`, "PER", []string{"1", "Smith, J", `"`}},
		// Free text first: not a record code, so no column is named from it.
		{"go-v2", 0, "Okafor~1", "", []string{"Okafor", "1"}},
		{"csv:staff", ';', `Employee;"Last; Name"`, "", []string{"Employee", "Last; Name"}},
		{"csv:staff", 0, `a,b`, "", []string{"a", "b"}},
		{"", 0, "HDR~x", "", []string{"HDR~x"}},
	} {
		typ, fields := SplitterFor(c.dialect, c.delim)(c.line)
		if typ != c.typ || !slices.Equal(fields, c.fields) {
			t.Errorf("%s %q = %q %q, want %q %q", c.dialect, c.line, typ, fields, c.typ, c.fields)
		}
	}
	_, fields := SplitterFor("go-v2", 0)("PRA" + strings.Repeat("~x", 500))
	if len(fields) != format.DefaultMaxColumns-1 {
		t.Errorf("a wide line keeps %d fields, want %d", len(fields), format.DefaultMaxColumns-1)
	}
}

func TestOpen(t *testing.T) {
	root := t.TempDir()
	sha := hashOf("x")
	if err := os.MkdirAll(filepath.Join(root, "RXX"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "RXX", sha), []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	f, err := Open(root, "RXX", sha)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, c := range [][2]string{{"RYY", sha}, {"RXX", hashOf("y")}, {"..", sha}, {"RXX", "../RXX/" + sha[7:]}, {"RXX/..", sha}, {"", sha}} {
		if _, err := Open(root, c[0], c[1]); !errors.Is(err, ErrGone) {
			t.Errorf("Open(%q, %q) = %v, want ErrGone", c[0], c[1], err)
		}
	}
}
