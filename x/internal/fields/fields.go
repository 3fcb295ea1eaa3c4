// Package fields validates and normalises the msg fields the chain's modules share:
// CIDs, SHA-256 digests, free text and short tokens. Each check wraps the calling
// module's registered error and names the field, so every module reports its own
// codespace with the same rules.
package fields

import (
	"encoding/hex"
	"strings"
	"unicode/utf8"

	errorsmod "cosmossdk.io/errors"
	"github.com/ipfs/go-cid"
)

// maxCIDLength bounds a CID string before parsing.
const maxCIDLength = 512

// NormalizeCID parses any valid CID (v0 or v1, any multibase) and returns it as
// CIDv1 in base32, the form the chain stores. The empty string is rejected.
func NormalizeCID(errInvalid *errorsmod.Error, field, s string) (string, error) {
	if s == "" {
		return "", errInvalid.Wrapf("%s: must not be empty", field)
	}
	if len(s) > maxCIDLength {
		return "", errInvalid.Wrapf("%s: too long (%d characters)", field, len(s))
	}
	c, err := cid.Decode(s)
	if err != nil {
		return "", errInvalid.Wrapf("%s: %q: %v", field, s, err)
	}
	if c.Version() == 0 {
		c = cid.NewCidV1(c.Type(), c.Hash())
	}
	return c.String(), nil
}

// NormalizeSHA256 checks a hex SHA-256 digest and returns it in lowercase.
func NormalizeSHA256(errInvalid *errorsmod.Error, field, s string) (string, error) {
	if len(s) != 64 {
		return "", errInvalid.Wrapf("%s: must be 64 hex characters, got %d", field, len(s))
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", errInvalid.Wrapf("%s: not hex: %v", field, err)
	}
	return strings.ToLower(s), nil
}

// CheckText checks a free-text field: valid UTF-8, no control characters other
// than newline and tab, at most maxLen bytes, and non-empty when required.
func CheckText(errInvalid *errorsmod.Error, field, s string, maxLen uint32, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return errInvalid.Wrapf("%s: must not be empty", field)
	}
	if uint64(len(s)) > uint64(maxLen) {
		return errInvalid.Wrapf("%s: %d bytes exceeds the maximum of %d", field, len(s), maxLen)
	}
	if !utf8.ValidString(s) {
		return errInvalid.Wrapf("%s: not valid UTF-8", field)
	}
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			return errInvalid.Wrapf("%s: contains a control character", field)
		}
	}
	return nil
}

// CheckToken checks a short identifier-like field (tag, licence, media type, engine
// name): non-empty, at most maxLen bytes, printable ASCII without spaces.
func CheckToken(errInvalid *errorsmod.Error, field, s string, maxLen uint32) error {
	if s == "" {
		return errInvalid.Wrapf("%s: must not be empty", field)
	}
	if uint64(len(s)) > uint64(maxLen) {
		return errInvalid.Wrapf("%s: %d bytes exceeds the maximum of %d", field, len(s), maxLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return errInvalid.Wrapf("%s: %q must be printable ASCII without spaces", field, s)
		}
	}
	return nil
}
