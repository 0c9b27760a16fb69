package gov2_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/gov2"
	"github.com/esrflow/esrflow/esr/format/internal/formattest"
)

const testName = "GO_412_EXP_GOC_20240311_00000347.DAT"

func testHeader(name string) string {
	return "HDR~" + name + "~20240311 021544~412~20240310 000000~20240311 000000~01"
}

// fixedNow is the day after the fixtures' run date.
func fixedNow() time.Time { return time.Date(2024, 3, 11, 12, 0, 0, 0, format.London()) }

func opts() gov2.Options { return gov2.Options{Now: fixedNow} }

// wrap puts body lines between a valid header and a trailer with the right count.
func wrap(body ...string) string {
	lines := append([]string{testHeader(testName)}, body...)
	n := 1
	for _, l := range body {
		if strings.TrimSpace(l) != "" {
			n++
		}
	}
	lines = append(lines, fmt.Sprintf("TRL~%d", n+1))
	return strings.Join(lines, "\n") + "\n"
}

// readAll reads every row, returning rows and the terminal error.
func readAll(t *testing.T, name, content string, o gov2.Options) (*gov2.Reader, []format.Row, error) {
	t.Helper()
	return formattest.ReadAll(gov2.NewReader(name, strings.NewReader(content), o))
}

// want is an expected problem location.
type want = formattest.Want

var (
	requireFileError = formattest.RequireFileError
	requireProblem   = formattest.RequireProblem
)

// Synthetic rows (invented data, ESR-FORMATS §2.5).
const (
	rowLCA = "LCA~905512~412 z 0231 Ward 7 Admin~Ward 7 Admin~~Riverside Wing~Hospital Lane~~Northtown~Northshire~NT4 2QX~United Kingdom~01632 960111~~Yes~RXX01~~~~~~20240308 173102"
	rowPRA = "PRA~20990417~20240311~~31004581~Ms.~Okafor~Adaeze~Ngozi~~Ada~~F~19880214~JT482913C~4017723~20240311~~~~~~~~~~~~~700011223344~~~~EMP~Employee~adaeze.okafor@example.nhs.uk~20160905~~20240309 101455~N~~British~~"
	rowASA = "ASA~20990417~41877120~20240311~~20240311~E~31004581~ACTIVE_ASSIGN~Active Assignment~~412 Monthly~Calendar Month~905512~N~20110032~41000219~30977120~~FT~Permanent~Yes~37.5~Week~37.5~1~~7730112~8812045~5102277|Staff Nurse|N6A|Cardiology|~NHS|XR05|Review Body Band 5~XR05|3~20240311~29970~Nursing and Midwifery Registered|Staff Nurse~412 z 0231 Ward 7|Standard User||~GTA||~No~~~~20250311~~~20240309 101455~~~N~~"
	rowPHA = "PHA~20990417~50112093~M~07700 900417~20240311~~20240309 101455"
)

// setCol replaces column i of a ~-delimited row.
func setCol(row string, i int, v string) string {
	f := strings.Split(row, "~")
	f[i] = v
	return strings.Join(f, "~")
}
