package model_test

import (
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/model"
)

func TestAssignmentIsActiveEmployee(t *testing.T) {
	base := model.Assignment{
		Type:           model.AssignmentTypeEmployee,
		Status:         model.StatusActiveAssign,
		EffectiveStart: model.Date(2024, 3, 11),
		EarliestStart:  model.Date(2024, 3, 11),
	}
	with := func(f func(*model.Assignment)) model.Assignment {
		a := base
		f(&a)
		return a
	}
	tests := []struct {
		name string
		a    model.Assignment
		on   time.Time
		want bool
	}{
		{"active on start day", base, model.Date(2024, 3, 11), true},
		{"future starter not yet active", base, model.Date(2024, 3, 10), false},
		{"suspended is still employed", with(func(a *model.Assignment) { a.Status = model.StatusSuspendAssign }), model.Date(2024, 6, 1), true},
		{"terminated", with(func(a *model.Assignment) { a.Status = model.StatusTermAssign }), model.Date(2024, 6, 1), false},
		{"applicant type with active status", with(func(a *model.Assignment) { a.Type = model.AssignmentTypeApplicant }), model.Date(2024, 6, 1), false},
		{"contingent worker", with(func(a *model.Assignment) { a.Type = model.AssignmentTypeContingent }), model.Date(2024, 6, 1), false},
		{"offer", with(func(a *model.Assignment) { a.Status = model.StatusOffer }), model.Date(2024, 6, 1), false},
		{"unknown status", with(func(a *model.Assignment) { a.Status = model.StatusUnknown }), model.Date(2024, 6, 1), false},
		{"later row keeps earliest start", with(func(a *model.Assignment) { a.EffectiveStart = model.Date(2024, 5, 1) }), model.Date(2024, 4, 1), true},
		{"falls back to effective start", with(func(a *model.Assignment) { a.EarliestStart = time.Time{} }), model.Date(2024, 3, 11), true},
		{"no start at all", with(func(a *model.Assignment) { a.EarliestStart, a.EffectiveStart = time.Time{}, time.Time{} }), model.Date(2024, 3, 11), false},
		{"on final end day", with(func(a *model.Assignment) { a.FinalAssignmentEndDate = model.Date(2024, 3, 29) }), model.Date(2024, 3, 29), true},
		{"after final end day", with(func(a *model.Assignment) { a.FinalAssignmentEndDate = model.Date(2024, 3, 29) }), model.Date(2024, 3, 30), false},
		{"after row end", with(func(a *model.Assignment) { a.EffectiveEnd = model.Date(2024, 3, 31) }), model.Date(2024, 4, 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.IsActiveEmployee(tt.on); got != tt.want {
				t.Errorf("IsActiveEmployee(%s) = %v, want %v", tt.on.Format(time.DateOnly), got, tt.want)
			}
		})
	}
}

func TestParsePositionName(t *testing.T) {
	tests := []struct {
		in     string
		want   model.PositionRef
		wantOK bool
	}{
		{"5102277|Staff Nurse|N6A|Cardiology|", model.PositionRef{Number: "5102277", Title: "Staff Nurse", OccupationCode: "N6A", Area: "Cardiology"}, true},
		{"5102277|Staff Nurse|N6A|Cardiology", model.PositionRef{Number: "5102277", Title: "Staff Nurse", OccupationCode: "N6A", Area: "Cardiology"}, true},
		{"5102277|Staff Nurse|N6A||", model.PositionRef{Number: "5102277", Title: "Staff Nurse", OccupationCode: "N6A"}, true},
		{"5102277|Staff Nurse", model.PositionRef{Number: "5102277", Title: "Staff Nurse"}, false},
		{"", model.PositionRef{}, false},
	}
	for _, tt := range tests {
		got, ok := model.ParsePositionName(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParsePositionName(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestParseGrade(t *testing.T) {
	tests := []struct {
		in     string
		want   model.Grade
		wantOK bool
	}{
		{"NHS|XR05|Review Body Band 5", model.Grade{Owner: "NHS", Code: "XR05", Description: "Review Body Band 5"}, true},
		{"NHS|XR05", model.Grade{Owner: "NHS", Code: "XR05"}, false},
		{"NHS|XR05|Band 5|extra", model.Grade{Owner: "NHS", Code: "XR05", Description: "Band 5"}, false},
		{"", model.Grade{}, false},
	}
	for _, tt := range tests {
		got, ok := model.ParseGrade(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseGrade(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestParseJobName(t *testing.T) {
	tests := []struct {
		in          string
		group, role string
		wantOK      bool
	}{
		{"Nursing and Midwifery Registered|Staff Nurse", "Nursing and Midwifery Registered", "Staff Nurse", true},
		{"Medical and Dental", "Medical and Dental", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		g, r, ok := model.ParseJobName(tt.in)
		if g != tt.group || r != tt.role || ok != tt.wantOK {
			t.Errorf("ParseJobName(%q) = %q, %q, %v", tt.in, g, r, ok)
		}
	}
}
