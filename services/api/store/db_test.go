package store_test

import (
	"context"
	"strings"
	"testing"

	schemamigrate "github.com/esrflow/esrflow/services/api/store/migrate"

	"github.com/esrflow/esrflow/services/api/store"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
)

func TestOpenDBRejectsUnknownURL(t *testing.T) {
	for _, u := range []string{"mysql://u:secret@h/db", "sqlite:", "api.db"} {
		_, _, err := store.OpenDB(u)
		if err == nil {
			t.Errorf("store.OpenDB(%q) succeeded", u)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("store.OpenDB(%q) error leaks the password: %v", u, err)
		}
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		db, d, err := store.OpenDB(dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for range 2 {
			if err := store.Migrate(context.Background(), db, d); err != nil {
				t.Fatal(err)
			}
		}
		if v, err := schemamigrate.Current(context.Background(), db, d.String()); err != nil || v != schemamigrate.Latest() {
			t.Errorf("version = %d (%v), want %d", v, err, schemamigrate.Latest())
		}
	})
}
