package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/esrflow/esrflow/services/api/store"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
)

// People stored before the state migration get their assignments indexed
// by it: the lists see them without a re-read of the topics.
func TestStateMigrationBackfills(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		db, d := store.OpenAt(t, dbURL, store.MigrationState-1)
		ctx := context.Background()
		list := `[{"assignment_number":"31000001","position_number":"5100001","position_title":"Staff Nurse","organisation":"412 Renal Ward",
			"grade":"","staff_group":"","job_role":"","occupation_code":"","location":"Ward 2","at":1}]`
		if _, err := db.Exec(d.Rebind(`INSERT INTO people (tenant, person_id, vpd, employee_number, employment_status, status_at, scheduled, rehire,
			assignments, last_event_id, updated_at) VALUES ('RXX', '20000001', '412', '31000001', 'EMPLOYED', 1, 0, 0, ?, 'ev-1', 1710123423250)`), list); err != nil {
			t.Fatal(err)
		}
		if err := store.Migrate(ctx, db, d); err != nil {
			t.Fatal(err)
		}
		s := store.Wrap(db, d)
		pos, err := s.Positions(ctx, "RXX", "", "", 10)
		if err != nil || len(pos) != 1 || pos[0].PositionNumber != "5100001" || pos[0].Location != "Ward 2" || pos[0].Assignments != 1 {
			t.Errorf("positions after the migration = %+v (%v)", pos, err)
		}
		ppl, err := s.People(ctx, store.PeopleQuery{Tenant: "RXX", Organisation: "412 Renal Ward", ChangedSince: time.UnixMilli(1710123423250), Limit: 10})
		if err != nil || len(ppl) != 1 {
			t.Errorf("people in the organisation, changed since their last event = %d (%v), want 1", len(ppl), err)
		}
	})
}
