package voucher

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"fmt"

	"filippo.io/edwards25519"
)

// Verifier checks vouchers of one session key. It decodes the key once, so each
// check skips the point decompression that ed25519.Verify repeats per call — the
// provider verifies every request's voucher of a session against the same key. It
// accepts exactly the signatures crypto/ed25519.Verify accepts (the chain's check;
// a differential fuzz test pins this) and is safe for concurrent use.
type Verifier struct {
	pub    [ed25519.PublicKeySize]byte
	minusA edwards25519.Point
}

// NewVerifier decodes pub for repeated verification.
func NewVerifier(pub ed25519.PublicKey) (*Verifier, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: public key is %d bytes, want %d", ErrBadKey, len(pub), ed25519.PublicKeySize)
	}
	a, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	v := &Verifier{}
	copy(v.pub[:], pub)
	v.minusA.Negate(a)
	return v, nil
}

// Verify checks v's fields and its signature by the verifier's key.
func (k *Verifier) Verify(v Voucher) error {
	if len(v.Signature) != SignatureSize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrBadSignature, len(v.Signature), SignatureSize)
	}
	if err := v.Validate(); err != nil {
		return err
	}
	if !k.verify(v.SignBytes(), v.Signature) {
		return fmt.Errorf("%w: voucher %d/%d does not verify", ErrBadSignature, v.SessionID, v.Sequence)
	}
	return nil
}

// verify is RFC 8032 pure Ed25519 verification as crypto/ed25519 does it: reject a
// non-canonical S, then check the encoding of [S]B − [k]A against R, with k =
// SHA-512(R || A || msg) mod ℓ.
func (k *Verifier) verify(msg, sig []byte) bool {
	if len(sig) != ed25519.SignatureSize || sig[63]&224 != 0 {
		return false
	}
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(k.pub[:])
	h.Write(msg)
	var digest [sha512.Size]byte
	kh, err := new(edwards25519.Scalar).SetUniformBytes(h.Sum(digest[:0]))
	if err != nil {
		return false
	}
	s, err := new(edwards25519.Scalar).SetCanonicalBytes(sig[32:])
	if err != nil {
		return false
	}
	r := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(kh, &k.minusA, s)
	return bytes.Equal(sig[:32], r.Bytes())
}
