package types

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
)

// The datanet Merkle tree follows RFC 6962 §2.1: leaf hash = SHA-256(0x00 || leaf),
// node hash = SHA-256(0x01 || left || right), and a tree of n leaves splits at the
// largest power of two smaller than n. The tree is append-only; the keeper stores the
// hash of every perfect subtree (level L, index i covers leaves [i·2^L, (i+1)·2^L)),
// which is enough to compute the root and an inclusion proof for any earlier size.

// HashSize is the size of every node hash.
const HashSize = sha256.Size

// maxTreeLevels bounds every loop over tree levels (a tree has fewer than 2^64 leaves).
const maxTreeLevels = 64

// NodeStore reads and writes perfect-subtree hashes of one tree.
type NodeStore interface {
	GetNode(level uint32, index uint64) ([]byte, error)
	SetNode(level uint32, index uint64, hash []byte) error
}

// LeafHash returns the RFC 6962 hash of a leaf's canonical bytes.
func LeafHash(leaf []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(leaf)
	return h.Sum(nil)
}

// NodeHash returns the RFC 6962 hash of an interior node.
func NodeHash(left, right []byte) []byte {
	h := sha256.New()
	h.Write([]byte{1})
	h.Write(left)
	h.Write(right)
	return h.Sum(nil)
}

// EmptyRoot is the root of a tree with no leaves: SHA-256 of the empty string.
func EmptyRoot() []byte {
	h := sha256.Sum256(nil)
	return h[:]
}

// ContributionLeaf returns the canonical leaf bytes of an accepted contribution:
//
//	uint64be(id) || uint16be(len(addr)) || addr || uint16be(len(cid)) || cid || sha256[32] || uint64be(size)
//
// where addr is the contributor's raw address bytes and cid the binary CID.
func ContributionLeaf(id uint64, contributor []byte, cidBytes []byte, digest []byte, size uint64) ([]byte, error) {
	if len(contributor) == 0 || len(contributor) > 0xffff {
		return nil, fmt.Errorf("contributor address length %d out of range", len(contributor))
	}
	if len(cidBytes) == 0 || len(cidBytes) > 0xffff {
		return nil, fmt.Errorf("cid length %d out of range", len(cidBytes))
	}
	if len(digest) != sha256.Size {
		return nil, fmt.Errorf("sha256 must be %d bytes, got %d", sha256.Size, len(digest))
	}
	buf := make([]byte, 0, 8+2+len(contributor)+2+len(cidBytes)+sha256.Size+8)
	buf = binary.BigEndian.AppendUint64(buf, id)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(contributor)))
	buf = append(buf, contributor...)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(cidBytes)))
	buf = append(buf, cidBytes...)
	buf = append(buf, digest...)
	buf = binary.BigEndian.AppendUint64(buf, size)
	return buf, nil
}

// AppendLeaf adds the leaf hash at position size (the current leaf count) and stores
// every perfect subtree it completes: O(log n) writes.
func AppendLeaf(s NodeStore, size uint64, leafHash []byte) error {
	if err := s.SetNode(0, size, leafHash); err != nil {
		return err
	}
	index, level, hash := size, uint32(0), leafHash
	for index&1 == 1 && level < maxTreeLevels {
		left, err := s.GetNode(level, index-1)
		if err != nil {
			return err
		}
		hash = NodeHash(left, hash)
		level++
		index >>= 1
		if err := s.SetNode(level, index, hash); err != nil {
			return err
		}
	}
	return nil
}

// Root returns the root of the first size leaves: O(log n) reads.
func Root(s NodeStore, size uint64) ([]byte, error) {
	if size == 0 {
		return EmptyRoot(), nil
	}
	// Perfect subtrees from left to right, one per set bit of size, largest first.
	var peaks [][]byte
	var offset uint64
	for level := maxTreeLevels - 1; level >= 0; level-- {
		width := uint64(1) << uint(level)
		if size&width == 0 {
			continue
		}
		h, err := s.GetNode(uint32(level), offset>>uint(level))
		if err != nil {
			return nil, err
		}
		peaks = append(peaks, h)
		offset += width
	}
	root := peaks[len(peaks)-1]
	for i := len(peaks) - 2; i >= 0; i-- {
		root = NodeHash(peaks[i], root)
	}
	return root, nil
}

// subtreeHash is MTH(D[start:start+n]) for a range that occurs in RFC 6962's recursion.
func subtreeHash(s NodeStore, start, n uint64, depth int) ([]byte, error) {
	if depth > 2*maxTreeLevels {
		return nil, fmt.Errorf("merkle recursion too deep")
	}
	if n&(n-1) == 0 && start%n == 0 {
		return s.GetNode(uint32(bits.TrailingZeros64(n)), start/n)
	}
	k := largestPowerOfTwoBelow(n)
	left, err := subtreeHash(s, start, k, depth+1)
	if err != nil {
		return nil, err
	}
	right, err := subtreeHash(s, start+k, n-k, depth+1)
	if err != nil {
		return nil, err
	}
	return NodeHash(left, right), nil
}

// largestPowerOfTwoBelow returns the largest power of two strictly smaller than n (n >= 2).
func largestPowerOfTwoBelow(n uint64) uint64 {
	return uint64(1) << (63 - bits.LeadingZeros64(n-1))
}

// InclusionPath returns the RFC 6962 audit path of leaf m in the tree of the first
// size leaves, ordered from the leaf upwards.
func InclusionPath(s NodeStore, m, size uint64) ([][]byte, error) {
	if m >= size {
		return nil, ErrNotInVersion.Wrapf("leaf %d is not among the first %d leaves", m, size)
	}
	var path [][]byte
	start, n := uint64(0), size
	// Walk down from the root, collecting siblings; prepend so the path runs leaf-up.
	for depth := 0; n > 1 && depth < maxTreeLevels+1; depth++ {
		k := largestPowerOfTwoBelow(n)
		var sibling []byte
		var err error
		if m-start < k {
			sibling, err = subtreeHash(s, start+k, n-k, 0)
			n = k
		} else {
			sibling, err = subtreeHash(s, start, k, 0)
			start += k
			n -= k
		}
		if err != nil {
			return nil, err
		}
		path = append([][]byte{sibling}, path...)
	}
	return path, nil
}

// VerifyInclusion checks an audit path (RFC 9162 §2.1.3.2) for leaf index m in a
// tree of size leaves against root.
func VerifyInclusion(leafHash []byte, m, size uint64, path [][]byte, root []byte) error {
	if m >= size {
		return ErrInvalidProof.Wrapf("leaf index %d is not below tree size %d", m, size)
	}
	fn, sn := m, size-1
	r := leafHash
	for _, p := range path {
		if len(p) != HashSize {
			return ErrInvalidProof.Wrapf("path element has %d bytes, want %d", len(p), HashSize)
		}
		if sn == 0 {
			return ErrInvalidProof.Wrap("audit path is longer than the tree is deep")
		}
		if fn&1 == 1 || fn == sn {
			r = NodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = NodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return ErrInvalidProof.Wrap("audit path is shorter than the tree is deep")
	}
	if !bytes.Equal(r, root) {
		return ErrInvalidProof.Wrapf("computed root %x does not match %x", r, root)
	}
	return nil
}

// DecodeHash parses a hex node hash.
func DecodeHash(field, s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != HashSize {
		return nil, ErrInvalidProof.Wrapf("%s: must be %d hex characters", field, 2*HashSize)
	}
	return b, nil
}
