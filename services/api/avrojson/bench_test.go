package avrojson_test

import (
	"testing"
	"time"

	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/avrojson"
)

func BenchmarkDecode(b *testing.B) {
	lwd := day(2024, 3, 28)
	reason := "duplicate"
	cases := []struct {
		name    string
		version int
		v       any
	}{
		{schemas.LeaverConfirmed, 2, &eventsv1.LeaverConfirmed{
			EventID: "e1", Tenant: "RXX", Vpd: "412", PersonID: "20110032", EmployeeNumber: "30977120",
			EffectiveDate: day(2024, 3, 29), RecordedAt: time.Date(2024, 3, 11, 2, 17, 3, 250_000_000, time.UTC),
			Source:      eventsv1.Source{FileName: "GO_412_EXP_GOC_20240311_00000347.DAT", FileSha256: "ab", Line: 6},
			LeavingDate: day(2024, 3, 29), LeavingReason: "Voluntary Resignation - Relocation",
			LastWorkingDay: &lwd, DaysLate: -18,
		}},
		{schemas.FileReport, 4, &internalv1.FileReport{
			Tenant: "RXX", Vpd: "412",
			File: internalv1.FileInfo{Name: "F.DAT", Sha256: "cd", Dialect: "go-v2", Kind: internalv1.FileKindFull,
				Sequence: 1, RunDate: day(2024, 3, 1), Size: 10},
			Status: internalv1.FileStatusRejected, Reason: &reason,
			EventsEmitted: map[string]int64{"leaver-confirmed": 3, "starter-created": 5},
			ReportedAt:    time.Date(2024, 3, 1, 6, 0, 0, 0, time.UTC),
		}},
	}
	for _, c := range cases {
		s, _, err := schemas.Version(c.name, c.version)
		if err != nil {
			b.Fatal(err)
		}
		p, err := internalv1.NewAPI().Marshal(s, c.v)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := avrojson.Decode(s, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
