package voucher_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"math/big"
	"strings"
	"testing"

	"cosmossdk.io/math"

	"github.com/openledger/openledger/inference/voucher"
)

func TestVoucherSignVerify(t *testing.T) {
	v, pub := signedVoucher(t)
	if len(v.Signature) != voucher.SignatureSize {
		t.Fatalf("signature is %d bytes", len(v.Signature))
	}
	if err := v.Verify(pub); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !ed25519.Verify(pub, v.SignBytes(), v.Signature) {
		t.Fatal("signature is not a plain ed25519 signature over SignBytes")
	}
}

// Every field is covered by the signature: changing any one breaks verification.
func TestVoucherVerifyTampered(t *testing.T) {
	v, pub := signedVoucher(t)
	otherPub, _ := key(9)
	tests := []struct {
		name   string
		mutate func(*voucher.Voucher)
		pub    ed25519.PublicKey
		want   error
	}{
		{"chain id", func(v *voucher.Voucher) { v.ChainID = "openledger-2" }, pub, voucher.ErrBadSignature},
		{"session id", func(v *voucher.Voucher) { v.SessionID++ }, pub, voucher.ErrBadSignature},
		{"sequence", func(v *voucher.Voucher) { v.Sequence++ }, pub, voucher.ErrBadSignature},
		{"denom", func(v *voucher.Voucher) { v.Denom = "uatom" }, pub, voucher.ErrBadSignature},
		{"amount", func(v *voucher.Voucher) { v.CumulativeAmount = v.CumulativeAmount.AddRaw(1) }, pub, voucher.ErrBadSignature},
		{"tokens", func(v *voucher.Voucher) { v.CumulativeTokens++ }, pub, voucher.ErrBadSignature},
		{"receipt count", func(v *voucher.Voucher) { v.ReceiptCount++ }, pub, voucher.ErrBadSignature},
		{"receipts root", func(v *voucher.Voucher) { v.ReceiptsRoot[31] ^= 1 }, pub, voucher.ErrBadSignature},
		{"signature bit", func(v *voucher.Voucher) { v.Signature[0] ^= 1 }, pub, voucher.ErrBadSignature},
		{"signature short", func(v *voucher.Voucher) { v.Signature = v.Signature[:63] }, pub, voucher.ErrBadSignature},
		{"signature missing", func(v *voucher.Voucher) { v.Signature = nil }, pub, voucher.ErrBadSignature},
		{"wrong key", func(*voucher.Voucher) {}, otherPub, voucher.ErrBadSignature},
		{"short key", func(*voucher.Voucher) {}, pub[:31], voucher.ErrBadKey},
		{"nil key", func(*voucher.Voucher) {}, nil, voucher.ErrBadKey},
		{"invalid field", func(v *voucher.Voucher) { v.Sequence = 0 }, pub, voucher.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := v
			w.Signature = append([]byte(nil), v.Signature...)
			tc.mutate(&w)
			err := w.Verify(tc.pub)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
	if err := v.Verify(pub); err != nil {
		t.Fatalf("original voucher no longer verifies: %v", err)
	}
}

func maxAmount() math.Int {
	m := new(big.Int).Lsh(big.NewInt(1), 256)
	return math.NewIntFromBigInt(m.Sub(m, big.NewInt(1)))
}

func TestVoucherValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*voucher.Voucher)
		ok     bool
	}{
		{"valid", func(*voucher.Voucher) {}, true},
		{"zero amount", func(v *voucher.Voucher) { v.CumulativeAmount = math.ZeroInt() }, true},
		{"max amount", func(v *voucher.Voucher) { v.CumulativeAmount = maxAmount() }, true},
		{"ibc denom", func(v *voucher.Voucher) { v.Denom = "ibc/" + strings.Repeat("A", 124) }, true},
		{"denom all punctuation kinds", func(v *voucher.Voucher) { v.Denom = "a0/:._-" }, true},
		{"chain id max", func(v *voucher.Voucher) { v.ChainID = strings.Repeat("c", 50) }, true},
		{"empty chain id", func(v *voucher.Voucher) { v.ChainID = "" }, false},
		{"chain id too long", func(v *voucher.Voucher) { v.ChainID = strings.Repeat("c", 51) }, false},
		{"chain id with space", func(v *voucher.Voucher) { v.ChainID = "open ledger" }, false},
		{"chain id non-ascii", func(v *voucher.Voucher) { v.ChainID = "öpen" }, false},
		{"session zero", func(v *voucher.Voucher) { v.SessionID = 0 }, false},
		{"sequence zero", func(v *voucher.Voucher) { v.Sequence = 0 }, false},
		{"denom too short", func(v *voucher.Voucher) { v.Denom = "ab" }, false},
		{"denom too long", func(v *voucher.Voucher) { v.Denom = "ibc/" + strings.Repeat("A", 125) }, false},
		{"denom leading digit", func(v *voucher.Voucher) { v.Denom = "1open" }, false},
		{"denom leading slash", func(v *voucher.Voucher) { v.Denom = "/open" }, false},
		{"denom bad char", func(v *voucher.Voucher) { v.Denom = "uo pen" }, false},
		{"nil amount", func(v *voucher.Voucher) { v.CumulativeAmount = math.Int{} }, false},
		{"negative amount", func(v *voucher.Voucher) { v.CumulativeAmount = math.NewInt(-1) }, false},
	}
	_, priv := key(1)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := testVoucher()
			tc.mutate(&v)
			err := v.Validate()
			if tc.ok != (err == nil) {
				t.Fatalf("Validate = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, voucher.ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
			s, err := voucher.Sign(v, priv)
			if tc.ok != (err == nil) {
				t.Fatalf("Sign = %v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				return
			}
			// Whatever Sign accepts must survive the wire.
			got, err := voucher.DecodeVoucher(s.Encode())
			if err != nil {
				t.Fatalf("DecodeVoucher: %v", err)
			}
			if !bytes.Equal(got.Marshal(), s.Marshal()) || !got.CumulativeAmount.Equal(s.CumulativeAmount) {
				t.Fatal("round trip changed the voucher")
			}
		})
	}
}

func TestSignRejectsBadKey(t *testing.T) {
	_, priv := key(1)
	if _, err := voucher.Sign(testVoucher(), priv[:32]); !errors.Is(err, voucher.ErrBadKey) {
		t.Fatalf("Sign with a seed-sized key = %v, want ErrBadKey", err)
	}
}

func TestVoucherWireFormat(t *testing.T) {
	v, _ := signedVoucher(t)
	want := voucherBytes(v, "1234567")
	got := v.Marshal()
	if !bytes.Equal(got, want) {
		t.Fatalf("Marshal =\n%x\nwant (from the spec)\n%x", got, want)
	}
	if sb := v.SignBytes(); !bytes.Equal(sb, got[:len(got)-2-voucher.SignatureSize]) {
		t.Fatal("SignBytes is not Marshal without the signature")
	}
	if voucher.MaxVoucherSize != 415 || voucher.MaxReceiptSize != 8021 {
		t.Fatalf("sizes %d, %d differ from the package documentation", voucher.MaxVoucherSize, voucher.MaxReceiptSize)
	}
	if len(got) > voucher.MaxVoucherSize {
		t.Fatalf("%d bytes > MaxVoucherSize", len(got))
	}
	// The largest valid voucher fills MaxVoucherSize exactly.
	big := v
	big.ChainID = strings.Repeat("c", voucher.MaxChainIDLen)
	big.Denom = "a" + strings.Repeat("b", voucher.MaxDenomLen-1)
	big.CumulativeAmount = maxAmount()
	if n := len(big.Marshal()); n != voucher.MaxVoucherSize { // 2^256-1 has 78 digits
		t.Fatalf("largest voucher is %d bytes, MaxVoucherSize %d", n, voucher.MaxVoucherSize)
	}
	if _, err := voucher.UnmarshalVoucher(big.Marshal()); err != nil {
		t.Fatalf("largest voucher does not decode: %v", err)
	}
}

func TestVoucherRoundTrip(t *testing.T) {
	v, pub := signedVoucher(t)
	b := v.Marshal()
	got, err := voucher.UnmarshalVoucher(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ChainID != v.ChainID || got.SessionID != v.SessionID || got.Sequence != v.Sequence ||
		got.Denom != v.Denom || !got.CumulativeAmount.Equal(v.CumulativeAmount) ||
		got.CumulativeTokens != v.CumulativeTokens || got.ReceiptCount != v.ReceiptCount || got.ReceiptsRoot != v.ReceiptsRoot ||
		!bytes.Equal(got.Signature, v.Signature) {
		t.Fatalf("UnmarshalVoucher = %+v, want %+v", got, v)
	}
	if err := got.Verify(pub); err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1 // the decoded signature must not alias the input
	if got.Signature[63] != v.Signature[63] {
		t.Fatal("decoded signature aliases the input buffer")
	}

	s := v.Encode()
	if strings.ContainsAny(s, "+/=") {
		t.Fatalf("Encode is not unpadded base64url: %q", s)
	}
	got, err = voucher.DecodeVoucher(s)
	if err != nil {
		t.Fatal(err)
	}
	if got.Encode() != s {
		t.Fatal("Encode(Decode(s)) != s")
	}
	if err := got.Verify(pub); err != nil {
		t.Fatal(err)
	}
	if voucher.HeaderName != "X-Openledger-Voucher" {
		t.Fatal("header name changed")
	}
}

func TestUnmarshalVoucherStrict(t *testing.T) {
	v, _ := signedVoucher(t)
	good := v.Marshal()
	for n := 0; n < len(good); n++ {
		if _, err := voucher.UnmarshalVoucher(good[:n]); !errors.Is(err, voucher.ErrMalformed) {
			t.Fatalf("prefix of %d bytes: err = %v, want ErrMalformed", n, err)
		}
	}
	withSig := func(sig []byte) []byte { w := v; w.Signature = sig; return voucherBytes(w, "1234567") }
	badDomain := append([]byte(nil), good...)
	badDomain[2] = 'O'
	longChain := v
	longChain.ChainID = strings.Repeat("c", 51)
	zeroSeq := v
	zeroSeq.Sequence = 0
	tests := []struct {
		name string
		b    []byte
	}{
		{"trailing byte", append(append([]byte(nil), good...), 0)},
		{"leading zero amount", voucherBytes(v, "01234567")},
		{"plus sign", voucherBytes(v, "+1234567")},
		{"minus sign", voucherBytes(v, "-1234567")},
		{"negative zero", voucherBytes(v, "-0")},
		{"double zero", voucherBytes(v, "00")},
		{"empty amount", voucherBytes(v, "")},
		{"exponent", voucherBytes(v, "1e6")},
		{"space", voucherBytes(v, " 1")},
		{"hex", voucherBytes(v, "0x10")},
		{"2^256", voucherBytes(v, new(big.Int).Lsh(big.NewInt(1), 256).String())},
		{"79 digits", voucherBytes(v, "1"+strings.Repeat("0", 78))},
		{"signature 63", withSig(bytes.Repeat([]byte{1}, 63))},
		{"signature 65", withSig(bytes.Repeat([]byte{1}, 65))},
		{"no signature", withSig(nil)},
		{"wrong domain", badDomain},
		{"chain id over bound", voucherBytes(longChain, "1")},
		{"invalid field", voucherBytes(zeroSeq, "1")},
		{"oversize", make([]byte, voucher.MaxVoucherSize+1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := voucher.UnmarshalVoucher(tc.b); !errors.Is(err, voucher.ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
	if _, err := voucher.UnmarshalVoucher(voucherBytes(v, "0")); err != nil {
		t.Fatalf("amount 0 rejected: %v", err)
	}
}

func TestDecodeVoucherStrict(t *testing.T) {
	v, _ := signedVoucher(t)
	s := v.Encode()
	tests := []struct{ name, s string }{
		{"empty", ""},
		{"padding", s + "=="},
		{"line break", s[:10] + "\n" + s[10:]},
		{"carriage return", s[:10] + "\r" + s[10:]},
		{"std alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(s) + "+/"},
		{"truncated", s[:len(s)-1]},
		{"too long", strings.Repeat("A", 1000)},
		{"trailing garbage", s + "AA"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := voucher.DecodeVoucher(tc.s); !errors.Is(err, voucher.ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}
