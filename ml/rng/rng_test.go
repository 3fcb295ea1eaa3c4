package rng

import "testing"

// The first outputs of SplitMix64 seeded with 0 are published with the
// reference implementation; checking them pins the algorithm.
func TestSplitMix64ReferenceOutputs(t *testing.T) {
	r := New(0)
	want := []uint64{0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f}
	for i, w := range want {
		if got := r.Uint64(); got != w {
			t.Fatalf("output %d = %#x, want %#x", i, got, w)
		}
	}
}

func TestIntnRangeAndDerive(t *testing.T) {
	r := Derive(7, 1, 2)
	seen := make([]int, 10)
	for i := 0; i < 10000; i++ {
		v := r.Intn(10)
		if v < 0 || v >= 10 {
			t.Fatalf("Intn out of range: %d", v)
		}
		seen[v]++
	}
	for i, c := range seen {
		if c < 800 || c > 1200 {
			t.Fatalf("bucket %d has %d of 10000 draws", i, c)
		}
	}
	if Derive(7, 1, 2).Uint64() == Derive(7, 2, 1).Uint64() {
		t.Fatal("Derive streams (1,2) and (2,1) collide")
	}
	if Derive(7, 1, 2).Uint64() != Derive(7, 1, 2).Uint64() {
		t.Fatal("Derive is not reproducible")
	}
	f := New(3).Float64()
	if f < 0 || f >= 1 {
		t.Fatalf("Float64 out of range: %v", f)
	}
}
