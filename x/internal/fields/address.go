package fields

import (
	"errors"
	"fmt"
	"strings"

	"cosmossdk.io/core/address"

	addresscodec "github.com/cosmos/cosmos-sdk/codec/address"
	"github.com/cosmos/cosmos-sdk/types/bech32"
)

// maxAddrLen is the SDK's bound on an address's length in bytes.
const maxAddrLen = 255

// FastAddressCodec returns an address codec that decodes exactly like the SDK's
// Bech32Codec when no custom address verifier is configured (this chain sets none:
// app/keepers checks it), but without looking the global SDK config up on every
// call — that lookup costs an executable-path and a hostname syscall, which made
// address parsing a visible part of a settlement. Any other codec is returned as is.
func FastAddressCodec(c address.Codec) address.Codec {
	bc, ok := c.(addresscodec.Bech32Codec)
	if !ok {
		return c
	}
	return fastBech32{Bech32Codec: bc}
}

type fastBech32 struct {
	addresscodec.Bech32Codec
}

// StringToBytes decodes a bech32 address with the codec's prefix.
func (c fastBech32) StringToBytes(text string) ([]byte, error) {
	if len(strings.TrimSpace(text)) == 0 {
		return []byte{}, errors.New("empty address string is not allowed")
	}
	hrp, bz, err := bech32.DecodeAndConvert(text)
	if err != nil {
		return nil, err
	}
	if hrp != c.Bech32Prefix {
		return nil, fmt.Errorf("hrp does not match bech32 prefix: expected '%s' got '%s'", c.Bech32Prefix, hrp)
	}
	switch {
	case len(bz) == 0:
		return nil, errors.New("addresses cannot be empty")
	case len(bz) > maxAddrLen:
		return nil, fmt.Errorf("address max length is %d, got %d", maxAddrLen, len(bz))
	}
	return bz, nil
}
