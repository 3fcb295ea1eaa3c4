package types_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	"github.com/openledger/openledger/x/datanet/types"
)

// The reference below is RFC 6962 §2.1 transcribed literally: recursive, no stored
// nodes, its own hashing. The types package must agree with it everywhere.

func refLeaf(data []byte) []byte {
	h := sha256.Sum256(append([]byte{0x00}, data...))
	return h[:]
}

func refNode(l, r []byte) []byte {
	buf := append(append([]byte{0x01}, l...), r...)
	h := sha256.Sum256(buf)
	return h[:]
}

// refSplit is the largest power of two smaller than n (n > 1).
func refSplit(n int) int {
	k := 1
	for k*2 < n {
		k *= 2
	}
	return k
}

// refMTH is MTH(D[n]) over leaf hashes.
func refMTH(d [][]byte) []byte {
	switch n := len(d); n {
	case 0:
		h := sha256.Sum256(nil)
		return h[:]
	case 1:
		return d[0]
	default:
		k := refSplit(n)
		return refNode(refMTH(d[:k]), refMTH(d[k:]))
	}
}

// refPath is PATH(m, D[n]), leaf upwards.
func refPath(m int, d [][]byte) [][]byte {
	n := len(d)
	if n <= 1 {
		return nil
	}
	k := refSplit(n)
	if m < k {
		return append(refPath(m, d[:k]), refMTH(d[k:]))
	}
	return append(refPath(m-k, d[k:]), refMTH(d[:k]))
}

// memStore is an in-memory NodeStore that counts writes.
type memStore struct {
	nodes  map[[2]uint64][]byte
	writes int
}

func newMemStore() *memStore { return &memStore{nodes: map[[2]uint64][]byte{}} }

func (s *memStore) GetNode(level uint32, index uint64) ([]byte, error) {
	h, ok := s.nodes[[2]uint64{uint64(level), index}]
	if !ok {
		return nil, types.ErrInvalidProof.Wrapf("node (%d, %d) missing", level, index)
	}
	return h, nil
}

func (s *memStore) SetNode(level uint32, index uint64, hash []byte) error {
	s.nodes[[2]uint64{uint64(level), index}] = append([]byte(nil), hash...)
	s.writes++
	return nil
}

const maxTestLeaves = 70

func testLeaves(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = refLeaf([]byte(fmt.Sprintf("leaf %d", i)))
	}
	return out
}

func TestHashesMatchRFC6962(t *testing.T) {
	if !bytes.Equal(types.LeafHash([]byte("x")), refLeaf([]byte("x"))) {
		t.Fatal("leaf hash")
	}
	a, b := refLeaf([]byte("a")), refLeaf([]byte("b"))
	if !bytes.Equal(types.NodeHash(a, b), refNode(a, b)) {
		t.Fatal("node hash")
	}
	if !bytes.Equal(types.EmptyRoot(), refMTH(nil)) {
		t.Fatal("empty root")
	}
	// RFC 6962 test vector: the empty tree's root.
	if fmt.Sprintf("%x", types.EmptyRoot()) != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Fatal("empty root vector")
	}
}

// TestAppendRootPathAgainstReference checks, for every tree size 1..70 and every
// leaf, the root, the audit path and its verification against the reference; and
// that each append writes O(log n) nodes.
func TestAppendRootPathAgainstReference(t *testing.T) {
	leaves := testLeaves(maxTestLeaves)
	s := newMemStore()
	for i, l := range leaves {
		before := s.writes
		if err := types.AppendLeaf(s, uint64(i), l); err != nil {
			t.Fatal(err)
		}
		// The leaf itself plus one node per trailing one bit of i.
		want := 1
		for j := i; j&1 == 1; j >>= 1 {
			want++
		}
		if got := s.writes - before; got != want {
			t.Fatalf("append %d wrote %d nodes, want %d", i, got, want)
		}
	}
	// The store holds exactly the perfect subtrees of 70 leaves.
	want := 0
	for level := 0; 1<<level <= maxTestLeaves; level++ {
		want += maxTestLeaves >> level
	}
	if len(s.nodes) != want {
		t.Fatalf("%d nodes stored, want %d", len(s.nodes), want)
	}
	for size := 1; size <= maxTestLeaves; size++ {
		root, err := types.Root(s, uint64(size))
		if err != nil {
			t.Fatal(err)
		}
		if want := refMTH(leaves[:size]); !bytes.Equal(root, want) {
			t.Fatalf("size %d: root %x, want %x", size, root, want)
		}
		for m := 0; m < size; m++ {
			path, err := types.InclusionPath(s, uint64(m), uint64(size))
			if err != nil {
				t.Fatalf("size %d leaf %d: %v", size, m, err)
			}
			want := refPath(m, leaves[:size])
			if len(path) != len(want) {
				t.Fatalf("size %d leaf %d: path of %d, want %d", size, m, len(path), len(want))
			}
			for i := range path {
				if !bytes.Equal(path[i], want[i]) {
					t.Fatalf("size %d leaf %d: path[%d] differs", size, m, i)
				}
			}
			if err := types.VerifyInclusion(leaves[m], uint64(m), uint64(size), path, root); err != nil {
				t.Fatalf("size %d leaf %d: %v", size, m, err)
			}
			checkTampered(t, leaves, m, size, path, root)
		}
	}
}

// checkTampered checks that altered proofs of leaf m in a tree of size leaves fail.
func checkTampered(t *testing.T, leaves [][]byte, m, size int, path [][]byte, root []byte) {
	t.Helper()
	reject := func(what string, leaf []byte, idx, n uint64, p [][]byte, r []byte) {
		t.Helper()
		if err := types.VerifyInclusion(leaf, idx, n, p, r); !errors.Is(err, types.ErrInvalidProof) {
			t.Fatalf("size %d leaf %d: %s accepted (%v)", size, m, what, err)
		}
	}
	flip := func(b []byte) []byte {
		c := append([]byte(nil), b...)
		c[len(c)/2] ^= 0x01
		return c
	}
	reject("altered leaf", flip(leaves[m]), uint64(m), uint64(size), path, root)
	reject("altered root", leaves[m], uint64(m), uint64(size), path, flip(root))
	reject("index out of range", leaves[m], uint64(size), uint64(size), path, root)
	for i := range path {
		p := append([][]byte(nil), path...)
		p[i] = flip(p[i])
		reject(fmt.Sprintf("altered path[%d]", i), leaves[m], uint64(m), uint64(size), p, root)
		p[i] = path[i][:31]
		reject(fmt.Sprintf("short path[%d]", i), leaves[m], uint64(m), uint64(size), p, root)
	}
	if len(path) > 0 {
		reject("truncated path", leaves[m], uint64(m), uint64(size), path[:len(path)-1], root)
	}
	reject("extended path", leaves[m], uint64(m), uint64(size), append(append([][]byte(nil), path...), leaves[0]), root)
	if size > 1 {
		other := (m + 1) % size
		reject("another leaf's proof", leaves[other], uint64(m), uint64(size), path, root)
		reject("another index", leaves[m], uint64(other), uint64(size), path, root)
	}
}

func TestInclusionPathErrors(t *testing.T) {
	s := newMemStore()
	for i, l := range testLeaves(5) {
		if err := types.AppendLeaf(s, uint64(i), l); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := types.InclusionPath(s, 5, 5); !errors.Is(err, types.ErrNotInVersion) {
		t.Fatalf("leaf beyond the tree: %v", err)
	}
	// A size beyond what was appended reads nodes that do not exist.
	if _, err := types.Root(s, 6); err == nil {
		t.Fatal("root of more leaves than stored")
	}
	if _, err := types.InclusionPath(s, 0, 6); err == nil {
		t.Fatal("path in a tree larger than stored")
	}
	if err := types.VerifyInclusion(refLeaf(nil), 0, 0, nil, refMTH(nil)); !errors.Is(err, types.ErrInvalidProof) {
		t.Fatalf("empty tree: %v", err)
	}
	// A single-leaf tree's root is its leaf and the path is empty.
	one := newMemStore()
	l := refLeaf([]byte("only"))
	if err := types.AppendLeaf(one, 0, l); err != nil {
		t.Fatal(err)
	}
	if err := types.VerifyInclusion(l, 0, 1, nil, l); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeHash(t *testing.T) {
	good := fmt.Sprintf("%x", refLeaf(nil))
	if _, err := types.DecodeHash("root", good); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "zz", good[:62], good + "00"} {
		if _, err := types.DecodeHash("root", bad); !errors.Is(err, types.ErrInvalidProof) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}

func TestContributionLeafLayout(t *testing.T) {
	addr := bytes.Repeat([]byte{0xaa}, 20)
	cidBytes := []byte{0x01, 0x55, 0x12, 0x20}
	digest := bytes.Repeat([]byte{0xbb}, 32)
	leaf, err := types.ContributionLeaf(7, addr, cidBytes, digest, 513)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0, 0, 0, 0, 0, 0, 0, 7, 0, 20}
	want = append(want, addr...)
	want = append(want, 0, 4)
	want = append(want, cidBytes...)
	want = append(want, digest...)
	want = append(want, 0, 0, 0, 0, 0, 0, 2, 1)
	if !bytes.Equal(leaf, want) {
		t.Fatalf("leaf %x\nwant %x", leaf, want)
	}
	for _, tc := range []struct {
		name              string
		addr, cid, digest []byte
	}{
		{"empty address", nil, cidBytes, digest},
		{"empty cid", addr, nil, digest},
		{"short digest", addr, cidBytes, digest[:31]},
		{"huge address", make([]byte, 0x10000), cidBytes, digest},
	} {
		if _, err := types.ContributionLeaf(1, tc.addr, tc.cid, tc.digest, 1); err == nil {
			t.Fatalf("%s accepted", tc.name)
		}
	}
}
