package types

import sdkmath "cosmossdk.io/math"

// DefaultDenom is the chain's base denom.
const DefaultDenom = "uopen"

// Hard bounds that governance cannot cross.
const (
	maxTopKBound        = 256
	maxPoolsBound       = 1_024
	maxClaimItemsBound  = 10_000
	maxRetentionBound   = 100_000_000
	maxPrunesBound      = 10_000
	maxProtocolFeeBound = BpsScale / 2
)

// DefaultParams returns the module's default params.
func DefaultParams() Params {
	return Params{
		Denom:                 DefaultDenom,
		ProtocolFeeBps:        200,
		MaxTopK:               32,
		MaxPools:              64,
		MinClaim:              sdkmath.NewInt(1),
		MaxClaimItems:         100,
		RecordRetentionBlocks: 100_000,
		MaxPrunesPerBlock:     100,
	}
}

// Validate checks every param against its bounds.
func (p Params) Validate() error {
	switch {
	case p.Denom == "":
		return ErrInvalidParams.Wrap("denom must not be empty")
	case p.ProtocolFeeBps > maxProtocolFeeBound:
		return ErrInvalidParams.Wrapf("protocol_fee_bps must be <= %d, got %d", maxProtocolFeeBound, p.ProtocolFeeBps)
	case p.MaxTopK == 0 || p.MaxTopK > maxTopKBound:
		return ErrInvalidParams.Wrapf("max_top_k must be in [1, %d], got %d", maxTopKBound, p.MaxTopK)
	case p.MaxPools == 0 || p.MaxPools > maxPoolsBound:
		return ErrInvalidParams.Wrapf("max_pools must be in [1, %d], got %d", maxPoolsBound, p.MaxPools)
	case p.MinClaim.IsNil() || p.MinClaim.IsNegative():
		return ErrInvalidParams.Wrap("min_claim must be >= 0")
	case p.MaxClaimItems == 0 || p.MaxClaimItems > maxClaimItemsBound:
		return ErrInvalidParams.Wrapf("max_claim_items must be in [1, %d], got %d", maxClaimItemsBound, p.MaxClaimItems)
	case p.RecordRetentionBlocks == 0 || p.RecordRetentionBlocks > maxRetentionBound:
		return ErrInvalidParams.Wrapf("record_retention_blocks must be in [1, %d], got %d", maxRetentionBound, p.RecordRetentionBlocks)
	case p.MaxPrunesPerBlock == 0 || p.MaxPrunesPerBlock > maxPrunesBound:
		return ErrInvalidParams.Wrapf("max_prunes_per_block must be in [1, %d], got %d", maxPrunesBound, p.MaxPrunesPerBlock)
	}
	return nil
}
