package model_test

import (
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/model"
)

func TestCivilDate(t *testing.T) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	tests := []struct {
		name string
		in   time.Time
		want time.Time
	}{
		{"zero stays zero", time.Time{}, time.Time{}},
		{"utc midday", time.Date(2024, 3, 11, 12, 0, 0, 0, time.UTC), model.Date(2024, 3, 11)},
		// 23:30 UTC on 31 March 2024 is 00:30 BST on 1 April in London.
		{"london day differs from utc day", time.Date(2024, 3, 31, 23, 30, 0, 0, time.UTC).In(london), model.Date(2024, 4, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := model.CivilDate(tt.in)
			if !got.Equal(tt.want) || !model.IsCivilDate(got) {
				t.Errorf("CivilDate = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestIsCivilDate(t *testing.T) {
	tests := []struct {
		name string
		in   time.Time
		want bool
	}{
		{"zero", time.Time{}, true},
		{"midnight utc", model.Date(2024, 2, 29), true},
		{"time of day", time.Date(2024, 2, 29, 1, 0, 0, 0, time.UTC), false},
		{"other zone", time.Date(2024, 2, 29, 0, 0, 0, 0, time.FixedZone("BST", 3600)), false},
	}
	for _, tt := range tests {
		if got := model.IsCivilDate(tt.in); got != tt.want {
			t.Errorf("%s: IsCivilDate = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDaysBetween(t *testing.T) {
	tests := []struct {
		from, to time.Time
		want     int
	}{
		{model.Date(2024, 3, 29), model.Date(2024, 4, 2), 4}, // across the BST change: still 4 days
		{model.Date(2024, 4, 2), model.Date(2024, 3, 29), -4},
		{model.Date(2024, 2, 28), model.Date(2024, 3, 1), 2}, // leap year
		{model.Date(2024, 1, 1), model.Date(2024, 1, 1), 0},
	}
	for _, tt := range tests {
		if got := model.DaysBetween(tt.from, tt.to); got != tt.want {
			t.Errorf("DaysBetween(%s, %s) = %d, want %d", tt.from.Format(time.DateOnly), tt.to.Format(time.DateOnly), got, tt.want)
		}
	}
}
