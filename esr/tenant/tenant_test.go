package tenant

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseShortForm(t *testing.T) {
	s, err := Parse("rxx=412, RYY=413+0414")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Codes(), ","); got != "RXX,RYY" {
		t.Fatalf("codes = %s", got)
	}
	ryy, ok := s.Get("ryy")
	if !ok || strings.Join(ryy.VPDs, "+") != "413+0414" {
		t.Fatalf("RYY = %+v, %v", ryy, ok)
	}
}

func TestRejectsBadConfig(t *testing.T) {
	for spec, want := range map[string]string{
		"RXX":             "want CODE=VPD",
		"R-X=412":         "ODS code",
		"RXX=41":          "3-4 digits",
		"RXX=412,RYY=412": "already belongs to tenant RXX",
		"RXX=412,rxx=413": "configured twice",
	} {
		if _, err := Parse(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want error containing %q", spec, err, want)
		}
	}
}

func TestLoadYAML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tenants.yaml")
	err := os.WriteFile(path, []byte("tenants:\n  - code: RXX\n    vpds: [\"412\"]\n    mapping:\n      ignore_record_types: [coa]\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	rxx, _ := s.Get("RXX")
	if !rxx.Mapping.Ignores("COA") || rxx.Mapping.Ignores("PHA") {
		t.Fatalf("mapping = %+v", rxx.Mapping)
	}
	if err := os.WriteFile(path, []byte("tenants:\n  - code: RXX\n    vpd: [\"412\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "vpd") {
		t.Fatalf("unknown field accepted: %v", err)
	}
}
