// Package storetest builds what the store's and the api's tests write into a
// store: a migrated store on a test database, and synthetic public events
// (no real person's data) wrapped as the materialiser wraps them.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/store"
)

// Open opens and migrates the store at dbURL (dbtest gives one), closed when
// the test ends.
func Open(t testing.TB, dbURL string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// SHA1 is the hash of the file the fixtures' events come from.
const SHA1 = "9f2c4e1a7b3d5f6e8a0c2b4d6f8e0a1c3b5d7f9e1a2c4b6d8f0e2a4c6b8d0f1e"

// Recorded1 is when Starter was recorded; Recorded2 a month later.
var (
	Recorded1 = time.Date(2024, 3, 11, 2, 17, 3, 250_000_000, time.UTC)
	Recorded2 = time.Date(2024, 4, 1, 2, 0, 0, 0, time.UTC)
)

// Day is midnight UTC of a date.
func Day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// Src is line of the fixtures' change file.
func Src(line int64) eventsv1.Source {
	return eventsv1.Source{FileName: "GO_412_EXP_GOC_20240311_00000347.DAT", FileSha256: SHA1, Line: line}
}

// Starter is a synthetic starter in tenant RXX.
func Starter() *eventsv1.StarterCreated {
	return &eventsv1.StarterCreated{
		EventID: "ev-starter-1", Tenant: "RXX", Vpd: "412", PersonID: "20990417", EmployeeNumber: "31004581",
		EffectiveDate: Day(2024, 3, 11), RecordedAt: Recorded1, Source: Src(5),
		AssignmentNumber: "31004581", PositionNumber: "5102277", PositionTitle: "Staff Nurse",
		Organisation: "412 Cardiology Outpatients", StartDate: Day(2024, 3, 11),
	}
}

// Snapshot is a position with title and grade, the rest fixed.
func Snapshot(title, grade string) *eventsv1.PositionSnapshot {
	return &eventsv1.PositionSnapshot{
		PositionNumber: "5102277", PositionTitle: title, Organisation: "412 Cardiology Outpatients",
		Grade: grade, StaffGroup: "Nursing and Midwifery Registered", JobRole: "Staff Nurse",
		OccupationCode: "N6A", Location: "Ward 7 Admin",
	}
}

// FileInfo is a GO v2 change file's header as ingest reports it.
func FileInfo(name, sha string, seq int64) *internalv1.FileInfo {
	return &internalv1.FileInfo{Name: name, Sha256: sha, Dialect: "go-v2", Kind: internalv1.FileKindChange, Sequence: seq,
		RunDate: Day(2024, 3, 11), Size: 2417}
}

// Event wraps a public event value with an empty JSON payload.
func Event(v any) store.PublicEvent {
	e, err := store.NewPublicEvent(v)
	if err != nil {
		panic(err)
	}
	e.Payload = json.RawMessage(`{}`)
	return e
}

// PersonID is the load tests' person i.
func PersonID(i int) string { return strconv.Itoa(20_000_000 + i) }

// BenchEvent is person i's starter (tag empty) or a position change tagged
// tag, recorded at rec, with its JSON payload: what the load tests and make
// bench-api write.
func BenchEvent(i int, rec time.Time, tag string) store.PublicEvent {
	var v any
	topic := "esr.rxx.starter-created.v1"
	if tag == "" {
		v = &eventsv1.StarterCreated{
			EventID: fmt.Sprintf("ev-st-%d", i), Tenant: "RXX", Vpd: "412", PersonID: PersonID(i),
			EmployeeNumber: strconv.Itoa(30_000_000 + i), EffectiveDate: rec.Truncate(24 * time.Hour), RecordedAt: rec,
			AssignmentNumber: strconv.Itoa(30_000_000 + i), PositionNumber: "5102277", PositionTitle: "Staff Nurse",
			Organisation: "412 Cardiology Outpatients", StartDate: rec.Truncate(24 * time.Hour),
			Source: eventsv1.Source{FileName: "GO_412_EXP_GOC_20240311_00000347.DAT", FileSha256: SHA1, Line: int64(i + 2)},
		}
	} else {
		topic = "esr.rxx.position-updated.v1"
		v = &eventsv1.PositionUpdated{
			EventID: fmt.Sprintf("ev-pos-%s-%d", tag, i), Tenant: "RXX", Vpd: "412", PersonID: PersonID(i),
			EmployeeNumber: strconv.Itoa(30_000_000 + i), EffectiveDate: rec.Truncate(24 * time.Hour), RecordedAt: rec,
			AssignmentNumber: strconv.Itoa(30_000_000 + i), Change: eventsv1.PositionChangeAttributesChanged,
			Before: Snapshot("Staff Nurse", "XR05"), After: Snapshot("Senior Staff Nurse", "XR06"),
		}
	}
	e, err := store.NewPublicEvent(v)
	if err != nil {
		panic(err)
	}
	payload, _ := json.Marshal(v)
	e.Topic, e.Offset, e.SchemaID, e.Payload = topic, int64(i), 1, payload
	return e
}
