package gov2_test

import (
	"errors"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/gov2"
)

// linesReader streams a GO v2 file: the header, n copies of row, the
// trailer, without holding the file.
type linesReader struct {
	parts []string // header, row, trailer
	n, i  int
	cur   string
	bytes int64
}

func newLines(row string, n int) *linesReader {
	return &linesReader{parts: []string{testHeader(testName) + "\n", row + "\n", "TRL~" + strconv.Itoa(n+2) + "\n"}, n: n}
}

func (l *linesReader) Read(p []byte) (int, error) {
	for l.cur == "" {
		switch {
		case l.i == 0:
			l.cur = l.parts[0]
		case l.i <= l.n:
			l.cur = l.parts[1]
		case l.i == l.n+1:
			l.cur = l.parts[2]
		default:
			return 0, io.EOF
		}
		l.i++
	}
	k := copy(p, l.cur)
	l.cur = l.cur[k:]
	l.bytes += int64(k)
	return k, nil
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// A 48 MB file of very wide rows (60,000 columns each, under the line
// limit): every row keeps at most format.DefaultMaxColumns fields and says
// so (column-count), so the rows a consumer holds at once (a batch of 100
// here) cost at most the per-row bound each, whatever the row width.
func TestWideRowsMemoryBoundedPerRow(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 48 MB")
	}
	const width = 60_000
	row := "ASA~1" + strings.Repeat("~", width-1)
	n := (48 << 20) / (len(row) + 1)
	in := newLines(row, n)
	r, err := gov2.NewReader(testName, in, opts())
	require.NoError(t, err)

	const held = 100
	batch := make([]format.Row, held)
	base := heapInUse()
	rows := 0
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		require.LessOrEqual(t, len(row.Fields), format.DefaultMaxColumns, "line %d", row.Line)
		require.True(t, hasRule(row, format.RuleColumnCount), "line %d: %v", row.Line, row.Problems)
		batch[rows%held] = row
		rows++
	}
	grown := int64(heapInUse()) - int64(base)
	runtime.KeepAlive(batch)
	require.Equal(t, n, rows)
	require.Greater(t, in.bytes, int64(48<<20)-int64(len(row)))
	// Per row: its line's text, MaxColumns string headers, its problem.
	perRow := int64(format.DefaultMaxLineBytes + format.DefaultMaxColumns*16 + 4<<10)
	require.Less(t, grown, held*perRow, "holding %d rows grew the heap by %d bytes (%d per row)", held, grown, grown/held)
}

// One 48 MB line: skipped as line-too-long while reading allocates a small,
// fixed amount, never the line.
func TestHugeLineAllocatesNoMoreThanTheLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 48 MB")
	}
	in := newLines("ASA~"+strings.Repeat("x~", 24<<20), 1)
	r, err := gov2.NewReader(testName, in, opts())
	require.NoError(t, err)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	row, err := r.Next()
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	require.True(t, hasRule(row, format.RuleLineTooLong), "%v", row.Problems)
	require.Empty(t, row.Fields)
	_, err = r.Next()
	require.ErrorIs(t, err, io.EOF)
	allocated := after.TotalAlloc - before.TotalAlloc
	require.Less(t, allocated, uint64(format.DefaultMaxLineBytes), "reading a 48 MB line allocated %d bytes", allocated)
}

func hasRule(r format.Row, rule string) bool {
	for _, p := range r.Problems {
		if p.Rule == rule {
			return true
		}
	}
	return false
}
