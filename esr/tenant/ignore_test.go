package tenant_test

import (
	"testing"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/tenant"
)

func TestIgnoresIn(t *testing.T) {
	base := tenant.Mapping{}
	poa := tenant.Mapping{IgnoreRecordTypes: []string{"poa"}}
	for _, tc := range []struct {
		m       tenant.Mapping
		dialect string
		typ     string
		want    bool
	}{
		// The segments the model does not keep, in either spelling of GO v2.
		{base, "go-v2", "PHA", true}, {base, "go-v2", "ADA", true}, {base, "go-v2", "VHA", true}, {base, "go-v2", "COA", true},
		{base, "gov2", "PHD", true}, {base, "go-v2", "ADD", true}, {base, "go-v2", "VHD", true}, {base, "go-v2", "COD", true},
		{base, "go-v2", "PRA", false}, {base, "go-v2", "ASD", false},
		// A tenant's own ignored types, whatever their case.
		{poa, "go-v2", "POA", true}, {poa, "go-v2", "PHA", true}, {poa, "go-v2", "ORA", false},
		// GO v1 and CSV lists map every record type; unknown types are
		// quarantined, never ignored, even when a tenant lists them.
		{poa, "go-v1", "POA", false}, {base, "go-v1", "PER", false}, {base, "csv:staff", "CSV-PER", false},
		{tenant.Mapping{IgnoreRecordTypes: []string{"XYZ"}}, "go-v2", "XYZ", false},
	} {
		if got := tc.m.IgnoresIn(tc.dialect, tc.typ); got != tc.want {
			t.Errorf("%v.IgnoresIn(%q, %q) = %v, want %v", tc.m.IgnoreRecordTypes, tc.dialect, tc.typ, got, tc.want)
		}
	}
}

func TestIgnoredRow(t *testing.T) {
	m := tenant.Mapping{}
	pha := format.Row{Line: 7, Type: "PHA", Fields: []string{"PHA", "20990417", "W1"}}
	if !m.IgnoredRow("go-v2", pha) {
		t.Error("a clean, keyed PHA is not ignored")
	}
	keyless := pha
	keyless.Fields = []string{"PHA", "", "W1"}
	if m.IgnoredRow("go-v2", keyless) {
		t.Error("a PHA without its person id is ignored: it must travel on to be quarantined")
	}
	broken := pha
	broken.Problems = []*format.Error{{Rule: format.RuleDate}}
	if m.IgnoredRow("go-v2", broken) {
		t.Error("a PHA with a parse problem is ignored: it must travel on to be quarantined")
	}
	if m.IgnoredRow("go-v2", format.Row{Line: 8, Type: "PRA", Fields: []string{"PRA", "20990417"}}) {
		t.Error("a PRA is ignored")
	}
}
