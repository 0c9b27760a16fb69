package gov2_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/gov2"
	"github.com/esrflow/esrflow/esr/format/internal/formattest"
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
			formattest.CheckFileError(t, err)
			return
		}
		formattest.CheckStream(t, r, testName, func(row format.Row) error {
			_, err := gov2.Decode(row)
			return err
		})
	})
}
