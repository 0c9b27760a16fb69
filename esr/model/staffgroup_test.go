package model_test

import (
	"testing"

	"github.com/esrflow/esrflow/esr/model"
)

func TestStaffGroupCode(t *testing.T) {
	tests := []struct {
		name, code string
		ok         bool
	}{
		{"Medical and Dental", "01", true},
		{"Nursing and Midwifery Registered", "03", true},
		{"  nursing and  midwifery registered ", "03", true},
		{"Additional Professional Scientific and Technical", "05", true},
		{"Supplementary Roles", "10", true},
		{"Nursing", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		code, ok := model.StaffGroupCode(tt.name)
		if code != tt.code || ok != tt.ok {
			t.Errorf("StaffGroupCode(%q) = %q, %v", tt.name, code, ok)
		}
	}
}

func TestStaffGroupName(t *testing.T) {
	tests := []struct {
		code, name string
		ok         bool
	}{
		{"03", "Nursing and Midwifery Registered", true},
		{"3", "Nursing and Midwifery Registered", true},
		{"10", "Supplementary Roles", true},
		{"11", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		name, ok := model.StaffGroupName(tt.code)
		if name != tt.name || ok != tt.ok {
			t.Errorf("StaffGroupName(%q) = %q, %v", tt.code, name, ok)
		}
	}
}

// Every group must round-trip name -> code -> name, and codes must be unique.
func TestStaffGroupsRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for _, g := range model.StaffGroups() {
		if seen[g.Code] {
			t.Errorf("duplicate code %s", g.Code)
		}
		seen[g.Code] = true
		code, ok := model.StaffGroupCode(g.Name)
		name, ok2 := model.StaffGroupName(code)
		if !ok || !ok2 || code != g.Code || name != g.Name {
			t.Errorf("%+v does not round-trip: %q %q", g, code, name)
		}
	}
}
