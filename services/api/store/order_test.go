package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
	"github.com/esrflow/esrflow/services/api/store"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
	"github.com/esrflow/esrflow/services/api/store/storetest"
)

// The three event topics are read independently, so one person's events may
// arrive in any order across topics: the state must not depend on it.
func TestStateIndependentOfCrossTopicOrder(t *testing.T) {
	st := storetest.Starter()
	st.Scheduled, st.Rehire = true, true
	pos := &eventsv1.PositionUpdated{
		EventID: "ev-pos-1", Tenant: "RXX", Vpd: "412", PersonID: st.PersonID, EmployeeNumber: st.EmployeeNumber,
		EffectiveDate: storetest.Day(2024, 4, 1), RecordedAt: storetest.Recorded2, AssignmentNumber: st.AssignmentNumber,
		Change: eventsv1.PositionChangeAttributesChanged, Before: storetest.Snapshot("Staff Nurse", "XR05"), After: storetest.Snapshot("Senior Staff Nurse", "XR06"),
	}
	ended := &eventsv1.PositionUpdated{
		EventID: "ev-pos-0", Tenant: "RXX", Vpd: "412", PersonID: st.PersonID, EmployeeNumber: st.EmployeeNumber,
		EffectiveDate: storetest.Day(2024, 3, 20), RecordedAt: storetest.Recorded1.Add(time.Hour), AssignmentNumber: st.AssignmentNumber,
		Change: eventsv1.PositionChangeAssignmentEnded, Before: storetest.Snapshot("Staff Nurse", "XR05"),
	}
	leaver := &eventsv1.LeaverConfirmed{
		EventID: "ev-leaver", Tenant: "RXX", Vpd: "412", PersonID: st.PersonID, EmployeeNumber: st.EmployeeNumber,
		EffectiveDate: storetest.Day(2024, 5, 1), RecordedAt: storetest.Recorded2.Add(time.Hour), LeavingDate: storetest.Day(2024, 5, 1), LeavingReason: "Retirement Age",
	}
	tests := []struct {
		name   string
		orders [][]any
		want   string
	}{
		{"starter and position change", [][]any{{st, pos}, {pos, st}},
			`{"employment_status":"EMPLOYED","start_date":"2024-03-11","title":"Senior Staff Nurse","grade":"XR06","scheduled":true,"rehire":true,"assignments":1,"last":"ev-pos-1"}`},
		{"an end older than the change does not remove it", [][]any{{st, ended, pos}, {pos, ended, st}, {ended, pos, st}},
			`{"employment_status":"EMPLOYED","start_date":"2024-03-11","title":"Senior Staff Nurse","grade":"XR06","scheduled":true,"rehire":true,"assignments":1,"last":"ev-pos-1"}`},
		{"leaver after everything", [][]any{{st, pos, leaver}, {leaver, pos, st}, {pos, leaver, st}},
			`{"employment_status":"LEFT","start_date":"2024-03-11","title":"","grade":"","scheduled":true,"rehire":true,"assignments":0,"last":"ev-leaver"}`},
	}
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		s := storetest.Open(t, dbURL)
		for ti, tt := range tests {
			for i, order := range tt.orders {
				tenant := fmt.Sprintf("T%d%d", ti, i) // a fresh tenant per case and order, one database
				for _, v := range order {
					e := storetest.Event(v)
					e.Tenant, e.ID = tenant, tenant+e.ID
					if _, err := s.Apply(context.Background(), store.Batch{Events: []store.PublicEvent{e}}); err != nil {
						t.Fatal(err)
					}
				}
				p, err := s.PersonByID(context.Background(), tenant, st.PersonID)
				if err != nil {
					t.Fatal(err)
				}
				got := struct {
					Status      string  `json:"employment_status"`
					Start       *string `json:"start_date"`
					Title       string  `json:"title"`
					Grade       string  `json:"grade"`
					Scheduled   bool    `json:"scheduled"`
					Rehire      bool    `json:"rehire"`
					Assignments int     `json:"assignments"`
					Last        string  `json:"last"`
				}{Status: p.EmploymentStatus, Start: p.StartDate, Scheduled: p.Scheduled, Rehire: p.Rehire, Assignments: len(p.Assignments), Last: p.LastEventID[len(tenant):]}
				if len(p.Assignments) > 0 {
					got.Title, got.Grade = p.Assignments[0].PositionTitle, p.Assignments[0].Grade
				}
				b, _ := json.Marshal(got)
				if string(b) != tt.want {
					t.Errorf("%s, order %d:\n got %s\nwant %s", tt.name, i, b, tt.want)
				}
			}
		}
	})
}
