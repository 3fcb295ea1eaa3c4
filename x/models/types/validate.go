package types

import (
	"encoding/hex"
	"strings"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
)

// NormalizeCID parses any valid CID (v0 or v1, any multibase) and returns it as
// CIDv1 in base32, the form the chain stores. The empty string is rejected.
func NormalizeCID(field, s string) (string, error) {
	if s == "" {
		return "", ErrInvalidCID.Wrapf("%s: must not be empty", field)
	}
	if len(s) > 512 {
		return "", ErrInvalidCID.Wrapf("%s: too long (%d characters)", field, len(s))
	}
	c, err := cid.Decode(s)
	if err != nil {
		return "", ErrInvalidCID.Wrapf("%s: %q: %v", field, s, err)
	}
	if c.Version() == 0 {
		c = cid.NewCidV1(c.Type(), c.Hash())
	}
	return c.String(), nil
}

// NormalizeOptionalCID is NormalizeCID that lets the empty string through.
func NormalizeOptionalCID(field, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	return NormalizeCID(field, s)
}

// NormalizeSHA256 checks a hex SHA-256 digest and returns it in lowercase.
func NormalizeSHA256(field, s string) (string, error) {
	if len(s) != 64 {
		return "", ErrInvalidDigest.Wrapf("%s: must be 64 hex characters, got %d", field, len(s))
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", ErrInvalidDigest.Wrapf("%s: not hex: %v", field, err)
	}
	return strings.ToLower(s), nil
}

// CheckText checks a free-text field: valid UTF-8, no control characters other
// than newline and tab, at most max bytes, and non-empty when required.
func CheckText(field, s string, maxLen uint32, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return ErrInvalidField.Wrapf("%s: must not be empty", field)
	}
	if uint64(len(s)) > uint64(maxLen) {
		return ErrInvalidField.Wrapf("%s: %d bytes exceeds the maximum of %d", field, len(s), maxLen)
	}
	if !utf8.ValidString(s) {
		return ErrInvalidField.Wrapf("%s: not valid UTF-8", field)
	}
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			return ErrInvalidField.Wrapf("%s: contains a control character", field)
		}
	}
	return nil
}

// CheckToken checks a short identifier-like field (task, licence, engine name or
// version): non-empty, at most max bytes, printable ASCII without spaces.
func CheckToken(field, s string, maxLen uint32) error {
	if s == "" {
		return ErrInvalidField.Wrapf("%s: must not be empty", field)
	}
	if uint64(len(s)) > uint64(maxLen) {
		return ErrInvalidField.Wrapf("%s: %d bytes exceeds the maximum of %d", field, len(s), maxLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return ErrInvalidField.Wrapf("%s: %q must be printable ASCII without spaces", field, s)
		}
	}
	return nil
}

// ValidKind reports whether k is a defined, specified version kind.
func ValidKind(k VersionKind) bool {
	return k != VERSION_KIND_UNSPECIFIED && VersionKind_name[int32(k)] != ""
}

// CheckExternalBase checks an optional external base and returns it normalised.
func CheckExternalBase(b *ExternalBase, p Params) (*ExternalBase, error) {
	if b == nil {
		return nil, nil
	}
	if err := CheckText("external_base.name", b.Name, p.MaxNameLength, true); err != nil {
		return nil, err
	}
	c, err := NormalizeOptionalCID("external_base.artifact_cid", b.ArtifactCid)
	if err != nil {
		return nil, err
	}
	return &ExternalBase{Name: b.Name, ArtifactCid: c}, nil
}
