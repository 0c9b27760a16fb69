package gov2_test

import (
	"errors"
	"io"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/esrflow/esrflow/esr/format/gov2"
	"github.com/esrflow/esrflow/esr/format/internal/formattest"
)

// genReader synthesises a GO v2 file of n data rows on the fly, so tests and
// benchmarks can stream far more data than they hold in memory.
type genReader struct {
	n, i  int
	buf   []byte
	off   int
	phase int // 0 header, 1 rows, 2 trailer, 3 done
	bytes int64
}

var genRows = []string{rowPRA, rowASA, rowPHA, rowLCA, "ASD~41000876"}

func newGen(n int) *genReader { return &genReader{n: n, buf: make([]byte, 0, 4096)} }

func (g *genReader) Read(p []byte) (int, error) {
	if g.off == len(g.buf) {
		g.buf, g.off = g.buf[:0], 0
		for len(g.buf) < len(p) && g.phase < 3 {
			switch g.phase {
			case 0:
				g.buf = append(g.buf, testHeader(testName)+"\n"...)
				g.phase = 1
			case 1:
				if g.i == g.n {
					g.phase = 2
					continue
				}
				g.buf = append(g.buf, genRows[g.i%len(genRows)]...)
				g.buf = append(g.buf, '\n')
				g.i++
			case 2:
				g.buf = append(g.buf, "TRL~"+strconv.Itoa(g.n+2)+"\n"...)
				g.phase = 3
			}
		}
		if len(g.buf) == 0 {
			return 0, io.EOF
		}
	}
	n := copy(p, g.buf[g.off:])
	g.off += n
	g.bytes += int64(n)
	return n, nil
}

// TestMemoryFlat streams ~50 MB and checks the heap in use stays under a
// fixed bound: the reader must not accumulate rows or lines.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 50 MB")
	}
	const rows = 320_000 // ≈ 55 MB with this row mix
	g := newGen(rows)
	r, err := gov2.NewReader(testName, g, opts())
	require.NoError(t, err)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	peak := base
	n := 0
	for {
		_, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		n++
		if n%20_000 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	require.Equal(t, rows, n)
	require.Greater(t, g.bytes, int64(50<<20), "stream is at least 50 MB")
	const bound = 4 << 20
	require.Less(t, peak-base, uint64(bound), "heap grew by %d bytes over %d MB", peak-base, g.bytes>>20)
}

func TestAllocsPerRow(t *testing.T) {
	const rows = 5_000
	for _, reuse := range []bool{false, true} {
		o := opts()
		o.ReuseRecord = reuse
		perRow := formattest.AllocsPerRow(t, rows, func() (*gov2.Reader, error) {
			return gov2.NewReader(testName, newGen(rows), o)
		})
		t.Logf("reuse=%v: %.2f allocs/row", reuse, perRow)
		// One string per line, plus the fields slice unless reused. The
		// per-file setup (bufio buffer, header) is amortised.
		limit := 2.2
		if reuse {
			limit = 1.2
		}
		require.LessOrEqual(t, perRow, limit)
	}
}

func BenchmarkGOv2(b *testing.B) {
	for _, reuse := range []bool{false, true} {
		name := "alloc"
		if reuse {
			name = "reuse"
		}
		b.Run(name, func(b *testing.B) {
			const rows = 50_000
			g := newGen(rows)
			data, err := io.ReadAll(g)
			if err != nil {
				b.Fatal(err)
			}
			o := opts()
			o.ReuseRecord = reuse
			b.SetBytes(int64(len(data)))
			formattest.Bench(b, rows, func() (*gov2.Reader, error) {
				return gov2.NewReader(testName, &sliceReader{b: data}, o)
			})
		})
	}
}

// sliceReader avoids bytes.Reader's WriteTo fast path so the benchmark
// exercises the same buffered path as a file.
type sliceReader struct{ b []byte }

func (s *sliceReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}
