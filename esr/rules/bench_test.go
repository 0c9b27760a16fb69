package rules

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/format/gov2"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// benchFile builds a realistic full file of about 10k records: the
// organisation tree, locations, positions, persons and their assignments
// (one in six with a second post), each with its GO v2 row, in the order
// ESR writes them, with a sprinkling of rows that break a rule.
func benchFile() []internalv1.EntityRecord {
	const orgs, locs, poss, persons = 200, 50, 1500, 3800
	var recs []internalv1.EntityRecord
	raw := func(typ string) *internalv1.RawRow {
		return &internalv1.RawRow{RecordType: typ, Fields: make([]string, len(gov2.Spec(typ).Columns)-1)}
	}
	for i := 0; i < orgs; i++ {
		o := organisation()
		o.OrganisationID = int64(3000 + i)
		o.Name = fmt.Sprintf("412 z %04d Ward %d", i, i)
		if i > 0 {
			o.ParentOrganisationID = int64(3000 + i/10)
		}
		recs = append(recs, entity(o, raw(gov2.TypeOrganisation)))
	}
	for i := 0; i < locs; i++ {
		l := location()
		l.LocationID = int64(4000 + i)
		l.Code = fmt.Sprintf("412 L%03d", i)
		recs = append(recs, entity(l, raw(gov2.TypeLocation)))
	}
	for i := 0; i < poss; i++ {
		p := position()
		p.PositionID = int64(5000 + i)
		p.OrganisationID = int64(3000 + i%orgs)
		recs = append(recs, entity(p, raw(gov2.TypePosition)))
	}
	for i := 0; i < persons; i++ {
		p := person()
		p.PersonID = int64(100_000 + i)
		p.EmployeeNumber = fmt.Sprintf("%08d", 20_000_000+i)
		p.HireDate = dayp("2015-04-01")
		if i%97 == 0 {
			p.NiNumber = "QQ123456C" // ESR-V012
		}
		if i%50 == 0 {
			p.ActualTerminationDate, p.LeavingReason = dayp("2024-03-31"), "Voluntary Resignation - Relocation"
		}
		recs = append(recs, entity(p, raw(gov2.TypePerson)))
		posts := 1
		if i%6 == 0 {
			posts = 2
		}
		for k := 0; k < posts; k++ {
			a := assignment()
			a.PersonID = p.PersonID
			a.AssignmentID = int64(200_000 + 2*i + k)
			a.AssignmentNumber = p.EmployeeNumber
			a.PositionID = int64(5000 + (i+k)%poss)
			a.OrganisationID = int64(3000 + (i+k)%orgs)
			a.LocationID = int64(4000 + i%locs)
			if k > 0 {
				a.AssignmentNumber += "-2"
				a.Primary = false
				a.Fte = fp(0.2)
			}
			if i > 0 && i%40 == 0 {
				a.SupervisorPersonID = int64(100_000 + i - 1)
			}
			recs = append(recs, entity(a, raw(gov2.TypeAssignment)))
		}
	}
	return recs
}

// BenchmarkFile judges a ~10k-record file (Add each record, then Finish)
// and reports records judged per second.
func BenchmarkFile(b *testing.B) {
	recs := benchFile()
	s := Baseline()
	info := internalv1.FileInfo{Name: "GO_412_EXP_GOF_20240311_00000001.DAT", RunDate: time.Date(2024, 3, 11, 0, 0, 0, 0, time.UTC)}
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f := s.NewFile(info, NoKnown{})
		for _, r := range recs {
			f.Add(r)
		}
		res := f.Finish(Upstream{RowsRead: int64(len(recs))})
		if res.Rejected || res.Errors == 0 {
			b.Fatalf("unexpected verdict: rejected %v, %d errors", res.Rejected, res.Errors)
		}
	}
	b.StopTimer()
	rows := float64(b.N * len(recs))
	b.ReportMetric(rows/b.Elapsed().Seconds(), "rows/s")
	// Rows per second of CPU the process used (GC included): on a shared
	// machine the wall clock measures the neighbours as much as the code.
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(rows/cpu.Seconds(), "rows/cpu-s")
	}
	b.ReportMetric(float64(len(recs)), "rows/file")
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCheckRecord is the record and field rules alone, per record of
// the same file (the part of BenchmarkFile this package's checks cost).
func BenchmarkCheckRecord(b *testing.B) {
	recs := benchFile()
	s := Baseline()
	info := internalv1.FileInfo{}
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.CheckRecord(recs[i%len(recs)], info)
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}
