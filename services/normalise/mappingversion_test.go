package normalise_test

import (
	"regexp"
	"testing"

	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/services/normalise"
)

// TestMappingVersion: the same tenant settings give the same version
// whatever the map order or tenant code; a changed mapping setting or
// another dialect gives another.
func TestMappingVersion(t *testing.T) {
	base := tenant.Tenant{Code: "RXX", Mapping: tenant.Mapping{
		IgnoreRecordTypes: []string{"COA"},
		StaffGroupAliases: map[string]string{"Nursing": "Nursing and Midwifery Registered", "AHP": "Allied Health Professionals"},
	}}
	v := normalise.MappingVersion(base, "go-v2")
	if !regexp.MustCompile(`^mp-[0-9a-f]{12}$`).MatchString(v) {
		t.Fatalf("version %q, want mp-<12 hex>", v)
	}
	same := tenant.Tenant{Code: "RYY", Mapping: tenant.Mapping{
		IgnoreRecordTypes: []string{"COA"},
		StaffGroupAliases: map[string]string{"AHP": "Allied Health Professionals", "Nursing": "Nursing and Midwifery Registered"},
	}}
	if got := normalise.MappingVersion(same, "go-v2"); got != v {
		t.Errorf("same settings: %q, want %q", got, v)
	}
	alias := base
	alias.Mapping.StaffGroupAliases = map[string]string{"Nursing": "Nursing and Midwifery Registered", "AHP": "Add Prof Scientific and Technic"}
	ignore := base
	ignore.Mapping.IgnoreRecordTypes = []string{"COA", "LCA"}
	seen := map[string]string{v: "base"}
	for name, got := range map[string]string{
		"staff_group_aliases changed": normalise.MappingVersion(alias, "go-v2"),
		"ignore_record_types changed": normalise.MappingVersion(ignore, "go-v2"),
		"another dialect":             normalise.MappingVersion(base, "go-v1"),
		"no settings":                 normalise.MappingVersion(tenant.Tenant{Code: "RXX"}, "go-v2"),
	} {
		if prev, dup := seen[got]; dup {
			t.Errorf("%s: version %q, the same as %s", name, got, prev)
		}
		seen[got] = name
	}
}
