package bench

import (
	"bytes"
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/gen"
)

func TestNationalTrustsKeepTheSpreadAndTheFraction(t *testing.T) {
	all, err := nationalTrusts(0.5, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != NationalTrusts {
		t.Fatalf("%d trusts, want %d", len(all), NationalTrusts)
	}
	codes := map[string]bool{}
	total, smallest, largest := 0, math.MaxInt, 0
	for _, tr := range all {
		if codes[tr.Tenant] {
			t.Fatalf("tenant %s twice", tr.Tenant)
		}
		codes[tr.Tenant] = true
		total += tr.Staff
		smallest, largest = min(smallest, tr.Staff), max(largest, tr.Staff)
	}
	if want := gen.NationalStaff / 2; math.Abs(float64(total-want)) > float64(want)/1000 {
		t.Errorf("staff %d, want about %d", total, want)
	}
	if largest < 5*smallest {
		t.Errorf("sizes %d..%d: no national spread", smallest, largest)
	}
	few, err := nationalTrusts(0.001, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(few) != 3 || few[0].Tenant != all[0].Tenant {
		t.Errorf("3 trusts: got %+v", few)
	}
	if _, err := nationalTrusts(0.5, NationalTrusts+1); err == nil {
		t.Error("more trusts than the nation has, yet no error")
	}
}

func TestReadProcStatsOfThisProcess(t *testing.T) {
	st, err := readProcStats(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if st.PeakRSS == 0 || st.RSS == 0 || st.PeakRSS < st.RSS {
		t.Errorf("VmHWM %d, VmRSS %d", st.PeakRSS, st.RSS)
	}
	for i := 0; st.CPU == 0 && i < 1e9; i++ { // burn until a clock tick is counted
		if i%1e6 == 0 {
			st, _ = readProcStats(os.Getpid())
		}
	}
	if st.CPU == 0 {
		t.Error("no CPU time read")
	}
}

// TestNationalBenchmarkSmoke runs the whole harness on a tiny region (three
// trusts and a small latency trust) and checks every figure is there. It
// asserts nothing about speed.
func TestNationalBenchmarkSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the services and runs the pipeline")
	}
	bin := t.TempDir()
	cmd := exec.Command("go", "build", "-o", bin+string(filepath.Separator),
		"github.com/esrflow/esrflow/services/normalise/cmd/normalise",
		"github.com/esrflow/esrflow/services/validate/cmd/validate",
		"github.com/esrflow/esrflow/services/publish/cmd/publish")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the services: %v\n%s", err, out)
	}
	cfg := NationalConfig{Fraction: 0.0005, Trusts: 3, Days: 1, LatencyStaff: 300, LatencyFiles: 2, Seed: 1,
		Partitions: 3, Idle: 500 * time.Millisecond, BinDir: bin, DataDir: filepath.Join(t.TempDir(), "run"),
		Profiles: filepath.Join(t.TempDir(), "profiles"), ProfileCPU: time.Second}
	res, err := RunNational(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rejected) > 0 {
		t.Errorf("files not accepted: %v", res.Rejected)
	}
	if res.Trusts != 3 || res.Files != 3*2+2 || res.Rows == 0 || res.LatencySamples != 2 || res.RawRecords == 0 {
		t.Errorf("run: %+v", res)
	}
	if len(res.Services) != len(SeparateServices) {
		t.Fatalf("figures of %d services, want %d", len(res.Services), len(SeparateServices))
	}
	for i, s := range res.Services {
		if s.Name != SeparateServices[i] || s.PeakRSS == 0 || s.RestoredRSS == 0 || s.CPU <= 0 || s.RestartReady <= 0 {
			t.Errorf("service figures: %+v", s)
		}
	}
	if res.HarnessPeakRSS == 0 || res.BareTook <= 0 || res.PipelineToCeiling <= 0 {
		t.Errorf("totals: %+v", res)
	}
	if len(res.LatencyHops) != len(HopNames) {
		t.Fatalf("hops: %+v", res.LatencyHops)
	}
	var hopSum time.Duration
	for _, h := range res.LatencyHops {
		if h.P50 < 0 || h.Max <= 0 || h.Max < h.P50 {
			t.Errorf("hop %+v: every hop takes some time, its max at least its median", h)
		}
		hopSum += h.Max
	}
	if hopSum < res.LatencyP50 {
		t.Errorf("the hops' maxima add to %s, less than the median drop → events %s: they do not split it", hopSum, res.LatencyP50)
	}
	for _, name := range SeparateServices {
		for _, kind := range []string{"heap", "cpu"} {
			f := filepath.Join(cfg.Profiles, name+"."+kind+".pb.gz")
			if b, err := os.ReadFile(f); err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
				t.Errorf("%s: want a gzipped profile (err %v)", f, err)
			}
		}
	}
	var out bytes.Buffer
	res.Print(&out, cfg)
	for _, want := range []string{"fraction: 0.0005", "3 trusts", "| normalise |", "| validate |", "| publish |",
		"benchmark process", "CPU at rest", "rows/s", "p50", "p99", "bare 4-hop ceiling", "pipeline / ceiling", "Linear extrapolation", HopNames[2]} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
