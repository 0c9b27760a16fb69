package api

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
)

func openTestStore(t *testing.T, dbURL string) *store {
	t.Helper()
	db, d, err := openDB(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := migrate(context.Background(), db, d); err != nil {
		t.Fatal(err)
	}
	return &store{db: db, d: d}
}

func asEvent(v any) event {
	switch x := v.(type) {
	case *eventsv1.StarterCreated:
		return event{ID: x.EventID, Tenant: x.Tenant, Type: schemas.StarterCreated, PersonID: x.PersonID, RecordedAt: x.RecordedAt, EffectiveDate: x.EffectiveDate, Payload: json.RawMessage(`{}`), Starter: x}
	case *eventsv1.LeaverConfirmed:
		return event{ID: x.EventID, Tenant: x.Tenant, Type: schemas.LeaverConfirmed, PersonID: x.PersonID, RecordedAt: x.RecordedAt, EffectiveDate: x.EffectiveDate, Payload: json.RawMessage(`{}`), Leaver: x}
	case *eventsv1.PositionUpdated:
		return event{ID: x.EventID, Tenant: x.Tenant, Type: schemas.PositionUpdated, PersonID: x.PersonID, RecordedAt: x.RecordedAt, EffectiveDate: x.EffectiveDate, Payload: json.RawMessage(`{}`), Position: x}
	}
	panic("unknown event")
}

// The three event topics are read independently, so one person's events may
// arrive in any order across topics: the state must not depend on it.
func TestStateIndependentOfCrossTopicOrder(t *testing.T) {
	st := starter()
	st.Scheduled, st.Rehire = true, true
	pos := &eventsv1.PositionUpdated{
		EventID: "ev-pos-1", Tenant: "RXX", Vpd: "412", PersonID: st.PersonID, EmployeeNumber: st.EmployeeNumber,
		EffectiveDate: day(2024, 4, 1), RecordedAt: recorded2, AssignmentNumber: st.AssignmentNumber,
		Change: eventsv1.PositionChangeAttributesChanged, Before: snapshot("Staff Nurse", "XR05"), After: snapshot("Senior Staff Nurse", "XR06"),
	}
	ended := &eventsv1.PositionUpdated{
		EventID: "ev-pos-0", Tenant: "RXX", Vpd: "412", PersonID: st.PersonID, EmployeeNumber: st.EmployeeNumber,
		EffectiveDate: day(2024, 3, 20), RecordedAt: recorded1.Add(time.Hour), AssignmentNumber: st.AssignmentNumber,
		Change: eventsv1.PositionChangeAssignmentEnded, Before: snapshot("Staff Nurse", "XR05"),
	}
	leaver := &eventsv1.LeaverConfirmed{
		EventID: "ev-leaver", Tenant: "RXX", Vpd: "412", PersonID: st.PersonID, EmployeeNumber: st.EmployeeNumber,
		EffectiveDate: day(2024, 5, 1), RecordedAt: recorded2.Add(time.Hour), LeavingDate: day(2024, 5, 1), LeavingReason: "Retirement Age",
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
	forEachDB(t, func(t *testing.T, dbURL string) {
		s := openTestStore(t, dbURL)
		for ti, tt := range tests {
			for i, order := range tt.orders {
				tenant := fmt.Sprintf("T%d%d", ti, i) // a fresh tenant per case and order, one database
				for _, v := range order {
					e := asEvent(v)
					e.Tenant, e.ID = tenant, tenant+e.ID
					if _, err := s.apply(context.Background(), batch{Events: []event{e}}); err != nil {
						t.Fatal(err)
					}
				}
				p, err := s.person(context.Background(), tenant, st.PersonID)
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
