package types

import (
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
)

// DefaultBondDenom is the chain's base denom.
const DefaultBondDenom = "uopen"

// Hard bounds that governance cannot cross.
const (
	maxCuratorsBound          = 100
	maxReviewWindowBound      = 10_000_000
	maxContributionBytesBound = 1 << 40 // 1 TiB
	maxTagsBound              = 64
	maxStringLengthBound      = 16_384
	maxExpiriesPerBlockBound  = 10_000
)

// DefaultParams returns the module's default params.
func DefaultParams() Params {
	return Params{
		MaxCurators:           16,
		MinReviewWindowBlocks: 10,
		MaxReviewWindowBlocks: 1_000_000,
		MinDeposit:            sdk.NewCoin(DefaultBondDenom, sdkmath.NewInt(1_000)),
		MaxContributionBytes:  4 << 30, // 4 GiB
		MaxTags:               10,
		MaxNameLength:         64,
		MaxDescriptionLength:  2_048,
		MaxTagLength:          64,
		MaxExpiriesPerBlock:   100,
		// 1 MiB of reward shares at most per contribution: padding a contribution
		// beyond it buys nothing in the version pools (ADR-003).
		MaxSharesPerContribution: 1 << 20,
	}
}

// SharesOf is the reward shares of a contribution of size bytes accepted under p:
// its size, capped at max_shares_per_contribution unless that is 0.
func (p Params) SharesOf(size uint64) uint64 {
	if p.MaxSharesPerContribution != 0 && size > p.MaxSharesPerContribution {
		return p.MaxSharesPerContribution
	}
	return size
}

// Validate checks every param against its bounds.
func (p Params) Validate() error {
	switch {
	case p.MaxCurators == 0 || p.MaxCurators > maxCuratorsBound:
		return ErrInvalidParams.Wrapf("max_curators must be in [1, %d], got %d", maxCuratorsBound, p.MaxCurators)
	case p.MinReviewWindowBlocks == 0:
		return ErrInvalidParams.Wrap("min_review_window_blocks must be at least 1")
	case p.MaxReviewWindowBlocks < p.MinReviewWindowBlocks:
		return ErrInvalidParams.Wrapf("max_review_window_blocks (%d) must be >= min_review_window_blocks (%d)", p.MaxReviewWindowBlocks, p.MinReviewWindowBlocks)
	case p.MaxReviewWindowBlocks > maxReviewWindowBound:
		return ErrInvalidParams.Wrapf("max_review_window_blocks must be <= %d", maxReviewWindowBound)
	case p.MaxContributionBytes == 0 || p.MaxContributionBytes > maxContributionBytesBound:
		return ErrInvalidParams.Wrapf("max_contribution_bytes must be in [1, %d]", uint64(maxContributionBytesBound))
	case p.MaxTags > maxTagsBound:
		return ErrInvalidParams.Wrapf("max_tags must be <= %d", maxTagsBound)
	case p.MaxNameLength == 0 || p.MaxNameLength > maxStringLengthBound:
		return ErrInvalidParams.Wrapf("max_name_length must be in [1, %d]", maxStringLengthBound)
	case p.MaxDescriptionLength == 0 || p.MaxDescriptionLength > maxStringLengthBound:
		return ErrInvalidParams.Wrapf("max_description_length must be in [1, %d]", maxStringLengthBound)
	case p.MaxTagLength == 0 || p.MaxTagLength > maxStringLengthBound:
		return ErrInvalidParams.Wrapf("max_tag_length must be in [1, %d]", maxStringLengthBound)
	case p.MaxExpiriesPerBlock == 0 || p.MaxExpiriesPerBlock > maxExpiriesPerBlockBound:
		return ErrInvalidParams.Wrapf("max_expiries_per_block must be in [1, %d]", maxExpiriesPerBlockBound)
	case p.MaxSharesPerContribution > maxContributionBytesBound:
		return ErrInvalidParams.Wrapf("max_shares_per_contribution must be in [0, %d] (0: no cap)", uint64(maxContributionBytesBound))
	}
	if err := sdk.ValidateDenom(p.MinDeposit.Denom); err != nil {
		return ErrInvalidParams.Wrapf("min_deposit denom: %v", err)
	}
	if p.MinDeposit.Amount.IsNil() || p.MinDeposit.Amount.IsNegative() {
		return ErrInvalidParams.Wrap("min_deposit amount must be zero or positive")
	}
	return nil
}

// ValidateDeposit checks a datanet's contribution deposit against the params.
func (p Params) ValidateDeposit(c sdk.Coin) error {
	if c.Amount.IsNil() {
		return ErrInvalidDeposit.Wrap("contribution_deposit: amount is missing")
	}
	if c.Denom != p.MinDeposit.Denom {
		return ErrInvalidDeposit.Wrapf("contribution_deposit: denom must be %q, got %q", p.MinDeposit.Denom, c.Denom)
	}
	if c.Amount.LT(p.MinDeposit.Amount) {
		return ErrInvalidDeposit.Wrapf("contribution_deposit: %s is below the minimum %s", c, p.MinDeposit)
	}
	return nil
}
