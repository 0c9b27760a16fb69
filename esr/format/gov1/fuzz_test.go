package gov1_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/gov1"
	"github.com/esrflow/esrflow/esr/format/internal/formattest"
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
			formattest.CheckFileError(t, err)
			return
		}
		formattest.CheckStream(t, r, testName, func(row format.Row) error {
			_, err := gov1.Decode(row)
			return err
		})
	})
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
	perRow := formattest.AllocsPerRow(t, rows, func() (*gov1.Reader, error) {
		return gov1.NewReader(testName, bytes.NewReader(data), opts())
	})
	t.Logf("%.2f allocs/row", perRow)
	require.LessOrEqual(t, perRow, 2.2)
}

func BenchmarkGOv1(b *testing.B) {
	const rows = 50_000
	data := genFile(rows)
	b.SetBytes(int64(len(data)))
	formattest.Bench(b, rows, func() (*gov1.Reader, error) {
		return gov1.NewReader(testName, bytes.NewReader(data), opts())
	})
}
