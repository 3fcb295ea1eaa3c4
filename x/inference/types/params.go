package types

import (
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
)

// DefaultStakeDenom is the chain's base denom.
const DefaultStakeDenom = "uopen"

// Hard bounds that governance cannot cross; every per-block and per-item loop is
// bounded by one of them.
const (
	maxBlocksBound          = 10_000_000
	maxListBound            = 64
	maxBidsBound            = 256
	maxUnbondingEntries     = 32
	maxQueueItemsBound      = 10_000
	MaxJobTokensBound       = 1 << 40
	maxSlashBps             = BpsScale
	MaxStopSequences        = 16
	MaxStopSequenceLength   = 64
	MaxTemperatureMilli     = 100_000
	MaxTopPPpm              = 1_000_000
	MaxPeerIDLength         = 128
	MaxMultiaddrLength      = 256
	MaxURLLength            = 256
	MaxNameLength           = 64
	MaxMonikerLength        = 70
	MaxPriceDigits          = 30
	MaxSessionPubKeyLength  = 32
	MaxVoucherSignatureSize = 64
	MaxReceiptSignatureSize = 256
	MaxCommitteeSize        = 64
	MaxCommitteeCandidates  = 1_000
	MinSaltLength           = 16
	MaxSaltLength           = 64
	CommitmentLength        = 32
	MaxSummaryEntries       = 256
)

// DefaultParams returns the module's default params.
func DefaultParams() Params {
	return Params{
		MinProviderStake:      sdk.NewCoin(DefaultStakeDenom, sdkmath.NewInt(1_000_000)),
		UnbondingBlocks:       100_800, // about a week at 6 s blocks
		MaxUnbondingEntries:   7,
		MaxMultiaddrs:         8,
		MaxEngines:            8,
		MinBidWindowBlocks:    1,
		MaxBidWindowBlocks:    1_000,
		MinExecutionBlocks:    1,
		MaxExecutionBlocks:    10_000,
		MaxBidsPerJob:         32,
		MaxJobTokens:          1 << 20,
		ChallengeWindowBlocks: 10,
		DeadlineSlashBps:      100, // 1 %
		MaxReauctions:         1,
		JailBlocks:            1_000,
		JailAfterMisses:       3,
		SessionGraceBlocks:    100,
		MaxSessionBlocks:      1_000_000,
		MaxQueueItemsPerBlock: 200,

		AuditBps:               200, // 2 %
		CommitteeSize:          5,
		MinCommitteeSize:       3,
		MaxCommitteeCandidates: 200,
		CommitteeRequiresOffer: true,
		CommitBlocks:           20,
		RevealBlocks:           20,
		MinChallengeBond:       sdk.NewCoin(DefaultStakeDenom, sdkmath.NewInt(100_000)),
		FraudSlashBps:          5_000,  // 50 % of the accused's stake
		BondSlashBps:           10_000, // the whole bond
		AbsenceSlashBps:        100,    // 1 %
		WrongVoteSlashBps:      50,     // 0.5 %
		ChallengerRewardBps:    5_000,
		VoterRewardBps:         3_000,
		QuorumBps:              5_001,
		JailAfterFaults:        2,
	}
}

// Validate checks every param against its bounds.
func (p Params) Validate() error {
	inRange := func(name string, v, lo, hi uint64) error {
		if v < lo || v > hi {
			return ErrInvalidParams.Wrapf("%s must be in [%d, %d], got %d", name, lo, hi, v)
		}
		return nil
	}
	if err := p.MinProviderStake.Validate(); err != nil {
		return ErrInvalidParams.Wrapf("min_provider_stake: %v", err)
	}
	if !p.MinProviderStake.IsPositive() {
		return ErrInvalidParams.Wrap("min_provider_stake must be positive")
	}
	if err := p.MinChallengeBond.Validate(); err != nil {
		return ErrInvalidParams.Wrapf("min_challenge_bond: %v", err)
	}
	if !p.MinChallengeBond.IsPositive() || p.MinChallengeBond.Denom != p.MinProviderStake.Denom {
		return ErrInvalidParams.Wrap("min_challenge_bond must be positive, in the stake denom")
	}
	checks := []error{
		inRange("unbonding_blocks", p.UnbondingBlocks, 1, maxBlocksBound),
		inRange("max_unbonding_entries", uint64(p.MaxUnbondingEntries), 1, maxUnbondingEntries),
		inRange("max_multiaddrs", uint64(p.MaxMultiaddrs), 1, maxListBound),
		inRange("max_engines", uint64(p.MaxEngines), 1, maxListBound),
		inRange("min_bid_window_blocks", p.MinBidWindowBlocks, 1, maxBlocksBound),
		inRange("max_bid_window_blocks", p.MaxBidWindowBlocks, p.MinBidWindowBlocks, maxBlocksBound),
		inRange("min_execution_blocks", p.MinExecutionBlocks, 1, maxBlocksBound),
		inRange("max_execution_blocks", p.MaxExecutionBlocks, p.MinExecutionBlocks, maxBlocksBound),
		inRange("max_bids_per_job", uint64(p.MaxBidsPerJob), 1, maxBidsBound),
		inRange("max_job_tokens", p.MaxJobTokens, 1, MaxJobTokensBound),
		inRange("challenge_window_blocks", p.ChallengeWindowBlocks, 0, maxBlocksBound),
		inRange("deadline_slash_bps", uint64(p.DeadlineSlashBps), 0, maxSlashBps),
		inRange("max_reauctions", uint64(p.MaxReauctions), 0, 16),
		inRange("jail_blocks", p.JailBlocks, 0, maxBlocksBound),
		inRange("jail_after_misses", uint64(p.JailAfterMisses), 0, 1_000),
		inRange("session_grace_blocks", p.SessionGraceBlocks, 0, maxBlocksBound),
		inRange("max_session_blocks", p.MaxSessionBlocks, 1, maxBlocksBound*10),
		inRange("max_queue_items_per_block", uint64(p.MaxQueueItemsPerBlock), 1, maxQueueItemsBound),
		inRange("audit_bps", uint64(p.AuditBps), 0, BpsScale),
		inRange("committee_size", uint64(p.CommitteeSize), 1, MaxCommitteeSize),
		inRange("min_committee_size", uint64(p.MinCommitteeSize), 1, uint64(p.CommitteeSize)),
		inRange("max_committee_candidates", uint64(p.MaxCommitteeCandidates), uint64(p.CommitteeSize), MaxCommitteeCandidates),
		inRange("commit_blocks", p.CommitBlocks, 1, maxBlocksBound),
		inRange("reveal_blocks", p.RevealBlocks, 1, maxBlocksBound),
		inRange("fraud_slash_bps", uint64(p.FraudSlashBps), 0, maxSlashBps),
		inRange("bond_slash_bps", uint64(p.BondSlashBps), 0, maxSlashBps),
		inRange("absence_slash_bps", uint64(p.AbsenceSlashBps), 0, maxSlashBps),
		inRange("wrong_vote_slash_bps", uint64(p.WrongVoteSlashBps), 0, maxSlashBps),
		inRange("challenger_reward_bps", uint64(p.ChallengerRewardBps), 0, BpsScale),
		inRange("voter_reward_bps", uint64(p.VoterRewardBps), 0, BpsScale-uint64(p.ChallengerRewardBps)),
		inRange("quorum_bps", uint64(p.QuorumBps), 1, BpsScale),
		inRange("jail_after_faults", uint64(p.JailAfterFaults), 0, 1_000),
	}
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	return nil
}
