package api

import (
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
)

// A leaver-reversed puts the person back to employed, in SQLite and
// PostgreSQL, and is listed with their events.
func TestLeaverReversedMakesThePersonEmployedAgain(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		e := newEnv(t)
		leaver := &eventsv1.LeaverConfirmed{
			EventID: "ev-leaver", Tenant: "RXX", Vpd: "412", PersonID: "20110032", EmployeeNumber: "30977120",
			EffectiveDate: day(2024, 4, 10), RecordedAt: recorded1, Source: src(14),
			LeavingDate: day(2024, 4, 10), LeavingReason: "Retirement Age",
		}
		newDate := day(2024, 5, 31)
		rev := &eventsv1.LeaverReversed{
			EventID: "ev-reversed", Tenant: "RXX", Vpd: "412", PersonID: "20110032", EmployeeNumber: "30977120",
			EffectiveDate: day(2024, 4, 10), RecordedAt: recorded1.Add(time.Hour), Source: src(2),
			ReversedEventID: "ev-leaver", ReversedLeavingDate: day(2024, 4, 10), Reversal: "REDATED", NewLeavingDate: &newDate,
			LeavingReason: "Retirement Age",
		}
		e.produce(true, e.event("RXX", schemas.EventLeaverConfirmed, 2, leaver.PersonID, leaver))
		e.produce(true, e.event("RXX", schemas.EventLeaverReversed, 1, rev.PersonID, rev))
		_, srv := e.start(dbURL, "")
		waitFor(t, srv, "/v1/tenants/RXX/people/20110032", 200, `"last_event_id":"ev-reversed"`)
		assertGet(t, srv, "/v1/tenants/RXX/people/20110032", 200, `{
			"tenant":"RXX","person_id":"20110032","vpd":"412","employee_number":"30977120","employment_status":"EMPLOYED",
			"start_date":null,"scheduled":false,"rehire":false,"leaving_date":null,"leaving_reason":null,"last_working_day":null,
			"assignments":[],"last_event_id":"ev-reversed","updated_at":"`+recorded1.Add(time.Hour).UTC().Format("2006-01-02T15:04:05.999Z07:00")+`"}`)
		_, body := get(t, srv, "/v1/tenants/RXX/events?type=leaver-reversed")
		if want := `"reversed_event_id":"ev-leaver"`; !strings.Contains(body, want) {
			t.Fatalf("events?type=leaver-reversed = %s, want %s", body, want)
		}
	})
}
