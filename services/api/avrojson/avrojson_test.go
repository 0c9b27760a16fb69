package avrojson_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/avrojson"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func roundTrip(t *testing.T, name string, version int, v any) string {
	t.Helper()
	s, _, err := schemas.Version(name, version)
	if err != nil {
		t.Fatal(err)
	}
	b, err := internalv1.NewAPI().Marshal(s, v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := avrojson.Decode(s, b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	// A truncated payload must fail, never decode to something shorter.
	if _, err := avrojson.Decode(s, b[:len(b)-1]); err == nil {
		t.Errorf("decoding a truncated payload succeeded")
	}
	if _, err := avrojson.Decode(s, append(b, 0)); err == nil {
		t.Errorf("decoding a payload with a trailing byte succeeded")
	}
	return string(out)
}

func TestLeaverDatesUnionsAndFieldOrder(t *testing.T) {
	lwd := day(2024, 3, 28)
	got := roundTrip(t, schemas.LeaverConfirmed, 2, &eventsv1.LeaverConfirmed{
		EventID: "e1", Tenant: "RXX", Vpd: "412", PersonID: "20110032", EmployeeNumber: "30977120",
		EffectiveDate: day(2024, 3, 29), RecordedAt: time.Date(2024, 3, 11, 2, 17, 3, 250_000_000, time.UTC),
		Source:      eventsv1.Source{FileName: "GO_412_EXP_GOC_20240311_00000347.DAT", FileSha256: "ab", Line: 6},
		LeavingDate: day(2024, 3, 29), LeavingReason: "Voluntary Resignation - Relocation",
		LastWorkingDay: &lwd, DaysLate: -18,
	})
	want := `{"event_id":"e1","tenant":"RXX","vpd":"412","person_id":"20110032","employee_number":"30977120",` +
		`"effective_date":"2024-03-29","recorded_at":"2024-03-11T02:17:03.25Z",` +
		`"source":{"file_name":"GO_412_EXP_GOC_20240311_00000347.DAT","file_sha256":"ab","line":6},` +
		`"leaving_date":"2024-03-29","leaving_reason":"Voluntary Resignation - Relocation","last_working_day":"2024-03-28",` +
		`"days_late":-18,"transfer_to_tenant":null,"final_assignment_end_date":null}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestEnumsArraysMapsAndDoubles(t *testing.T) {
	reason := "duplicate"
	got := roundTrip(t, schemas.FileReport, 1, &internalv1.FileReport{
		Tenant: "RXX", Vpd: "412",
		File: internalv1.FileInfo{Name: "F.DAT", Sha256: "cd", Dialect: "go-v2", Kind: internalv1.FileKindFull,
			Sequence: 1, RunDate: day(2024, 3, 1), Size: 10},
		Status: internalv1.FileStatusRejected, Reason: &reason,
		EventsEmitted: map[string]int64{"leaver-confirmed": 3},
		ReportedAt:    time.Date(2024, 3, 1, 6, 0, 0, 0, time.UTC),
	})
	want := `{"tenant":"RXX","vpd":"412","file":{"name":"F.DAT","sha256":"cd","dialect":"go-v2","kind":"FULL","sequence":1,"run_date":"2024-03-01","size":10},` +
		`"status":"REJECTED","reason":"duplicate","rows_read":0,"entities_accepted":0,"quarantined":0,"corrections":0,"ignored":0,` +
		`"events_emitted":{"leaver-confirmed":3},"leavers_held":0,"reported_at":"2024-03-01T06:00:00Z"}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}

	got = roundTrip(t, schemas.Raw, 1, &internalv1.RawRecord{
		Kind: internalv1.RawKindRecord, Tenant: "RXX", Vpd: "412", File: internalv1.FileInfo{Kind: internalv1.FileKindChange, RunDate: day(1970, 1, 1)},
		Line: 4, RecordType: "ORA", Fields: []string{"a", ""},
		Problems: []internalv1.Problem{{Rule: "R2", Column: -1, Message: "m"}},
	})
	var generic map[string]any
	if err := json.Unmarshal([]byte(got), &generic); err != nil {
		t.Fatal(err)
	}
	if f, _ := json.Marshal(generic["fields"]); string(f) != `["a",""]` {
		t.Errorf("fields = %s", f)
	}
	if p, _ := json.Marshal(generic["problems"]); string(p) != `[{"column":-1,"field":"","message":"m","rule":"R2"}]` {
		t.Errorf("problems = %s", p)
	}
}

func TestShortPayload(t *testing.T) {
	s := avro.MustParse(`"string"`)
	if _, err := avrojson.Decode(s, []byte{0x10, 'a'}); !errors.Is(err, avrojson.ErrShort) {
		t.Errorf("err = %v, want ErrShort", err)
	}
}
