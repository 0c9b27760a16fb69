package gov1_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/gov1"
)

func FuzzGOv1(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", testName))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(wrap(rowPER, `ASG,"x""y",",",`, "ABS,1")))
	f.Add([]byte("\xef\xbb\xbf" + strings.ReplaceAll(wrap(rowPER, `PER,"open`), "\n", "\r\n")))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := gov1.NewReader(testName, bytes.NewReader(data), gov1.Options{Now: fixedNow, MaxLineBytes: 1024})
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
					t.Fatalf("terminal error not sticky")
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
			if _, err := gov1.Decode(row); err != nil {
				t.Fatalf("clean row failed to decode: %v", err)
			}
		}
		if s := r.Summary(); s.Rows != rows || s.RowsWithProblems != bad {
			t.Fatalf("summary mismatch")
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

func genFile(rows int) []byte {
	var b bytes.Buffer
	b.WriteString("HDR," + testName + "\n")
	for i := 0; i < rows; i++ {
		if i%2 == 0 {
			b.WriteString(rowPER)
		} else {
			b.WriteString(rowASG)
		}
		b.WriteByte('\n')
	}
	b.WriteString("FTR," + testName + "," + strconv.Itoa(rows) + "\n")
	return b.Bytes()
}

func TestAllocsPerRow(t *testing.T) {
	const rows = 5_000
	data := genFile(rows)
	allocs := testing.AllocsPerRun(3, func() {
		r, err := gov1.NewReader(testName, bytes.NewReader(data), opts())
		require.NoError(t, err)
		for {
			_, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
		}
	})
	t.Logf("%.2f allocs/row", allocs/rows)
	require.LessOrEqual(t, allocs/rows, 2.2)
}

func BenchmarkGOv1(b *testing.B) {
	const rows = 50_000
	data := genFile(rows)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := gov1.NewReader(testName, bytes.NewReader(data), opts())
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			row, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil || len(row.Problems) > 0 {
				b.Fatal(err, row.Problems)
			}
			n++
		}
		if n != rows {
			b.Fatal(n)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
