// Package formattest holds the test helpers the dialect packages' tests
// share: reading a whole file, asserting error locations, the invariants the
// fuzz targets check on every input, and the benchmark loop. Only tests
// import it.
package formattest

import (
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/esrflow/esrflow/esr/format"
)

// RowReader is what every dialect reader offers.
type RowReader interface {
	Next() (format.Row, error)
	Summary() format.Summary
}

// ReadAll reads every row of the reader a NewReader call returned, so it can
// wrap that call directly: ReadAll(gov2.NewReader(...)). The error is the
// NewReader error, or the terminal one from Next (nil for io.EOF).
func ReadAll[R RowReader](r R, err error) (R, []format.Row, error) {
	if err != nil {
		var none R
		return none, nil, err
	}
	var rows []format.Row
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			return r, rows, nil
		}
		if err != nil {
			return r, rows, err
		}
		rows = append(rows, row)
	}
}

// Want is an expected problem location.
type Want struct {
	Line       int
	RecordType string
	Column     int
	Field      string
	Rule       string
}

// RequireFileError asserts err is a *format.FileError at w and returns its
// *format.Error.
func RequireFileError(t *testing.T, err error, w Want) *format.Error {
	t.Helper()
	require.Error(t, err)
	var fe *format.FileError
	require.True(t, errors.As(err, &fe), "want *format.FileError, got %T: %v", err, err)
	var e *format.Error
	require.True(t, errors.As(err, &e))
	require.Equal(t, format.SeverityFile, e.Severity)
	require.Equal(t, w, Want{e.Line, e.RecordType, e.Column, e.Field, e.Rule}, "error: %v", err)
	return e
}

// RequireProblem asserts p is a row problem of file at w.
func RequireProblem(t *testing.T, p *format.Error, file string, w Want) {
	t.Helper()
	require.Equal(t, file, p.File)
	require.Equal(t, format.SeverityRow, p.Severity)
	require.Equal(t, w, Want{p.Line, p.RecordType, p.Column, p.Field, p.Rule}, "problem: %v", p)
}

// CheckFileError fails unless err is a *format.FileError with a rule.
func CheckFileError(t *testing.T, err error) {
	t.Helper()
	var fe *format.FileError
	if !errors.As(err, &fe) || fe.Problem == nil || fe.Problem.Rule == "" || fe.Problem.Severity != format.SeverityFile {
		t.Fatalf("want *format.FileError with a rule, got %T %v", err, err)
	}
}

// CheckStream reads r to the end and checks what a fuzz target asserts on
// any input: the terminal error is io.EOF or a *format.FileError and is
// sticky; line numbers increase; every problem is a well-formed row problem
// of file on its row's line; a row without problems decodes (decode); the
// summary counts what was returned.
func CheckStream(t *testing.T, r RowReader, file string, decode func(format.Row) error) {
	t.Helper()
	last, rows, bad := 1, 0, 0
	for {
		row, err := r.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				CheckFileError(t, err)
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
			if p == nil || p.Rule == "" || p.Severity != format.SeverityRow || p.Line != row.Line || p.File != file {
				t.Fatalf("malformed problem %#v", p)
			}
		}
		if len(row.Problems) > 0 {
			bad++
			continue
		}
		// A clean row always decodes.
		if err := decode(row); err != nil {
			t.Fatalf("clean row failed to decode: %v", err)
		}
	}
	if s := r.Summary(); s.Rows != rows || s.RowsWithProblems != bad {
		t.Fatalf("summary %d/%d, saw %d/%d", s.Rows, s.RowsWithProblems, rows, bad)
	}
}

// Drain reads r to io.EOF and returns the number of rows; any error or row
// problem fails t.
func Drain(t testing.TB, r RowReader) int {
	n := 0
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(row.Problems) > 0 {
			t.Fatalf("line %d: %v", row.Line, row.Problems[0])
		}
		n++
	}
}

// AllocsPerRow is the average number of allocations per row of reading a
// clean file of rows rows that open returns.
func AllocsPerRow[R RowReader](t *testing.T, rows int, open func() (R, error)) float64 {
	t.Helper()
	allocs := testing.AllocsPerRun(3, func() {
		r, err := open()
		require.NoError(t, err)
		Drain(t, r)
	})
	return allocs / float64(rows)
}

// Bench reads the clean file of rows rows that open returns, b.N times,
// and reports rows/s. Call b.SetBytes first.
func Bench[R RowReader](b *testing.B, rows int, open func() (R, error)) {
	b.ReportAllocs()
	for b.Loop() {
		r, err := open()
		if err != nil {
			b.Fatal(err)
		}
		if n := Drain(b, r); n != rows {
			b.Fatalf("%d rows", n)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
