package voucher

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"

	"cosmossdk.io/math"
)

// HeaderName is the HTTP header that carries an encoded voucher (Voucher.Encode).
const HeaderName = "X-Openledger-Voucher"

// VoucherDomain is the domain-separation tag that starts every voucher's sign bytes.
const VoucherDomain = "openledger/voucher/v1"

// Field bounds. They are part of the wire format: a decoder rejects anything longer.
const (
	MaxChainIDLen   = 50  // CometBFT's limit on a chain id
	MinDenomLen     = 3   // the SDK's denom rule: [a-zA-Z][a-zA-Z0-9/:._-]{2,127}
	MaxDenomLen     = 128 //
	MaxAmountDigits = 78  // a 256-bit integer has at most 78 decimal digits
	SignatureSize   = ed25519.SignatureSize
)

// MaxVoucherSize is the largest Marshal output of a valid voucher.
const MaxVoucherSize = 2 + len(VoucherDomain) + 2 + MaxChainIDLen + 8 + 8 +
	2 + MaxDenomLen + 2 + MaxAmountDigits + 8 + 8 + 32 + 2 + SignatureSize

// Voucher is a requester's signed promise of the cumulative amount it owes a provider in
// one session. Each voucher supersedes the previous ones: the provider settles the one
// with the highest Sequence.
type Voucher struct {
	ChainID          string
	SessionID        uint64   // >= 1
	Sequence         uint64   // strictly increasing per session, starts at 1
	Denom            string   // the session's escrow denom
	CumulativeAmount math.Int // >= 0: everything owed to the provider so far
	CumulativeTokens uint64   // tokens served so far
	ReceiptCount     uint64   // requests served so far: the number of leaves under ReceiptsRoot
	ReceiptsRoot     [32]byte // Root of the leaf hashes of the session's receipts so far
	Signature        []byte   // ed25519 over SignBytes, SignatureSize bytes
}

// Validate checks every field except the signature.
func (v Voucher) Validate() error {
	switch {
	case !graphic(v.ChainID, 1, MaxChainIDLen):
		return invalid("chain id must be 1..%d printable ASCII characters without spaces, got %q", MaxChainIDLen, v.ChainID)
	case v.SessionID == 0:
		return invalid("session id must be positive")
	case v.Sequence == 0:
		return invalid("sequence must be positive")
	case !validDenom(v.Denom):
		return invalid("denom %q must match [a-zA-Z][a-zA-Z0-9/:._-]{2,127}", v.Denom)
	case v.CumulativeAmount.IsNil():
		return invalid("cumulative amount is nil")
	case v.CumulativeAmount.IsNegative():
		return invalid("cumulative amount %s is negative", v.CumulativeAmount)
	}
	return nil
}

func validDenom(s string) bool {
	if len(s) < MinDenomLen || len(s) > MaxDenomLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || strings.IndexByte("/:._-", c) >= 0):
		default:
			return false
		}
	}
	return true
}

// amountString is the canonical decimal form of an amount; a nil amount encodes as the
// empty string, which no decoder accepts.
func amountString(a math.Int) string {
	if a.IsNil() {
		return ""
	}
	return a.String()
}

func (v Voucher) appendSignBytes(e *encoder) {
	e.str(VoucherDomain)
	e.str(v.ChainID)
	e.u64(v.SessionID)
	e.u64(v.Sequence)
	e.str(v.Denom)
	e.str(amountString(v.CumulativeAmount))
	e.u64(v.CumulativeTokens)
	e.u64(v.ReceiptCount)
	e.fixed32(v.ReceiptsRoot)
}

// SignBytes returns the canonical bytes a requester signs (see the package
// documentation for the layout). They are a prefix of Marshal's output.
func (v Voucher) SignBytes() []byte {
	e := newEncoder(MaxVoucherSize)
	v.appendSignBytes(e)
	return e.out()
}

// Marshal returns the canonical wire form: SignBytes followed by the length-prefixed
// signature. The output of an invalid voucher is unspecified (UnmarshalVoucher rejects it).
func (v Voucher) Marshal() []byte {
	e := newEncoder(MaxVoucherSize)
	v.appendSignBytes(e)
	e.bytes(v.Signature)
	return e.out()
}

// UnmarshalVoucher decodes the canonical wire form strictly: every length within its
// bound, a canonical decimal amount, a SignatureSize-byte signature, valid fields and no
// trailing bytes. It does not verify the signature.
func UnmarshalVoucher(b []byte) (Voucher, error) {
	if len(b) > MaxVoucherSize {
		return Voucher{}, fmt.Errorf("%w: %d bytes exceeds %d", ErrMalformed, len(b), MaxVoucherSize)
	}
	d := &decoder{b: b}
	var v Voucher
	d.expect(VoucherDomain, "domain")
	v.ChainID = d.str(MaxChainIDLen, "chain id")
	v.SessionID = d.u64("session id")
	v.Sequence = d.u64("sequence")
	v.Denom = d.str(MaxDenomLen, "denom")
	v.CumulativeAmount = d.amount("cumulative amount")
	v.CumulativeTokens = d.u64("cumulative tokens")
	v.ReceiptCount = d.u64("receipt count")
	v.ReceiptsRoot = d.fixed32("receipts root")
	v.Signature = d.signature()
	if err := d.finish(); err != nil {
		return Voucher{}, err
	}
	if err := v.Validate(); err != nil {
		return Voucher{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return v, nil
}

// amount reads a length-prefixed canonical decimal: "0" or [1-9][0-9]*, at most
// MaxAmountDigits digits and at most 256 bits.
func (d *decoder) amount(what string) math.Int {
	s := d.str(MaxAmountDigits, what)
	if d.err != nil {
		return math.Int{}
	}
	if s == "" {
		d.fail("%s: empty", what)
		return math.Int{}
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			d.fail("%s: %q is not a canonical decimal", what, s)
			return math.Int{}
		}
	}
	if s[0] == '0' && len(s) > 1 {
		d.fail("%s: %q has a leading zero", what, s)
		return math.Int{}
	}
	a, ok := math.NewIntFromString(s)
	if !ok {
		d.fail("%s: %q exceeds 256 bits", what, s)
		return math.Int{}
	}
	return a
}

func (d *decoder) signature() []byte {
	sig := d.bytes(SignatureSize, "signature")
	if d.err == nil && len(sig) != SignatureSize {
		d.fail("signature: %d bytes, want %d", len(sig), SignatureSize)
	}
	return sig
}

var headerEncoding = base64.RawURLEncoding.Strict()

// Encode returns base64url without padding (RFC 4648 §5) of Marshal, the value of the
// HeaderName header.
func (v Voucher) Encode() string {
	return headerEncoding.EncodeToString(v.Marshal())
}

// DecodeVoucher reverses Encode strictly: no padding, no line breaks, zero trailing bits.
func DecodeVoucher(s string) (Voucher, error) {
	if len(s) > headerEncoding.EncodedLen(MaxVoucherSize) {
		return Voucher{}, fmt.Errorf("%w: encoded voucher of %d characters is too long", ErrMalformed, len(s))
	}
	if strings.ContainsAny(s, "\r\n") { // the base64 decoder would skip them
		return Voucher{}, fmt.Errorf("%w: line break in encoded voucher", ErrMalformed)
	}
	b, err := headerEncoding.DecodeString(s)
	if err != nil {
		return Voucher{}, fmt.Errorf("%w: base64url: %w", ErrMalformed, err)
	}
	return UnmarshalVoucher(b)
}

// Sign returns v with Signature set to key's ed25519 signature over SignBytes. It
// refuses an invalid voucher, so everything it signs decodes.
func Sign(v Voucher, key ed25519.PrivateKey) (Voucher, error) {
	if len(key) != ed25519.PrivateKeySize {
		return Voucher{}, fmt.Errorf("%w: private key is %d bytes, want %d", ErrBadKey, len(key), ed25519.PrivateKeySize)
	}
	if err := v.Validate(); err != nil {
		return Voucher{}, err
	}
	v.Signature = ed25519.Sign(key, v.SignBytes())
	return v, nil
}

// Verify checks the fields and the signature against the requester's public key, using
// crypto/ed25519 (RFC 8032 cofactorless verification, the same on chain and off chain).
// Replay protection (sequence and amount monotonic per session) is the caller's job.
func (v Voucher) Verify(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: public key is %d bytes, want %d", ErrBadKey, len(pub), ed25519.PublicKeySize)
	}
	if len(v.Signature) != SignatureSize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrBadSignature, len(v.Signature), SignatureSize)
	}
	if err := v.Validate(); err != nil {
		return err
	}
	if !ed25519.Verify(pub, v.SignBytes(), v.Signature) {
		return fmt.Errorf("%w: voucher %d/%d does not verify", ErrBadSignature, v.SessionID, v.Sequence)
	}
	return nil
}
