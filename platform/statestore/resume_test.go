package statestore

import (
	"testing"
	"time"
)

func TestResumeTrustsOnlyACheckpointThatCanStillBeCaughtUp(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	log := Log{Topic: "cl", TopicID: "id-1", First: 10, End: 100, DeleteRetention: 24 * time.Hour}
	fresh := Checkpoint{Topic: "cl", TopicID: "id-1", Next: 50, SavedMs: now.Add(-time.Hour).UnixMilli()}
	for _, tc := range []struct {
		name string
		cp   *Checkpoint // nil: none
		log  Log
		full bool
		from int64
	}{
		{"none", nil, log, true, 10},
		{"trusted", &fresh, log, false, 50},
		{"another topic id", &Checkpoint{Topic: "cl", TopicID: "id-0", Next: 50, SavedMs: fresh.SavedMs}, log, true, 10},
		{"another topic", &Checkpoint{Topic: "other", Next: 50, SavedMs: fresh.SavedMs}, log, true, 10},
		{"before the log start", &Checkpoint{Topic: "cl", TopicID: "id-1", Next: 5, SavedMs: fresh.SavedMs}, log, true, 10},
		{"beyond the end", &Checkpoint{Topic: "cl", TopicID: "id-1", Next: 101, SavedMs: fresh.SavedMs}, log, true, 10},
		{"older than delete.retention.ms with records to read", &Checkpoint{Topic: "cl", TopicID: "id-1", Next: 50, SavedMs: now.Add(-25 * time.Hour).UnixMilli()}, log, true, 10},
		{"old but nothing to read", &Checkpoint{Topic: "cl", TopicID: "id-1", Next: 100, SavedMs: now.Add(-25 * time.Hour).UnixMilli()}, log, false, 100},
		{"broker without topic ids", &fresh, Log{Topic: "cl", First: 10, End: 100, DeleteRetention: 24 * time.Hour}, false, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(Options{InMemory: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			txn := s.Begin()
			txn.Set(0, []byte("k"), []byte("v"))
			cps := map[int32]Checkpoint{}
			if tc.cp != nil {
				cps[0] = *tc.cp
			}
			if err := txn.Commit(cps); err != nil {
				t.Fatal(err)
			}
			l, full, why, err := s.Resume(0, tc.log, now)
			if err != nil {
				t.Fatal(err)
			}
			if full != tc.full || l.Next() != tc.from {
				t.Fatalf("full %v from %d (%s), want full %v from %d", full, l.Next(), why, tc.full, tc.from)
			}
			_, kept, _ := s.Get(0, []byte("k"))
			if kept == full {
				t.Fatalf("state kept %v on a full restore %v", kept, full)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if cp, _, _ := s.Checkpoint(0); cp.SavedMs != now.UnixMilli() || cp.Topic != "cl" {
				t.Fatalf("checkpoint after Resume = %+v", cp)
			}
		})
	}
}
