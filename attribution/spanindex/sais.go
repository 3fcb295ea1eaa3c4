package spanindex

import "sync/atomic"

// SA-IS (Nong, Zhang and Chan, "Two efficient algorithms for linear time
// suffix array construction", 2011) over an integer alphabet.
//
// The text t holds symbols in [0, k); the end of the text is a virtual
// sentinel smaller than every symbol, so t needs no terminator. sa must have
// len(t) entries; it receives the suffix array. Working memory beyond t and
// sa is the bucket array (k entries per level of recursion) and a type
// bitmap (n bits per level); the reduced problem of every level is solved
// inside sa itself. t and sa may be backed by memory-mapped files.

// symbol is a text element: uint16 for the top level of a vocabulary below
// 65,536 (half the memory traffic), int32 otherwise and for recursion.
type symbol interface{ ~uint16 | ~int32 }

// saisInt32 computes the suffix array of t (symbols in [0, k)) into sa.
func saisInt32(t []int32, sa []int32, k int) { sais(t, sa, k) }

// sais computes the suffix array of t (symbols in [0, k)) into sa.
func sais[T symbol](t []T, sa []int32, k int) {
	n := len(t)
	switch n {
	case 0:
		return
	case 1:
		sa[0] = 0
		return
	}
	typ := newTypes(t)
	counts := make([]int32, k)
	for _, c := range t {
		counts[c]++
	}
	bkt := make([]int32, k)

	// Stage 1: place LMS positions at the ends of their buckets, induce,
	// and so sort the LMS substrings.
	for i := range sa {
		sa[i] = -1
	}
	bucketEnds(counts, bkt)
	for i := n - 1; i >= 1; i-- {
		if typ.lms(i) {
			c := t[i]
			bkt[c]--
			sa[bkt[c]] = int32(i)
		}
	}
	induceL(t, sa, counts, bkt)
	induceS(t, sa, counts, bkt)

	// Compact the sorted LMS positions into sa[:m].
	m := 0
	for i := 0; i < n; i++ {
		j := int(sa[i])
		if j > 0 && typ.lms(j) {
			sa[m] = int32(j)
			m++
		}
	}
	for i := m; i < n; i++ {
		sa[i] = -1
	}
	// Name the LMS substrings; equal substrings get equal names.
	names := 0
	prev := -1
	for i := 0; i < m; i++ {
		p := int(sa[i])
		if prev < 0 || !equalLMS(t, typ, prev, p) {
			names++
			prev = p
		}
		sa[m+p>>1] = int32(names - 1)
	}
	// Gather the names in text order into sa[n-m:].
	j := n - 1
	for i := n - 1; i >= m; i-- {
		if sa[i] >= 0 {
			sa[j] = sa[i]
			j--
		}
	}

	// Stage 2: sort the reduced string (recursively when names repeat).
	s1 := sa[n-m:]
	sa1 := sa[:m]
	if names < m {
		sais(s1, sa1, names)
	} else {
		for i := 0; i < m; i++ {
			sa1[s1[i]] = int32(i)
		}
	}

	// Stage 3: map the reduced order back to LMS positions and induce the
	// full suffix array from them.
	j = n - m
	for i := 1; i < n; i++ {
		if typ.lms(i) {
			sa[j] = int32(i)
			j++
		}
	}
	for i := 0; i < m; i++ {
		sa[i] = sa[n-m+int(sa[i])]
	}
	for i := m; i < n; i++ {
		sa[i] = -1
	}
	bucketEnds(counts, bkt)
	for i := m - 1; i >= 0; i-- {
		p := sa[i]
		sa[i] = -1
		c := t[p]
		bkt[c]--
		sa[bkt[c]] = p
	}
	induceL(t, sa, counts, bkt)
	induceS(t, sa, counts, bkt)
}

// types is a bitmap: bit i set when suffix i is S-type.
type types []uint64

func newTypes[T symbol](t []T) types {
	n := len(t)
	b := make(types, (n+63)/64)
	// Suffix n-1 is L-type (the virtual sentinel is smaller than t[n-1]).
	sType := false
	for i := n - 2; i >= 0; i-- {
		if t[i] < t[i+1] || (t[i] == t[i+1] && sType) {
			sType = true
		} else {
			sType = false
		}
		if sType {
			b[i>>6] |= 1 << (uint(i) & 63)
		}
	}
	return b
}

func (b types) s(i int) bool { return b[i>>6]>>(uint(i)&63)&1 == 1 }

// lms reports whether i is a leftmost S-type position (i > 0).
func (b types) lms(i int) bool { return i > 0 && b.s(i) && !b.s(i-1) }

func bucketStarts(counts, bkt []int32) {
	var sum int32
	for c, x := range counts {
		bkt[c] = sum
		sum += x
	}
}

func bucketEnds(counts, bkt []int32) {
	var sum int32
	for c, x := range counts {
		sum += x
		bkt[c] = sum
	}
}

// induceL induces the L-type suffixes from the sorted LMS suffixes. While
// it runs, sa holds only LMS and L-type suffixes, so the predecessor j of
// a listed suffix j+1 is L-type exactly when t[j] >= t[j+1] (if j+1 is
// LMS, j is L-type and t[j] > t[j+1]; if j+1 is L-type, j is L-type iff
// t[j] >= t[j+1]).
func induceL[T symbol](t []T, sa []int32, counts, bkt []int32) {
	n := len(t)
	bucketStarts(counts, bkt)
	// The sentinel's predecessor, suffix n-1, is L-type and comes first.
	c := t[n-1]
	sa[bkt[c]] = int32(n - 1)
	bkt[c]++
	var sink T
	for i := 0; i < n; i++ {
		// Touch the text of the suffix lookahead entries ahead so its cache
		// miss overlaps with this iteration's work (Go has no prefetch).
		if i+lookahead < n {
			if p := sa[i+lookahead]; p > 0 {
				sink ^= t[p-1]
			}
		}
		j := int(sa[i]) - 1
		if j >= 0 {
			if c := t[j]; c >= t[j+1] {
				sa[bkt[c]] = int32(j)
				bkt[c]++
			}
		}
	}
	touched.Add(int64(sink))
}

// lookahead is how many suffix-array entries ahead the induction loops
// touch the text; touched keeps those loads from being optimised away.
const lookahead = 24

var touched atomic.Int64

// induceS induces the S-type suffixes from right to left. The suffix at
// position i of bucket c is S-type exactly when i >= bkt[c] at that moment
// (S-type suffixes fill each bucket from its end and each is placed before
// the scan reaches it), so the predecessor j of a listed suffix j+1 is
// S-type when t[j] < t[j+1], or t[j] == t[j+1] and j+1 is S-type. No type
// bitmap is read.
func induceS[T symbol](t []T, sa []int32, counts, bkt []int32) {
	n := len(t)
	bucketEnds(counts, bkt)
	var sink T
	for i := n - 1; i >= 0; i-- {
		if i >= lookahead {
			if p := sa[i-lookahead]; p > 0 {
				sink ^= t[p-1]
			}
		}
		j := int(sa[i]) - 1
		if j < 0 {
			continue
		}
		c0, c1 := t[j], t[j+1]
		if c0 < c1 || (c0 == c1 && int32(i) >= bkt[c1]) {
			bkt[c0]--
			sa[bkt[c0]] = int32(j)
		}
	}
	touched.Add(int64(sink))
}

// equalLMS reports whether the LMS substrings at p and q are equal.
func equalLMS[T symbol](t []T, typ types, p, q int) bool {
	n := len(t)
	for d := 0; ; d++ {
		if p+d == n || q+d == n {
			return false
		}
		if t[p+d] != t[q+d] || typ.s(p+d) != typ.s(q+d) {
			return false
		}
		if d > 0 && typ.lms(p+d) {
			return true
		}
	}
}
