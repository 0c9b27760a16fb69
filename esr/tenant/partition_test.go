package tenant

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// trusts builds n synthetic tenants T001..Tn with VPDs 100.., in order.
func trusts(n int) []Tenant {
	ts := make([]Tenant, n)
	for i := range ts {
		ts[i] = Tenant{Code: fmt.Sprintf("T%03d", i+1), VPDs: []string{fmt.Sprint(100 + i)}}
	}
	return ts
}

func TestPartitionSpreadsTenantsEvenly(t *testing.T) {
	for _, c := range []struct{ tenants, partitions int }{{20, 6}, {20, 4}, {20, 12}, {7, 3}, {3, 6}} {
		s, err := New(trusts(c.tenants)...)
		if err != nil {
			t.Fatal(err)
		}
		per := make([]int, c.partitions)
		for _, code := range s.Codes() {
			p, ok := s.Partition(code, c.partitions)
			if !ok || p < 0 || p >= c.partitions {
				t.Fatalf("%d tenants over %d: %s -> %d, %v", c.tenants, c.partitions, code, p, ok)
			}
			per[p]++
		}
		lo, hi := per[0], per[0]
		for _, n := range per {
			lo, hi = min(lo, n), max(hi, n)
		}
		if hi-lo > 1 {
			t.Errorf("%d tenants over %d partitions: %v, want at most one tenant between fullest and emptiest", c.tenants, c.partitions, per)
		}
	}
}

func TestPartitionIsStableWhenTenantsAreAppended(t *testing.T) {
	before, err := New(trusts(13)...)
	if err != nil {
		t.Fatal(err)
	}
	after, err := New(trusts(20)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 4, 6, 12} {
		for _, code := range before.Codes() {
			p0, _ := before.Partition(code, n)
			p1, _ := after.Partition(code, n)
			if p0 != p1 {
				t.Errorf("%d partitions: %s moved from %d to %d when tenants were appended", n, code, p0, p1)
			}
		}
	}
}

func TestPartitionPinAndUnknownTenant(t *testing.T) {
	ts := trusts(4)
	ts[1].Partition = PinNumber(5)
	s, err := New(ts...)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := s.Partition("t002", 6); !ok || p != 5 {
		t.Errorf("pinned T002 over 6 = %d, %v; want 5", p, ok)
	}
	if p, _ := s.Partition("T002", 4); p != 1 {
		t.Errorf("pin 5 over 4 partitions = %d, want 1 (it wraps)", p)
	}
	// A pin keeps its own position, so the tenants after it do not move.
	if p, _ := s.Partition("T003", 6); p != 2 {
		t.Errorf("T003 after a pinned tenant = %d, want 2 (its position)", p)
	}
	if _, ok := s.Partition("RZZ", 6); ok {
		t.Error("an unknown tenant has an assigned partition")
	}
	var none *Set
	if _, ok := none.Partition("T001", 6); ok {
		t.Error("a nil Set assigned a partition")
	}
	ts[2].Partition = PinNumber(-1)
	if _, err := New(ts...); err == nil || !strings.Contains(err.Error(), "partition must be >= 0") {
		t.Errorf("negative pin: %v", err)
	}
}

func TestPartitionFollowsTheFileOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tenants.yaml")
	yaml := "tenants:\n  - {code: RZZ, vpds: [\"101\"]}\n  - {code: RAA, vpds: [\"102\"], partition: 0}\n  - {code: RMM, vpds: [\"103\"]}\n  - {code: ROO, vpds: [\"104\"], partition: hash}\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for code, want := range map[string]int{"RZZ": 0, "RAA": 0, "RMM": 2} {
		if p, _ := s.Partition(code, 3); p != want {
			t.Errorf("%s = %d, want %d (file order, not sorted codes)", code, p, want)
		}
	}
	if _, ok := s.Partition("ROO", 3); ok {
		t.Error("partition: hash assigned a partition; want the hash placement (false)")
	}
	if err := os.WriteFile(path, []byte("tenants:\n  - {code: RZZ, vpds: [\"101\"], partition: first}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "partition number or") {
		t.Errorf("partition: first accepted: %v", err)
	}
}

func TestWithHashPlacementKeepsOldTenantsOnTheirHash(t *testing.T) {
	ts := trusts(3)
	ts[2].Partition = PinNumber(4)
	s, err := New(ts...)
	if err != nil {
		t.Fatal(err)
	}
	legacy := s.WithHashPlacement("t001", "T003", "RZZ")
	if _, ok := legacy.Partition("T001", 6); ok {
		t.Error("T001 kept an assigned partition; want the hash placement")
	}
	if p, ok := legacy.Partition("T002", 6); !ok || p != 1 {
		t.Errorf("T002 (not named) = %d, %v; want its position 1", p, ok)
	}
	if p, _ := legacy.Partition("T003", 6); p != 4 {
		t.Errorf("T003's own pin = %d, want 4: an explicit pin wins", p)
	}
	if _, ok := s.Partition("T001", 6); !ok {
		t.Error("WithHashPlacement changed the original Set")
	}
}
