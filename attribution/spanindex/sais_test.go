package spanindex

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func naiveSA(t []int32) []int32 {
	sa := make([]int32, len(t))
	for i := range sa {
		sa[i] = int32(i)
	}
	slices.SortFunc(sa, func(a, b int32) int { return slices.Compare(t[a:], t[b:]) })
	return sa
}

func TestSAISMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 3000; iter++ {
		n := r.IntN(200)
		k := 1 + r.IntN(6)
		if iter%3 == 0 {
			k = 1 + r.IntN(300)
		}
		txt := make([]int32, n)
		for i := range txt {
			txt[i] = int32(r.IntN(k))
		}
		if iter%7 == 0 && n > 10 { // periodic texts stress recursion
			p := 1 + r.IntN(4)
			for i := p; i < n; i++ {
				txt[i] = txt[i-p]
			}
		}
		got := make([]int32, n)
		saisInt32(txt, got, k)
		want := naiveSA(txt)
		if !slices.Equal(got, want) {
			t.Fatalf("iter %d text %v: got %v want %v", iter, txt, got, want)
		}
		t16 := make([]uint16, n)
		for i, x := range txt {
			t16[i] = uint16(x)
		}
		clear(got)
		sais(t16, got, k)
		if !slices.Equal(got, want) {
			t.Fatalf("uint16: iter %d text %v: got %v want %v", iter, txt, got, want)
		}
	}
}
