package voucher

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"
)

// The receipts tree follows RFC 6962 §2.1 over leaf hashes (Receipt.LeafHash already
// applies the 0x00 leaf prefix): the root of no leaves is SHA-256(""), of one leaf the
// leaf hash itself, and of n > 1 leaves SHA-256(0x01 || root(first k) || root(rest))
// where k is the largest power of two smaller than n.

// maxProofLen bounds an inclusion proof: a tree has fewer than 2^64 leaves.
const maxProofLen = 64

// EmptyRoot is the root of a tree with no leaves: SHA-256 of the empty string.
var EmptyRoot = sha256.Sum256(nil)

func nodeHash(l, r [32]byte) [32]byte {
	var buf [1 + 64]byte
	buf[0] = 0x01
	copy(buf[1:33], l[:])
	copy(buf[33:], r[:])
	return sha256.Sum256(buf[:])
}

// Root returns the RFC 6962 root of the given leaf hashes.
func Root(leaves [][32]byte) [32]byte {
	var a Accumulator
	for _, l := range leaves {
		a.Append(l)
	}
	return a.Root()
}

// Accumulator computes the root of a growing list of leaf hashes in O(log n) memory: it
// keeps the root of each perfect subtree of the binary decomposition of the size, the
// largest (leftmost) first. The zero value is an empty tree; copies are independent. A
// provider keeps one per session and persists it with MarshalBinary.
type Accumulator struct {
	n     uint64
	k     int          // bits.OnesCount64(n)
	peaks [64][32]byte // peaks[:k], largest subtree first
}

// Len returns the number of leaves appended.
func (a *Accumulator) Len() uint64 { return a.n }

// Append adds one leaf hash.
func (a *Accumulator) Append(leaf [32]byte) {
	h := leaf
	// Each trailing one bit of n is a perfect subtree of the same size as the one being
	// carried: merge them, like a binary counter's carry. (2^64 leaves are unreachable.)
	for m := a.n; m&1 == 1; m >>= 1 {
		a.k--
		h = nodeHash(a.peaks[a.k], h)
	}
	a.peaks[a.k] = h
	a.k++
	a.n++
}

// Root returns the root of the leaves appended so far.
func (a *Accumulator) Root() [32]byte {
	if a.k == 0 {
		return EmptyRoot
	}
	h := a.peaks[a.k-1]
	for i := a.k - 2; i >= 0; i-- {
		h = nodeHash(a.peaks[i], h)
	}
	return h
}

// MarshalBinary encodes the accumulator as u64be(n) followed by popcount(n) 32-byte
// subtree roots, largest first.
func (a *Accumulator) MarshalBinary() ([]byte, error) {
	b := make([]byte, 8, 8+32*a.k)
	binary.BigEndian.PutUint64(b, a.n)
	for _, p := range a.peaks[:a.k] {
		b = append(b, p[:]...)
	}
	return b, nil
}

// UnmarshalBinary reverses MarshalBinary strictly.
func (a *Accumulator) UnmarshalBinary(b []byte) error {
	if len(b) < 8 {
		return fmt.Errorf("%w: accumulator: %d bytes", ErrMalformed, len(b))
	}
	n := binary.BigEndian.Uint64(b)
	k := bits.OnesCount64(n)
	if len(b) != 8+32*k {
		return fmt.Errorf("%w: accumulator of %d leaves: %d bytes, want %d", ErrMalformed, n, len(b), 8+32*k)
	}
	*a = Accumulator{n: n, k: k}
	for i := range k {
		copy(a.peaks[i][:], b[8+32*i:])
	}
	return nil
}

// splitPoint returns the largest power of two smaller than n (n >= 2).
func splitPoint(n int) int {
	return 1 << (bits.Len(uint(n-1)) - 1)
}

// Proof returns the RFC 6962 inclusion proof (audit path) of leaves[i], the sibling
// hashes from the leaf up to the root.
func Proof(leaves [][32]byte, i int) ([][32]byte, error) {
	if i < 0 || i >= len(leaves) {
		return nil, fmt.Errorf("%w: leaf index %d out of [0, %d)", ErrBadProof, i, len(leaves))
	}
	var path [][32]byte
	for len(leaves) > 1 {
		k := splitPoint(len(leaves))
		if i < k {
			path = append(path, Root(leaves[k:]))
			leaves = leaves[:k]
		} else {
			path = append(path, Root(leaves[:k]))
			leaves, i = leaves[k:], i-k
		}
	}
	// Collected root-first; the proof lists siblings leaf-first.
	for l, r := 0, len(path)-1; l < r; l, r = l+1, r-1 {
		path[l], path[r] = path[r], path[l]
	}
	return path, nil
}

// VerifyProof checks that leaf is leaf number i of a tree of n leaves with the given
// root (RFC 9162 §2.1.3.2). The proof binds the leaf to the root, but does not always
// detect a wrong n or i (the path of leaf 0 of 3 leaves has the shape of one in 4), so
// take n from a trusted source and i from the leaf's own content where it matters.
func VerifyProof(root, leaf [32]byte, i, n uint64, proof [][32]byte) error {
	if i >= n {
		return fmt.Errorf("%w: leaf index %d out of [0, %d)", ErrBadProof, i, n)
	}
	if len(proof) > maxProofLen {
		return fmt.Errorf("%w: %d hashes exceeds %d", ErrBadProof, len(proof), maxProofLen)
	}
	fn, sn, h := i, n-1, leaf
	for _, p := range proof {
		if sn == 0 {
			return fmt.Errorf("%w: proof too long", ErrBadProof)
		}
		if fn&1 == 1 || fn == sn {
			h = nodeHash(p, h)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			h = nodeHash(h, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return fmt.Errorf("%w: proof too short", ErrBadProof)
	}
	if h != root {
		return fmt.Errorf("%w: root mismatch", ErrBadProof)
	}
	return nil
}
