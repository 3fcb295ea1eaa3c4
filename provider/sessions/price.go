package sessions

import (
	"crypto/sha256"
	"fmt"

	sdkmath "cosmossdk.io/math"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// Price is a session's price per 1,000 tokens in the deposit's denom: the
// provider's compute price plus the royalty the chain snapshotted into the
// session.
type Price struct {
	Compute sdkmath.Int
	Royalty sdkmath.Int
}

var thousand = sdkmath.NewInt(1000)

// Cost is cost(T) = ⌊T·c/1000⌋ + ⌊T·r/1000⌋ (docs/openai-api.md): the chain's
// cumulative floors, so a voucher whose amount is Cost(tokens) always pays at
// least the royalty increment over any earlier one.
func (p Price) Cost(tokens uint64) sdkmath.Int {
	t := sdkmath.NewIntFromUint64(tokens)
	return t.Mul(p.Compute).Quo(thousand).Add(t.Mul(p.Royalty).Quo(thousand))
}

// Validate checks both parts are set and non-negative.
func (p Price) Validate() error {
	if p.Compute.IsNil() || p.Royalty.IsNil() || p.Compute.IsNegative() || p.Royalty.IsNegative() {
		return fmt.Errorf("sessions: invalid price compute=%v royalty=%v", p.Compute, p.Royalty)
	}
	return nil
}

// Reserve is the voucher rule of docs/openai-api.md: given the last voucher's
// tokens prev, the tokens served so far and this request's maximum, the
// tokens of the next voucher: max(prev, served + max).
func Reserve(prev, served, maxTokens uint64) uint64 {
	return max(prev, served+maxTokens)
}

// RawCID is the CIDv1 (raw codec, sha2-256) of b: the content id of a request's
// output as the receipt names it when the engine did not store it elsewhere.
func RawCID(b []byte) string {
	sum := sha256.Sum256(b)
	mh, _ := multihash.Encode(sum[:], multihash.SHA2_256) // cannot fail for sha2-256 of 32 bytes
	return cid.NewCidV1(cid.Raw, mh).String()
}
