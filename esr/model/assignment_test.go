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
