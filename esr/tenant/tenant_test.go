package tenant

import (
	"flag"
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

func TestGuardAndFeeds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tenants.yaml")
	yaml := "tenants:\n  - code: RXX\n    vpds: [\"412\"]\n    leaver_guard: {max_leavers: 10, max_percent: 20, min_leavers: 3}\n    feeds:\n      go: {missing: leave}\n  - code: RYY\n    vpds: [\"413\"]\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	rxx, _ := s.Get("RXX")
	ryy, _ := s.Get("RYY")
	if got := rxx.Missing("go-v2"); got != MissingLeave {
		t.Errorf("RXX go missing = %q", got)
	}
	if got, got2 := ryy.Missing("go-v2"), ryy.Missing("csv"); got != MissingIgnore || got2 != MissingLeave {
		t.Errorf("RYY defaults = %q, %q", got, got2)
	}
	if ryy.Guard() != DefaultGuard {
		t.Errorf("RYY guard = %+v", ryy.Guard())
	}
	g := rxx.Guard()
	for _, tt := range []struct {
		leavers, active int
		trips           bool
	}{
		{0, 0, false},
		{2, 5, false},   // under min_leavers: percentage not applied
		{3, 100, false}, // 3 % of 100
		{3, 10, true},   // 30 % of 10
		{10, 1000, false},
		{11, 1000, true}, // over the count
	} {
		if got := g.Trips(tt.leavers, tt.active); (got != "") != tt.trips {
			t.Errorf("Trips(%d, %d) = %q, want tripped=%v", tt.leavers, tt.active, got, tt.trips)
		}
	}
	if (Guard{MaxLeavers: 1, Disabled: true}).Trips(50, 50) != "" {
		t.Error("a disabled guard tripped")
	}
	for _, bad := range []string{
		"tenants:\n  - code: RXX\n    vpds: [\"412\"]\n    feeds:\n      go: {missing: delete}\n",
		"tenants:\n  - code: RXX\n    vpds: [\"412\"]\n    leaver_guard: {max_percent: 120}\n",
	} {
		if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestFlags(t *testing.T) {
	var f Flags
	fs := flag.NewFlagSet("svc", flag.ContinueOnError)
	f.Register(fs, "test")
	if err := fs.Parse([]string{"--tenants", "RXX=412,RYY=413+414"}); err != nil {
		t.Fatal(err)
	}
	s, err := f.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Codes(); len(got) != 2 || got[0] != "RXX" || got[1] != "RYY" {
		t.Fatalf("codes = %v", got)
	}
	if err := fs.Parse([]string{"--tenants.file", filepath.Join(t.TempDir(), "missing.yaml")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Load(); err == nil {
		t.Fatal("a missing tenants file was accepted (the file wins over --tenants)")
	}
}
