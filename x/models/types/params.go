package types

import (
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
)

// DefaultRoyaltyDenom is the chain's base denom.
const DefaultRoyaltyDenom = "uopen"

// Hard bounds that governance cannot cross.
const (
	// MaxLineageDepthBound bounds params.max_lineage_depth, and every walk up a lineage.
	MaxLineageDepthBound    = 64
	maxDatasetVersionsBound = 256
	maxShareEntriesBound    = 1_024
	maxPriceNoticeBound     = 10_000_000
	maxStringLengthBound    = 16_384
	maxPriceChangesBound    = 10_000
	maxRoyaltyDigits        = 30 // 10^30 base units per 1,000 tokens
	maxFeedbackWindowBound  = 100_000_000
	// maxFeedbackRequirementBound bounds the requirements of a new feedback datanet.
	maxFeedbackRequirementBound = 1_000_000
)

// DefaultParams returns the module's default params.
func DefaultParams() Params {
	return Params{
		MaxLineageDepth:             16,
		MaxDatasetVersions:          16,
		MaxShareEntries:             64,
		PriceNoticeBlocks:           100,
		MaxRoyaltyPerThousandTokens: sdk.NewCoin(DefaultRoyaltyDenom, sdkmath.NewInt(1_000_000_000_000)),
		MaxNameLength:               64,
		MaxDescriptionLength:        2_048,
		MaxTokenLength:              64,
		MaxPriceChangesPerBlock:     100,
		// About a week of 6-second blocks.
		FeedbackWindowBlocks:       100_800,
		MinFeedbackPayment:         sdk.NewCoin(DefaultRoyaltyDenom, sdkmath.NewInt(1)),
		FeedbackMinContributions:   1,
		FeedbackMinContributors:    1,
		FeedbackReviewWindowBlocks: 14_400,
		QualityToleranceBps:        0,
	}
}

// Validate checks every param against its bounds.
func (p Params) Validate() error {
	switch {
	case p.MaxLineageDepth == 0 || p.MaxLineageDepth > MaxLineageDepthBound:
		return ErrInvalidParams.Wrapf("max_lineage_depth must be in [1, %d], got %d", MaxLineageDepthBound, p.MaxLineageDepth)
	case p.MaxDatasetVersions == 0 || p.MaxDatasetVersions > maxDatasetVersionsBound:
		return ErrInvalidParams.Wrapf("max_dataset_versions must be in [1, %d], got %d", maxDatasetVersionsBound, p.MaxDatasetVersions)
	case p.MaxShareEntries == 0 || p.MaxShareEntries > maxShareEntriesBound:
		return ErrInvalidParams.Wrapf("max_share_entries must be in [1, %d], got %d", maxShareEntriesBound, p.MaxShareEntries)
	case p.MaxShareEntries < p.MaxDatasetVersions:
		return ErrInvalidParams.Wrapf("max_share_entries (%d) must be >= max_dataset_versions (%d)", p.MaxShareEntries, p.MaxDatasetVersions)
	case p.PriceNoticeBlocks > maxPriceNoticeBound:
		return ErrInvalidParams.Wrapf("price_notice_blocks must be <= %d", maxPriceNoticeBound)
	case p.MaxNameLength == 0 || p.MaxNameLength > maxStringLengthBound:
		return ErrInvalidParams.Wrapf("max_name_length must be in [1, %d]", maxStringLengthBound)
	case p.MaxDescriptionLength == 0 || p.MaxDescriptionLength > maxStringLengthBound:
		return ErrInvalidParams.Wrapf("max_description_length must be in [1, %d]", maxStringLengthBound)
	case p.MaxTokenLength == 0 || p.MaxTokenLength > maxStringLengthBound:
		return ErrInvalidParams.Wrapf("max_token_length must be in [1, %d]", maxStringLengthBound)
	case p.MaxPriceChangesPerBlock == 0 || p.MaxPriceChangesPerBlock > maxPriceChangesBound:
		return ErrInvalidParams.Wrapf("max_price_changes_per_block must be in [1, %d]", maxPriceChangesBound)
	case p.FeedbackWindowBlocks == 0 || p.FeedbackWindowBlocks > maxFeedbackWindowBound:
		return ErrInvalidParams.Wrapf("feedback_window_blocks must be in [1, %d], got %d", maxFeedbackWindowBound, p.FeedbackWindowBlocks)
	case p.FeedbackMinContributions > maxFeedbackRequirementBound || p.FeedbackMinContributors > maxFeedbackRequirementBound:
		return ErrInvalidParams.Wrapf("feedback_min_contributions and feedback_min_contributors must be <= %d", maxFeedbackRequirementBound)
	case p.FeedbackReviewWindowBlocks == 0 || p.FeedbackReviewWindowBlocks > maxFeedbackWindowBound:
		return ErrInvalidParams.Wrapf("feedback_review_window_blocks must be in [1, %d], got %d", maxFeedbackWindowBound, p.FeedbackReviewWindowBlocks)
	case p.QualityToleranceBps > BpsScale:
		return ErrInvalidParams.Wrapf("quality_tolerance_bps must be <= %d, got %d", BpsScale, p.QualityToleranceBps)
	}
	c := p.MaxRoyaltyPerThousandTokens
	if err := sdk.ValidateDenom(c.Denom); err != nil {
		return ErrInvalidParams.Wrapf("max_royalty_per_thousand_tokens denom: %v", err)
	}
	if c.Amount.IsNil() || c.Amount.IsNegative() {
		return ErrInvalidParams.Wrap("max_royalty_per_thousand_tokens amount must be zero or positive")
	}
	if c.Amount.GT(maxRoyaltyCap()) {
		return ErrInvalidParams.Wrapf("max_royalty_per_thousand_tokens must be <= 10^%d", maxRoyaltyDigits)
	}
	f := p.MinFeedbackPayment
	if f.Amount.IsNil() || f.Amount.IsNegative() {
		return ErrInvalidParams.Wrap("min_feedback_payment amount must be zero or positive")
	}
	if f.Denom != c.Denom {
		return ErrInvalidParams.Wrapf("min_feedback_payment denom must be the royalty denom %q, got %q", c.Denom, f.Denom)
	}
	if f.Amount.GT(maxRoyaltyCap()) {
		return ErrInvalidParams.Wrapf("min_feedback_payment must be <= 10^%d", maxRoyaltyDigits)
	}
	return nil
}

func maxRoyaltyCap() sdkmath.Int {
	return sdkmath.NewIntWithDecimal(1, maxRoyaltyDigits)
}

// ValidateRoyalty checks a deployment's royalty per 1,000 tokens against the params:
// the params' denom, not negative, at most the cap (which keeps royalty × tokens far
// from overflowing math.Int).
func (p Params) ValidateRoyalty(field string, c sdk.Coin) error {
	if c.Amount.IsNil() {
		return ErrInvalidRoyalty.Wrapf("%s: amount is missing", field)
	}
	if c.Denom != p.MaxRoyaltyPerThousandTokens.Denom {
		return ErrInvalidRoyalty.Wrapf("%s: denom must be %q, got %q", field, p.MaxRoyaltyPerThousandTokens.Denom, c.Denom)
	}
	if c.Amount.IsNegative() {
		return ErrInvalidRoyalty.Wrapf("%s: must not be negative", field)
	}
	if c.Amount.GT(p.MaxRoyaltyPerThousandTokens.Amount) {
		return ErrInvalidRoyalty.Wrapf("%s: %s exceeds the maximum %s", field, c, p.MaxRoyaltyPerThousandTokens)
	}
	return nil
}
