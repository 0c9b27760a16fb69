package gen

import (
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// largeRegion is more trusts than the legacy id layout holds (so the sized
// layout is used), each small so the test stays quick.
// groupSize > 0 puts consecutive trusts in groups of that size.
func largeRegion(transfers, groupSize int) RegionConfig {
	rc := RegionConfig{Days: 6, Seed: 5, Faults: true, FullEvery: 4, TransfersPerDay: transfers}
	for i := range 210 {
		tr := Trust{Tenant: "N" + strconv.Itoa(100+i), VPD: strconv.Itoa(1000 + i), Staff: 20 + i%7*10}
		if groupSize > 0 {
			tr.Group = "G" + strconv.Itoa(i/groupSize)
		}
		rc.Trusts = append(rc.Trusts, tr)
	}
	return rc
}

// TestLargeRegion: 210 trusts, all in lockstep with transfers, one at a
// time without, and in groups of five (ICSs) with transfers within each. Each trust's files are well formed and its events point at their
// rows; the reference rules derive the region's truth from the files alone
// (so every held leaver struck out of a spool after its day was flushed is
// really gone); ids are unique across trusts and keep ESR's widths; an NI
// number belongs to one human.
func TestLargeRegion(t *testing.T) {
	for _, c := range []struct{ transfers, group int }{{4, 0}, {0, 0}, {1, 5}} {
		t.Run("transfers="+strconv.Itoa(c.transfers)+",group="+strconv.Itoa(c.group), func(t *testing.T) {
			rc := largeRegion(c.transfers, c.group)
			if legacyLayout(rc.Trusts, rc.Days) {
				t.Fatal("the region fits the legacy layout; the test wants the sized one")
			}
			g := generateRegion(t, rc)
			if len(g.res.Trusts) != len(rc.Trusts) {
				t.Fatalf("%d trusts in the result, want %d", len(g.res.Trusts), len(rc.Trusts))
			}
			events := 0
			for _, tg := range g.trusts {
				checkFiles(t, tg)
				checkTruthRows(t, tg)
				checkQuarantineLines(t, tg)
				events += tg.res.Stats.Events
			}
			if n := countEvents(g.truth); n != events || n == 0 {
				t.Errorf("%d events in truth.jsonl, %d in the trusts' stats", n, events)
			}
			checkRegion(t, g)
			checkIdentities(t, g)
			if c.group > 0 {
				checkTransfersWithinGroups(t, g)
			}
		})
	}
}

// checkTransfersWithinGroups: every transfer starter comes from a trust of
// its own group.
func checkTransfersWithinGroups(t *testing.T, g *generatedRegion) {
	t.Helper()
	group := map[string]string{}
	for _, tr := range g.rc.Trusts {
		group[tr.Tenant] = tr.Group
	}
	n := 0
	for _, l := range g.truth {
		if l.TransferFromTenant != "" {
			n++
			if group[l.TransferFromTenant] != group[l.Tenant] {
				t.Errorf("%s (%s) took a transfer from %s (%s)", l.Tenant, group[l.Tenant], l.TransferFromTenant, group[l.TransferFromTenant])
			}
		}
	}
	if n < len(g.rc.Trusts)/5 {
		t.Errorf("%d transfers in %d groups over %d days", n, len(g.rc.Trusts)/5, g.rc.Days)
	}
}

func countEvents(ls []TruthLine) (n int) {
	for _, l := range ls {
		if l.Kind == KindEvent {
			n++
		}
	}
	return n
}

// checkIdentities: person ids, employee numbers and assignment ids are 8
// digits, NHS Unique IDs 7, and an NI number names one human (one NHS
// Unique ID and date of birth) across the region.
func checkIdentities(t *testing.T, g *generatedRegion) {
	t.Helper()
	human := map[string]string{}
	for _, tg := range g.trusts {
		for _, f := range tg.files {
			for _, r := range f.rows {
				switch r[0] {
				case "PRA":
					if len(r[1]) != 8 || (numeric(r[4]) && len(r[4]) != 8) || (r[15] != "" && len(r[15]) != 7) {
						t.Errorf("%s %s: person %q employee %q NHS %q: widths", tg.cfg.Tenant, f.name, r[1], r[4], r[15])
					}
					if r[14] == "" || r[15] == "" || len(r[14]) != 9 {
						continue // a fault row, or a rehire keyed without NHS Unique ID
					}
					who := r[15] + "/" + r[13]
					if h, ok := human[r[14]]; ok && h != who {
						t.Errorf("NI number %s names two humans: %s and %s", r[14], h, who)
					}
					human[r[14]] = who
				case "ASA":
					if numeric(r[2]) && len(r[2]) != 8 {
						t.Errorf("%s: assignment id %q", tg.cfg.Tenant, r[2])
					}
				}
			}
		}
	}
}

// peakSink discards the files and samples the live heap (after a GC) each
// time a file is created: the points where a trust's state is largest.
type peakSink struct{ peak uint64 }

func (p *peakSink) Create(string) (io.WriteCloser, error) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.peak = max(p.peak, ms.HeapAlloc)
	return nopWriteCloser{io.Discard}, nil
}

func regionPeak(t *testing.T, trusts, staff, transfers, groupSize int) uint64 {
	t.Helper()
	rc := RegionConfig{Days: 4, Seed: 2, TransfersPerDay: transfers}
	for i := range trusts {
		tr := Trust{Tenant: "M" + strconv.Itoa(100+i), VPD: strconv.Itoa(100 + i), Staff: staff}
		if groupSize > 0 {
			tr.Group = "G" + strconv.Itoa(i/groupSize)
		}
		rc.Trusts = append(rc.Trusts, tr)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	sink := &peakSink{}
	if _, err := GenerateRegion(rc, sink); err != nil {
		t.Fatal(err)
	}
	if sink.peak < base {
		return 0
	}
	return sink.peak - base
}

// TestRegionMemoryFlat: without transfers, or with transfers confined to
// groups, four times the trusts (and so the population) leaves the live
// heap's high-water mark about where it was: one trust's (one group's)
// simulation, and a few kilobytes per trust. Ungrouped, with transfers,
// every trust is live, and the same measure grows with the population,
// which shows the measure can tell the cases apart.
func TestRegionMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("generates some 150k staff")
	}
	const staff = 1000
	for _, c := range []struct {
		name             string
		transfers, group int
	}{{"one trust at a time", 0, 0}, {"groups of 4 with transfers", 1, 4}} {
		small, large := regionPeak(t, 8, staff, c.transfers, c.group), regionPeak(t, 32, staff, c.transfers, c.group)
		t.Logf("%s: heap high-water %d KiB for 8 trusts, %d KiB for 32 (%d staff each)", c.name, small>>10, large>>10, staff)
		if small == 0 || large > small*3/2 {
			t.Errorf("%s: heap high-water grew from %d to %d bytes with 4x the population; want under 1.5x", c.name, small, large)
		}
	}
	lsmall, llarge := regionPeak(t, 5, staff, 1, 0), regionPeak(t, 20, staff, 1, 0)
	t.Logf("lockstep: heap high-water %d KiB for 5 trusts, %d KiB for 20 (%.0f bytes per staff)",
		lsmall>>10, llarge>>10, float64(llarge)/float64(20*staff))
	if llarge < lsmall*2 {
		t.Errorf("lockstep heap high-water %d -> %d bytes for 4x the population: the measure does not see live state", lsmall, llarge)
	}
}

// TestNational: the national list is fixed, has 205 unique trusts and
// VPDs that the region accepts, sums to about 1.6M x fraction, and has the
// documented shape (a few over 15k, most between 4k and 11k, some small).
func TestNational(t *testing.T) {
	full, err := National(1)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := National(1)
	if len(full) != NationalTrusts {
		t.Fatalf("%d trusts, want %d", len(full), NationalTrusts)
	}
	total, big, mid, small := 0, 0, 0, 0
	for i, tr := range full {
		if tr != again[i] {
			t.Fatalf("trust %d differs between calls: %+v / %+v", i, tr, again[i])
		}
		total += tr.Staff
		switch {
		case tr.Staff >= 15_000:
			big++
		case tr.Staff >= 4_000 && tr.Staff <= 12_500:
			mid++
		case tr.Staff <= 3_000:
			small++
		}
	}
	if total < 1_590_000 || total > 1_610_000 || big < 3 || big > 12 || mid < 120 || small < 20 {
		t.Errorf("total %d; %d trusts of 15k+, %d of 4-12.5k, %d of 3k or fewer", total, big, mid, small)
	}
	if _, err := (RegionConfig{Trusts: full, Days: 30, TransfersPerDay: 1}).check(); err != nil {
		t.Errorf("the national region over 30 days is refused: %v", err)
	}
	if _, err := (RegionConfig{Trusts: full, Days: 200}).check(); err == nil {
		t.Error("the national region over 200 days does not fit the id ranges, but was accepted")
	}
	// ICSs: NationalGroups groups of 4-5 consecutive trusts
	sizes := map[string]int{}
	for i, tr := range full {
		sizes[tr.Group]++
		if i > 0 && tr.Group != full[i-1].Group && sizes[tr.Group] != 1 {
			t.Errorf("trust %s: group %s is not consecutive", tr.Tenant, tr.Group)
		}
	}
	for g, n := range sizes {
		if n < 4 || n > 5 {
			t.Errorf("group %s has %d trusts", g, n)
		}
	}
	if len(sizes) != NationalGroups {
		t.Errorf("%d groups, want %d", len(sizes), NationalGroups)
	}
	tenth, _ := National(0.1)
	sum := 0
	for _, tr := range tenth {
		sum += tr.Staff
	}
	if sum < 159_000 || sum > 161_000 {
		t.Errorf("a tenth of the national region has %d staff", sum)
	}
	for _, f := range []float64{0, -1, 1.5} {
		if _, err := National(f); err == nil {
			t.Errorf("fraction %v: no error", f)
		}
	}
}

// TestRegionOutgrowingABlockFails: were the id need figures too low, a
// trust would run past its block into the next trust's ids; that must be an
// error. The person-id figures (and range) are cut here to cause it.
func TestRegionOutgrowingABlockFails(t *testing.T) {
	saved := idSeqs[seqPerson]
	defer func() { idSeqs[seqPerson] = saved }()
	q := &idSeqs[seqPerson]
	q.base, q.perStaff = 1, saved.perStaff/10
	rc := largeRegion(0, 0)
	rc.Trusts = rc.Trusts[:9]
	total := 0.0
	for _, tr := range rc.Trusts {
		total += q.need(tr.Staff, rc.Days)
	}
	q.limit = q.from + int(total*1.25) // just enough for the layout to accept the region
	_, err := GenerateRegion(rc, DiscardSink{})
	if err == nil || !strings.Contains(err.Error(), "outgrew its block of the person id range") {
		t.Fatalf("got %v, want an outgrown person id block", err)
	}
}
