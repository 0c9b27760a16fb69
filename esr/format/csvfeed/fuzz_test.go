package csvfeed_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/csvfeed"
	"github.com/esrflow/esrflow/esr/format/internal/formattest"
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
			formattest.CheckFileError(t, err)
			return
		}
		formattest.CheckStream(t, r, name, func(row format.Row) error {
			if len(row.Fields) != len(feed.Fields()) {
				return fmt.Errorf("row has %d fields, feed maps %d", len(row.Fields), len(feed.Fields()))
			}
			_, err := feed.Decode(row)
			return err
		})
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
	formattest.Bench(b, rows, func() (*csvfeed.Reader, error) {
		return csvfeed.NewReader("StaffList_412_20240311.csv", bytes.NewReader(data), feed, csvfeed.Options{})
	})
}
