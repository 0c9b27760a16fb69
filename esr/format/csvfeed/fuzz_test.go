package csvfeed_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/csvfeed"
)

func FuzzCSVFeed(f *testing.F) {
	f.Add([]byte(staffCSV))
	f.Add([]byte("Employee Number,Person ID,Last Name,Hire Date,FTE,Primary\n1,2,\"a\nb\",01/01/2024,1,Y\n\"x"))
	f.Add([]byte("Employee Number,Person ID,Last Name,Hire Date,FTE,Primary,FTE\n"))
	feed, err := csvfeed.Compile(slashFeed)
	if err != nil {
		f.Fatal(err)
	}
	const name = "StaffList_412_20240311.csv"
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := csvfeed.NewReader(name, bytes.NewReader(data), feed, csvfeed.Options{MaxLineBytes: 512})
		if err != nil {
			var fe *format.FileError
			if !errors.As(err, &fe) || fe.Problem.Rule == "" {
				t.Fatalf("want *format.FileError, got %T %v", err, err)
			}
			return
		}
		last := 1
		for {
			row, err := r.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					var fe *format.FileError
					if !errors.As(err, &fe) || fe.Problem.Rule == "" {
						t.Fatalf("want *format.FileError, got %T %v", err, err)
					}
				}
				break
			}
			if row.Line <= last {
				t.Fatalf("line numbers not increasing: %d after %d", row.Line, last)
			}
			last = row.Line
			for _, p := range row.Problems {
				if p == nil || p.Rule == "" || p.Severity != format.SeverityRow || p.Line != row.Line {
					t.Fatalf("malformed problem %#v", p)
				}
			}
			if len(row.Problems) == 0 {
				if len(row.Fields) != len(feed.Fields()) {
					t.Fatalf("row has %d fields, feed maps %d", len(row.Fields), len(feed.Fields()))
				}
				if _, err := feed.Decode(row); err != nil {
					t.Fatalf("clean row failed to decode: %v", err)
				}
			}
		}
	})
}

func BenchmarkCSVFeed(b *testing.B) {
	feed, err := csvfeed.Compile(slashFeed)
	require.NoError(b, err)
	const rows = 50_000
	var buf bytes.Buffer
	buf.WriteString(strings.SplitAfter(staffCSV, "\n")[0])
	body := strings.SplitAfter(staffCSV, "\n")[1:3]
	for i := 0; i < rows; i++ {
		buf.WriteString(body[i%2])
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := csvfeed.NewReader("StaffList_412_20240311.csv", bytes.NewReader(data), feed, csvfeed.Options{})
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
