package voucher_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/openledger/openledger/inference/voucher"
)

func TestVerifierMatchesVerify(t *testing.T) {
	v, pub := signedVoucher(t)
	k, err := voucher.NewVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Verify(v); err != nil {
		t.Fatalf("valid voucher: %v", err)
	}
	tampered := v
	tampered.Sequence++
	if err := k.Verify(tampered); !errors.Is(err, voucher.ErrBadSignature) {
		t.Fatalf("tampered: %v", err)
	}
	otherPub, _ := key(2)
	other, err := voucher.NewVerifier(otherPub)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Verify(v); !errors.Is(err, voucher.ErrBadSignature) {
		t.Fatalf("other key: %v", err)
	}
	if _, err := voucher.NewVerifier(pub[:31]); !errors.Is(err, voucher.ErrBadKey) {
		t.Fatalf("short key: %v", err)
	}
}

// FuzzVerifierMatchesEd25519 pins the Verifier to crypto/ed25519.Verify (the chain's
// check): for any key, message and signature bytes both accept or both reject.
func FuzzVerifierMatchesEd25519(f *testing.F) {
	v, pub := signedVoucher(f)
	f.Add([]byte(pub), v.SignBytes(), v.Signature)
	sig := append([]byte(nil), v.Signature...)
	sig[63] |= 0x20 // non-canonical S
	f.Add([]byte(pub), v.SignBytes(), sig)
	f.Add(make([]byte, 32), []byte("m"), make([]byte, 64))
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		if len(pub) != ed25519.PublicKeySize {
			seed := sha256.Sum256(pub)
			pub = ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
		}
		k, kerr := voucher.NewVerifier(pub)
		want := func() (ok bool) {
			defer func() {
				if recover() != nil {
					ok = false
				}
			}()
			return ed25519.Verify(pub, msg, sig)
		}()
		if kerr != nil {
			if want {
				t.Fatalf("key %x rejected by NewVerifier but ed25519.Verify accepts", pub)
			}
			return
		}
		if got := voucher.VerifyRaw(k, msg, sig); got != want {
			t.Fatalf("pub %x msg %x sig %x: verifier %v, ed25519 %v", pub, msg, sig, got, want)
		}
	})
}
