package storage

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
)

// ParseCID parses a CID given by a user, accepting a bare CID or an
// "/ipfs/<cid>" path, and explains what is wrong otherwise.
func ParseCID(s string) (cid.Cid, error) {
	orig := s
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "/ipfs/")
	s = strings.TrimPrefix(s, "ipfs://")
	if s == "" {
		return cid.Undef, fmt.Errorf("invalid CID: empty string")
	}
	if strings.Contains(s, "/") {
		return cid.Undef, fmt.Errorf("invalid CID %q: paths are not accepted here, give only the CID", orig)
	}
	c, err := cid.Decode(s)
	if err != nil {
		shown := orig
		if len(shown) > 80 || !utf8.ValidString(shown) {
			shown = fmt.Sprintf("%.80q…", orig)
		}
		return cid.Undef, fmt.Errorf("invalid CID %q: not a CIDv0 (Qm…) or multibase CIDv1 (bafy…, bafk…) string (%v)", shown, err)
	}
	if c.Prefix().MhLength == 0 && c.Prefix().MhType != 0x00 {
		return cid.Undef, fmt.Errorf("invalid CID %q: empty multihash", orig)
	}
	return c, nil
}
