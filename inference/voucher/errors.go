package voucher

import "errors"

// Sentinel errors. Every error returned by this package wraps exactly one of them, so
// callers branch with errors.Is and show the wrapped text to people.
var (
	// ErrMalformed reports bytes or a string that are not the canonical encoding of a
	// valid voucher or receipt.
	ErrMalformed = errors.New("voucher: malformed encoding")
	// ErrInvalid reports a field that breaks a rule of Validate.
	ErrInvalid = errors.New("voucher: invalid field")
	// ErrBadSignature reports a signature of the wrong length or one that does not verify.
	ErrBadSignature = errors.New("voucher: bad signature")
	// ErrBadKey reports a key or peer id that is unusable: wrong size, undecodable, or
	// not an ed25519 key.
	ErrBadKey = errors.New("voucher: bad key")
	// ErrBadProof reports a Merkle inclusion proof that does not verify.
	ErrBadProof = errors.New("voucher: bad inclusion proof")
)
