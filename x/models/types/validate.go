package types

import (
	"github.com/openledger/openledger/x/internal/fields"
)

// NormalizeCID returns any valid CID as CIDv1 base32 (see fields.NormalizeCID).
func NormalizeCID(field, s string) (string, error) {
	return fields.NormalizeCID(ErrInvalidCID, field, s)
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
