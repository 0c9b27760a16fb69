package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/rules"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/services/ingest"
)

// benchFile generates one large full file (about 100k rows) in memory.
func benchFile(b *testing.B) (string, []byte) {
	b.Helper()
	var sink gen.MemSink
	start := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	if _, err := gen.Generate(gen.Config{Tenant: "RXX", VPD: "412", Staff: 15000, Days: 0, Seed: 1, Start: start}, &sink); err != nil {
		b.Fatal(err)
	}
	for _, name := range sink.Names() {
		if strings.Contains(name, "_GOF_") {
			return name, sink.Bytes(name)
		}
	}
	b.Fatal("no full file generated")
	return "", nil
}

// BenchmarkValidate is `esrflow validate`'s whole offline path over a large
// full file — hash, read and parse (ingest's reader), map (normalise), rules
// (esr/rules, cross-record rules and budget included) — beside the reader
// alone as a baseline. Both report rows/s.
func BenchmarkValidate(b *testing.B) {
	name, data := benchFile(b)
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }

	b.Run("parse-only", func(b *testing.B) {
		var rows int64
		b.SetBytes(int64(len(data)))
		cpu0 := processCPU()
		for b.Loop() {
			d := ingest.Describe(name, "", int64(len(data)))
			rd, err := d.Open(bytes.NewReader(data), tenant.Tenant{}, ingest.ParseOptions{}, time.Now)
			if err != nil {
				b.Fatal(err)
			}
			for {
				if _, err := rd.Next(); err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
				rows++
			}
		}
		b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		if cpu := processCPU() - cpu0; cpu > 0 {
			b.ReportMetric(float64(rows)/cpu.Seconds(), "rows/cpu-s")
		}
	})
	b.Run("full-path", func(b *testing.B) {
		var rows int64
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		cpu0 := processCPU()
		for b.Loop() {
			v := &validation{sets: mustSets(b), maxLines: 10, now: time.Now}
			rep, err := v.file(name, int64(len(data)), open)
			if err != nil || rep.Verdict != verdictAccepted {
				b.Fatalf("%v %v %s", err, rep.Verdict, rep.Reason)
			}
			rows += rep.Totals.Rows
		}
		b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		if cpu := processCPU() - cpu0; cpu > 0 {
			// Rows per second of CPU, all threads: the rate a core
			// gives when the machine is not shared.
			b.ReportMetric(float64(rows)/cpu.Seconds(), "rows/cpu-s")
		}
	})
}

func mustSets(b *testing.B) *rules.Sets {
	_, sets, err := loadTenantRules("")
	if err != nil {
		b.Fatal(err)
	}
	return sets
}
