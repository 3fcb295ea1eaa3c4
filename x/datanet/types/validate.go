package types

import (
	"github.com/ipfs/go-cid"

	"github.com/openledger/openledger/x/internal/fields"
)

// NormalizeCID returns any valid CID as CIDv1 base32 (see fields.NormalizeCID).
func NormalizeCID(field, s string) (string, error) {
	return fields.NormalizeCID(ErrInvalidCID, field, s)
}

// CIDBytes returns the binary form of a normalised CID string.
func CIDBytes(s string) ([]byte, error) {
	c, err := cid.Decode(s)
	if err != nil {
		return nil, ErrInvalidCID.Wrapf("%q: %v", s, err)
	}
	return c.Bytes(), nil
}

// NormalizeSHA256 checks a hex SHA-256 digest and returns it in lowercase.
func NormalizeSHA256(field, s string) (string, error) {
	return fields.NormalizeSHA256(ErrInvalidDigest, field, s)
}

// CheckText checks a free-text field (see fields.CheckText).
func CheckText(field, s string, maxLen uint32, required bool) error {
	return fields.CheckText(ErrInvalidField, field, s, maxLen, required)
}

// CheckToken checks a short identifier-like field (see fields.CheckToken).
func CheckToken(field, s string, maxLen uint32) error {
	return fields.CheckToken(ErrInvalidField, field, s, maxLen)
}

// CheckTags checks a tag list: bounded count, each a token, no duplicates.
func CheckTags(tags []string, p Params) error {
	if uint64(len(tags)) > uint64(p.MaxTags) {
		return ErrInvalidField.Wrapf("tags: %d tags exceeds the maximum of %d", len(tags), p.MaxTags)
	}
	seen := make(map[string]struct{}, len(tags))
	for i, t := range tags {
		if err := CheckToken("tags", t, p.MaxTagLength); err != nil {
			return err
		}
		if _, dup := seen[t]; dup {
			return ErrInvalidField.Wrapf("tags: %q appears twice (index %d)", t, i)
		}
		seen[t] = struct{}{}
	}
	return nil
}
