package model_test

import (
	"testing"

	"github.com/esrflow/esrflow/esr/model"
)

func TestParseAssignmentStatus(t *testing.T) {
	tests := []struct {
		in   string
		want model.AssignmentStatus
	}{
		{"ACTIVE_ASSIGN", model.StatusActiveAssign},
		{" susp_assign ", model.StatusSuspendAssign},
		{"TERM_ASSIGN", model.StatusTermAssign},
		{"ACTIVE_APL", model.StatusActiveApl},
		{"OFFER", model.StatusOffer},
		{"ACCEPTED", model.StatusAccepted},
		{"", model.StatusUnknown},
		{"Active Assignment", model.StatusUnknown}, // a user status, not a system one
		{"UNKNOWN", model.StatusUnknown},
	}
	for _, tt := range tests {
		if got := model.ParseAssignmentStatus(tt.in); got != tt.want {
			t.Errorf("ParseAssignmentStatus(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAssignmentStatusPredicates(t *testing.T) {
	tests := []struct {
		s                                         model.AssignmentStatus
		employee, applicant, terminated, employed bool
	}{
		{model.StatusActiveAssign, true, false, false, true},
		{model.StatusSuspendAssign, true, false, false, true},
		{model.StatusTermAssign, true, false, true, false},
		{model.StatusActiveApl, false, true, false, false},
		{model.StatusOffer, false, true, false, false},
		{model.StatusAccepted, false, true, false, false},
		{model.StatusUnknown, false, false, false, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.s), func(t *testing.T) {
			if got := tt.s.IsEmployee(); got != tt.employee {
				t.Errorf("IsEmployee = %v", got)
			}
			if got := tt.s.IsApplicant(); got != tt.applicant {
				t.Errorf("IsApplicant = %v", got)
			}
			if got := tt.s.IsTerminated(); got != tt.terminated {
				t.Errorf("IsTerminated = %v", got)
			}
			if got := tt.s.IsEmployed(); got != tt.employed {
				t.Errorf("IsEmployed = %v", got)
			}
		})
	}
}

func TestPersonTypePredicates(t *testing.T) {
	tests := []struct {
		t                       model.PersonType
		employee, ex, applicant bool
	}{
		{"EMP", true, false, false},
		{"emp", true, false, false},
		{"EX_EMP", false, true, false},
		{"APL", false, false, true},
		{"EMP_APL", true, false, true},
		{"EX_EMP_APL", false, true, true},
		{"CWK", false, false, false},
		{"", false, false, false},
		{"EMPLOYEE", false, false, false}, // user type text is not a system type
	}
	for _, tt := range tests {
		t.Run(string(tt.t), func(t *testing.T) {
			if got := tt.t.IsEmployee(); got != tt.employee {
				t.Errorf("IsEmployee = %v", got)
			}
			if got := tt.t.IsExEmployee(); got != tt.ex {
				t.Errorf("IsExEmployee = %v", got)
			}
			if got := tt.t.IsApplicant(); got != tt.applicant {
				t.Errorf("IsApplicant = %v", got)
			}
		})
	}
}
