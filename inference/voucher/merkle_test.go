package voucher_test

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/openledger/openledger/inference/voucher"
)

// naiveRoot is RFC 6962 MTH transcribed literally, over leaf hashes.
func naiveRoot(leaves [][32]byte) [32]byte {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := naiveRoot(leaves[:k]), naiveRoot(leaves[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

func leafSet(n int) [][32]byte {
	leaves := make([][32]byte, n)
	for i := range leaves {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(i))
		leaves[i] = sha256.Sum256(append([]byte{0}, b[:]...))
	}
	return leaves
}

func TestRootMatchesNaive(t *testing.T) {
	leaves := leafSet(200)
	var acc voucher.Accumulator
	for n := 0; n <= len(leaves); n++ {
		want := naiveRoot(leaves[:n])
		if got := voucher.Root(leaves[:n]); got != want {
			t.Fatalf("Root(%d leaves) = %x, want %x", n, got, want)
		}
		if got := acc.Root(); got != want || acc.Len() != uint64(n) {
			t.Fatalf("Accumulator after %d appends: root %x len %d, want %x", n, got, acc.Len(), want)
		}
		// Persisting and restoring mid-way changes nothing.
		b, err := acc.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var restored voucher.Accumulator
		if err := restored.UnmarshalBinary(b); err != nil {
			t.Fatalf("UnmarshalBinary after %d: %v", n, err)
		}
		if n < len(leaves) {
			restored.Append(leaves[n])
			acc.Append(leaves[n])
			if restored.Root() != acc.Root() {
				t.Fatalf("restored accumulator diverged after %d", n+1)
			}
		}
	}
	if voucher.Root(nil) != voucher.EmptyRoot || voucher.EmptyRoot != sha256.Sum256(nil) {
		t.Fatal("empty root is not SHA-256 of nothing")
	}
}

func TestAccumulatorCopiesAreIndependent(t *testing.T) {
	leaves := leafSet(3)
	var a voucher.Accumulator
	a.Append(leaves[0])
	b := a
	a.Append(leaves[1])
	b.Append(leaves[2])
	if a.Root() != naiveRoot(leaves[:2]) || b.Root() != naiveRoot([][32]byte{leaves[0], leaves[2]}) {
		t.Fatal("copies of an accumulator share state")
	}
}

func TestAccumulatorUnmarshalStrict(t *testing.T) {
	var acc voucher.Accumulator
	for _, l := range leafSet(5) { // 5 = 0b101: two subtree roots
		acc.Append(l)
	}
	good, _ := acc.MarshalBinary()
	if len(good) != 8+2*32 {
		t.Fatalf("accumulator of 5 is %d bytes", len(good))
	}
	for _, b := range [][]byte{nil, good[:7], good[:len(good)-1], append(append([]byte(nil), good...), 0)} {
		var a voucher.Accumulator
		if err := a.UnmarshalBinary(b); !errors.Is(err, voucher.ErrMalformed) {
			t.Fatalf("UnmarshalBinary(%d bytes) = %v, want ErrMalformed", len(b), err)
		}
	}
}

func TestProofs(t *testing.T) {
	leaves := leafSet(200)
	for _, n := range []int{1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 127, 128, 129, 200} {
		root := naiveRoot(leaves[:n])
		for i := range n {
			proof, err := voucher.Proof(leaves[:n], i)
			if err != nil {
				t.Fatal(err)
			}
			if err := voucher.VerifyProof(root, leaves[i], uint64(i), uint64(n), proof); err != nil {
				t.Fatalf("n=%d i=%d: %v", n, i, err)
			}
			fails := func(what string, root, leaf [32]byte, i, n uint64, proof [][32]byte) {
				t.Helper()
				if err := voucher.VerifyProof(root, leaf, i, n, proof); !errors.Is(err, voucher.ErrBadProof) {
					t.Fatalf("n=%d i=%d %s: err = %v, want ErrBadProof", n, i, what, err)
				}
			}
			ui, un := uint64(i), uint64(n)
			other := sha256.Sum256([]byte("other"))
			fails("wrong leaf", root, other, ui, un, proof)
			fails("wrong root", other, leaves[i], ui, un, proof)
			fails("index out of range", root, leaves[i], un, un, proof)
			if n > 1 {
				fails("wrong index", root, leaves[i], (ui+1)%un, un, proof)
				fails("truncated", root, leaves[i], ui, un, proof[:len(proof)-1])
				for j := range proof {
					bad := append([][32]byte(nil), proof...)
					bad[j][0] ^= 1
					fails("tampered hash", root, leaves[i], ui, un, bad)
				}
			}
			fails("extended", root, leaves[i], ui, un, append(append([][32]byte(nil), proof...), other))
			// An inclusion proof does not always detect a wrong tree size (the path of
			// leaf 0 of 3 leaves, [l1, l2], has the shape of a path in 4 leaves): n must
			// come from a trusted source, such as the voucher's count of receipts.
		}
	}
	if _, err := voucher.Proof(leaves[:3], 3); !errors.Is(err, voucher.ErrBadProof) {
		t.Fatalf("Proof(out of range) = %v", err)
	}
	if _, err := voucher.Proof(nil, 0); !errors.Is(err, voucher.ErrBadProof) {
		t.Fatalf("Proof(empty) = %v", err)
	}
	if err := voucher.VerifyProof(voucher.EmptyRoot, voucher.EmptyRoot, 0, 0, nil); !errors.Is(err, voucher.ErrBadProof) {
		t.Fatalf("VerifyProof(empty tree) = %v", err)
	}
}

// Receipts in a voucher: the receipts root of a session commits to signed receipts.
func TestVoucherCommitsToReceipts(t *testing.T) {
	r, id := signedReceipt(t)
	var acc voucher.Accumulator
	leaves := make([][32]byte, 0, 3)
	for seq := uint64(1); seq <= 3; seq++ {
		k, _ := peerKey(t, 2)
		rr := r
		rr.RequestSeq = seq
		rr, err := voucher.SignReceipt(rr, k)
		if err != nil {
			t.Fatal(err)
		}
		if err := rr.VerifyPeer(id); err != nil {
			t.Fatal(err)
		}
		acc.Append(rr.LeafHash())
		leaves = append(leaves, rr.LeafHash())
	}
	v := testVoucher()
	v.ReceiptsRoot = acc.Root()
	if v.ReceiptsRoot != voucher.Root(leaves) {
		t.Fatal("accumulator and Root disagree")
	}
	proof, err := voucher.Proof(leaves, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := voucher.VerifyProof(v.ReceiptsRoot, leaves[1], 1, 3, proof); err != nil {
		t.Fatal(err)
	}
}
