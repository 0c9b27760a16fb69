package gov2_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/gov2"
)

func FuzzGOv2(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.DAT")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		// Every fixture is re-badged under the one name the target uses.
		f.Add(bytes.Replace(b, []byte(filepath.Base(p)), []byte(testName), 1))
	}
	f.Add([]byte(wrap(rowPRA, rowASA, rowPHA, "ASD~1", "XYZ~1")))
	f.Add([]byte("\xef\xbb\xbf" + wrap(rowLCA+"\r", "\xa3")))
	f.Add([]byte(testHeader(testName) + "\nTRL~2\nTRL~2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		o := gov2.Options{Now: fixedNow, MaxLineBytes: 1024, KeepVehicles: len(data)%2 == 0}
		r, err := gov2.NewReader(testName, bytes.NewReader(data), o)
		if err != nil {
			checkFileError(t, err)
			return
		}
		last, rows, bad := 1, 0, 0
		for {
			row, err := r.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					checkFileError(t, err)
				}
				if _, err2 := r.Next(); err2 != err {
					t.Fatalf("terminal error not sticky: %v then %v", err, err2)
				}
				break
			}
			rows++
			if row.Line <= last {
				t.Fatalf("line numbers not increasing: %d after %d", row.Line, last)
			}
			last = row.Line
			for _, p := range row.Problems {
				if p == nil || p.Rule == "" || p.Severity != format.SeverityRow || p.Line != row.Line || p.File != testName {
					t.Fatalf("malformed problem %#v", p)
				}
			}
			if len(row.Problems) > 0 {
				bad++
				continue
			}
			// A clean row always decodes.
			if _, err := gov2.Decode(row); err != nil {
				t.Fatalf("clean row failed to decode: %v", err)
			}
		}
		s := r.Summary()
		if s.Rows != rows || s.RowsWithProblems != bad {
			t.Fatalf("summary %d/%d, saw %d/%d", s.Rows, s.RowsWithProblems, rows, bad)
		}
	})
}

func checkFileError(t *testing.T, err error) {
	t.Helper()
	var fe *format.FileError
	if !errors.As(err, &fe) || fe.Problem == nil || fe.Problem.Rule == "" || fe.Problem.Severity != format.SeverityFile {
		t.Fatalf("want *format.FileError with a rule, got %T %v", err, err)
	}
}
