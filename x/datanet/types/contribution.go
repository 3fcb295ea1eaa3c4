package types

import (
	"encoding/hex"

	"cosmossdk.io/core/address"
)

// ContributionLeafHash returns the RFC 6962 leaf hash of an accepted contribution,
// computed from its canonical leaf bytes (see ContributionLeaf).
func ContributionLeafHash(c Contribution, ac address.Codec) ([]byte, error) {
	addr, err := ac.StringToBytes(c.Contributor)
	if err != nil {
		return nil, ErrInvalidAddress.Wrapf("contributor: %v", err)
	}
	return ContributionLeafHashOf(c, addr)
}

// ContributionLeafHashOf is ContributionLeafHash with the contributor's address
// bytes already decoded.
func ContributionLeafHashOf(c Contribution, addr []byte) ([]byte, error) {
	cidBytes, err := CIDBytes(c.Cid)
	if err != nil {
		return nil, err
	}
	digest, err := hex.DecodeString(c.Sha256)
	if err != nil {
		return nil, ErrInvalidDigest.Wrapf("sha256: %v", err)
	}
	leaf, err := ContributionLeaf(c.Id, addr, cidBytes, digest, c.SizeBytes)
	if err != nil {
		return nil, ErrInvalidField.Wrap(err.Error())
	}
	return LeafHash(leaf), nil
}
