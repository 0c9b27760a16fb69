package ingest

import (
	"io/fs"
	"slices"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/format"
)

func TestEndsWithTrailer(t *testing.T) {
	// "Ynys Môn" in Windows-1252: the trailer check reads bytes, not text.
	cp1252Row := "PRA~1~Ynys M\xf4n~x\n"
	tests := []struct {
		name    string
		tail    string
		dialect format.Dialect
		want    bool
	}{
		{"v2 trailer", "HDR~x\n" + cp1252Row + "TRL~3\n", format.DialectGOv2, true},
		{"v2 trailer, CRLF and blank lines after", "PRA~1\r\nTRL~3\r\n\r\n\n", format.DialectGOv2, true},
		{"v2 trailer without a final newline", "PRA~1\nTRL~3", format.DialectGOv2, true},
		{"v2 tail is a trailer alone", "TRL~12", format.DialectGOv2, true},
		{"v2 cut inside a row", "HDR~x\n" + cp1252Row + "PRA~2~Cae", format.DialectGOv2, false},
		{"v2 cut inside the trailer", "PRA~1\nTRL~", format.DialectGOv2, false},
		{"v2 trailer count not a number", "PRA~1\nTRL~3x\n", format.DialectGOv2, false},
		{"v2 TRL inside a row's text", "PRA~TRL~3\n", format.DialectGOv2, false},
		{"v2 a row starting TRL", "TRLX~3\n", format.DialectGOv2, false},
		{"empty", "", format.DialectGOv2, false},
		{"blank", "\n\r\n  \n", format.DialectGOv2, false},
		{"v1 footer", "PER,1\nFTR,GO_412_PER_20240401_Full_00000001.DAT,1\n", format.DialectGOv1, true},
		{"v1 footer without count", "PER,1\nFTR,GO_412_PER_20240401_Full_00000001.DAT\n", format.DialectGOv1, false},
		{"v1 cut inside a row", "PER,1\nASG,2,", format.DialectGOv1, false},
		{"v2 trailer in a v1 file", "PER,1\nTRL~3\n", format.DialectGOv1, false},
	}
	for _, tt := range tests {
		if got := endsWithTrailer([]byte(tt.tail), tt.dialect); got != tt.want {
			t.Errorf("%s: endsWithTrailer = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestFinalName(t *testing.T) {
	const name = "GO_412_EXP_GOF_20240401_00000001.DAT"
	for _, in := range []string{name + ".part", name + ".PART", name + ".tmp", name + ".filepart", "." + name + ".part", "." + name, "." + name + ".Xy12Ab"} {
		if got, ok := finalName(in); !ok || got != name {
			t.Errorf("finalName(%q) = %q, %v; want %q", in, got, ok, name)
		}
	}
	for _, in := range []string{"staff.csv.part", ".bashrc", name + ".Xy12Ab", ".x.part"} {
		if got, ok := finalName(in); ok {
			t.Errorf("finalName(%q) = %q, want no ESR name", in, got)
		}
	}
}

// Feed order: by sequence, a full file before a change file of the same
// sequence, a delivered file before a leftover upload of its own name.
func TestFeedOrder(t *testing.T) {
	mk := func(name string, part bool) candidate {
		c := candidate{name: name, part: part}
		final := name
		if part {
			final, _ = finalName(name)
			c.final = final
		}
		c.describeName(final)
		return c
	}
	got := []candidate{
		mk("GO_412_EXP_GOC_20240403_00000003.DAT", false),
		mk("GO_412_EXP_GOC_20240402_00000002.DAT", false),
		mk(".GO_412_EXP_GOF_20240402_00000002.DAT.part", true),
		mk("GO_412_EXP_GOF_20240402_00000002.DAT", false),
		mk("staff.csv", false),
	}
	slices.SortFunc(got, feedOrder)
	var names []string
	for _, c := range got {
		names = append(names, c.name)
	}
	want := []string{"staff.csv", "GO_412_EXP_GOF_20240402_00000002.DAT", ".GO_412_EXP_GOF_20240402_00000002.DAT.part",
		"GO_412_EXP_GOC_20240402_00000002.DAT", "GO_412_EXP_GOC_20240403_00000003.DAT"}
	if !slices.Equal(names, want) {
		t.Errorf("order %v\nwant %v", names, want)
	}
}

// fakeInfo is the part of a file's stat the watcher looks at.
type fakeInfo struct {
	size int64
	mod  time.Time
}

func (f fakeInfo) Name() string       { return "f" }
func (f fakeInfo) Size() int64        { return f.size }
func (f fakeInfo) Mode() fs.FileMode  { return 0o640 }
func (f fakeInfo) ModTime() time.Time { return f.mod }
func (f fakeInfo) IsDir() bool        { return false }
func (f fakeInfo) Sys() any           { return nil }

// The watcher's decisions on an injected clock: settle, rename, trailer,
// incomplete-after.
func TestWatcherReadiness(t *testing.T) {
	const settle, after = 2 * time.Second, time.Hour
	t0 := time.Date(2024, 4, 1, 3, 0, 0, 0, time.UTC)
	mod := t0.Add(-time.Minute)
	esr := candidate{path: "/d/RXX/GO_412_EXP_GOF_20240401_00000001.DAT", esr: true}
	trailer := func(has bool, calls *int) func() (bool, error) {
		return func() (bool, error) { *calls++; return has, nil }
	}
	step := func(w *watcher, c candidate, size int64, scan uint64, now time.Time, has bool, calls *int) readiness {
		c.info = fakeInfo{size: size, mod: mod.Add(time.Duration(size))}
		r, err := w.readiness(c, scan, now, trailer(has, calls))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	t.Run("settles, then the trailer decides", func(t *testing.T) {
		w, calls := newWatcher(settle, after), 0
		if r := step(w, esr, 100, 1, t0, true, &calls); r != notComplete {
			t.Fatalf("first sight: %v, want notComplete", r)
		}
		if r := step(w, esr, 100, 2, t0.Add(settle-time.Millisecond), true, &calls); r != notComplete || calls != 0 {
			t.Fatalf("before settle: %v (%d tail reads)", r, calls)
		}
		if r := step(w, esr, 100, 3, t0.Add(settle), true, &calls); r != complete || calls != 1 {
			t.Fatalf("settled with a trailer: %v (%d tail reads), want complete", r, calls)
		}
	})
	t.Run("without a trailer it waits, then is overdue", func(t *testing.T) {
		w, calls := newWatcher(settle, after), 0
		step(w, esr, 100, 1, t0, false, &calls)
		if r := step(w, esr, 100, 2, t0.Add(settle), false, &calls); r != notComplete {
			t.Fatalf("settled, no trailer: %v, want notComplete", r)
		}
		if r := step(w, esr, 100, 3, t0.Add(after-time.Second), false, &calls); r != notComplete || calls != 1 {
			t.Fatalf("no trailer, before incomplete-after: %v (%d tail reads, want 1: once per size)", r, calls)
		}
		// Growing again restarts both clocks and the tail is read again.
		step(w, esr, 200, 4, t0.Add(after), false, &calls)
		if r := step(w, esr, 200, 5, t0.Add(after+settle), false, &calls); r != notComplete || calls != 2 {
			t.Fatalf("grew: %v (%d tail reads)", r, calls)
		}
		if r := step(w, esr, 200, 6, t0.Add(2*after), false, &calls); r != overdue {
			t.Fatalf("unchanged for incomplete-after: %v, want overdue", r)
		}
	})
	t.Run("renamed into place needs no settle", func(t *testing.T) {
		w, calls := newWatcher(settle, after), 0
		w.sawPart(esr.path, 1)
		if r := step(w, esr, 100, 2, t0, true, &calls); r != complete {
			t.Fatalf("renamed, with a trailer: %v, want complete", r)
		}
	})
	t.Run("a leftover part beside a file written in place is no rename", func(t *testing.T) {
		w, calls := newWatcher(settle, after), 0
		w.sawPart(esr.path, 1)
		if r := step(w, esr, 100, 1, t0, true, &calls); r != notComplete {
			t.Fatalf("part seen in the same scan: %v, want notComplete", r)
		}
	})
	t.Run("not an ESR name: settle only", func(t *testing.T) {
		w, calls := newWatcher(settle, after), 0
		other := candidate{path: "/d/RXX/staff.csv"}
		step(w, other, 100, 1, t0, false, &calls)
		if r := step(w, other, 100, 2, t0.Add(settle), false, &calls); r != complete || calls != 0 {
			t.Fatalf("%v (%d tail reads), want complete without reading the tail", r, calls)
		}
	})
}

// The scan loop looks again when the earliest file first seen in a scan can
// have settled: not for a file settled already (waiting on its trailer or
// an earlier file), renamed into place, or seen in an earlier scan only.
func TestWatcherSettling(t *testing.T) {
	const settle, after = 2 * time.Second, time.Hour
	t0 := time.Date(2024, 4, 1, 3, 0, 0, 0, time.UTC)
	info := fakeInfo{size: 100, mod: t0.Add(-time.Minute)}
	w := newWatcher(settle, after)
	if _, ok := w.settling(1, t0); ok {
		t.Fatal("nothing seen, yet a time to look again")
	}
	a := candidate{path: "/d/RXX/a.csv", info: info}
	b := candidate{path: "/d/RXX/b.csv", info: info}
	w.observe(a.path, a.info, 1, t0)
	w.observe(b.path, b.info, 1, t0.Add(time.Second))
	if at, ok := w.settling(1, t0.Add(time.Second)); !ok || !at.Equal(t0.Add(settle)) {
		t.Fatalf("settling = %v %v, want the earlier file's settle, %v", at, ok, t0.Add(settle))
	}
	if _, ok := w.settling(2, t0.Add(time.Second)); ok {
		t.Error("files seen only in scan 1 counted in scan 2")
	}
	// At a's settle time a is stable; b settles a second later.
	w.observe(a.path, a.info, 2, t0.Add(settle))
	w.observe(b.path, b.info, 2, t0.Add(settle))
	if at, ok := w.settling(2, t0.Add(settle)); !ok || !at.Equal(t0.Add(time.Second+settle)) {
		t.Fatalf("settling = %v %v, want b's settle, %v (a is settled)", at, ok, t0.Add(time.Second+settle))
	}
	// A file renamed into place, or settled and waiting on its trailer, is
	// not waited for.
	w = newWatcher(settle, after)
	w.sawPart(a.path, 1)
	w.observe(a.path, a.info, 2, t0)
	esr := candidate{path: "/d/RXX/GO_412_EXP_GOF_20240401_00000001.DAT", esr: true, info: info}
	w.observe(esr.path, esr.info, 2, t0.Add(-settle))
	if _, err := w.readiness(esr, 2, t0, func() (bool, error) { return false, nil }); err != nil {
		t.Fatal(err)
	}
	if at, ok := w.settling(2, t0); ok {
		t.Errorf("settling = %v: a renamed file and one waiting on its trailer need no early look", at)
	}
}
