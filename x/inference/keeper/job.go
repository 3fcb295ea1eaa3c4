package keeper

import (
	"context"
	"encoding/hex"

	"cosmossdk.io/collections"
	errorsmod "cosmossdk.io/errors"
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/x/inference/types"
)

// Job accounting (ADR-004, the auction):
//
//   - escrow = ⌈max_tokens × (max_compute_price + royalty) / 1,000⌉, taken at
//     creation. The protocol fee is not added: x/rewards carves it out of the
//     payment (ADR-003), so the escrow covers the most the job can ever pay;
//   - at finalisation compute = ⌊tokens × winning_price / 1,000⌋ and royalty =
//     ⌊tokens × royalty_snapshot / 1,000⌋; since tokens ≤ max_tokens and
//     winning_price ≤ max_compute_price, compute + royalty ≤ escrow always holds. The
//     cap is kept as a guard: should it bind, the royalty (locked at creation and
//     owed to the model and data side) is paid whole and compute takes the cut;
//   - the module pays compute + royalty through x/rewards.Settle and refunds
//     escrow − paid to the requester. Should Settle refuse (the summary or the
//     deployment changed since the receipt was accepted), the module pays compute
//     straight to the provider (no protocol fee, no data share) and refunds the
//     royalty with the rest: the escrow is never stranded.

// Slash and jail reasons of jobs.
const (
	reasonMissedDeadline = "missed_deadline"
)

// jobEscrow is ⌈maxTokens × (maxCompute + royalty) / 1,000⌉.
func jobEscrow(maxTokens uint64, maxCompute, royalty sdkmath.Int) sdkmath.Int {
	num := sdkmath.NewIntFromUint64(maxTokens).Mul(maxCompute.Add(royalty))
	return num.AddRaw(types.TokensPerPrice - 1).QuoRaw(types.TokensPerPrice)
}

// perThousand is ⌊tokens × price / 1,000⌋.
func perThousand(tokens uint64, price sdkmath.Int) sdkmath.Int {
	return sdkmath.NewIntFromUint64(tokens).Mul(price).QuoRaw(types.TokensPerPrice)
}

// jobPayment splits what a finalised job pays: compute and royalty, capped so that
// their sum never exceeds the escrow (the royalty first, see the comment above).
func jobPayment(j types.Job, tokens uint64) (compute, royalty sdkmath.Int) {
	compute = perThousand(tokens, j.WinningPrice.Amount)
	royalty = perThousand(tokens, j.RoyaltyPerThousandTokens.Amount)
	escrow := j.Escrow.Amount
	if royalty.GT(escrow) {
		royalty = escrow
	}
	if room := escrow.Sub(royalty); compute.GT(room) {
		compute = room
	}
	return compute, royalty
}

// checkGenerationParams checks a job's sampling parameters against the hard bounds.
func checkGenerationParams(p types.GenerationParams) error {
	if p.TemperatureMilli > types.MaxTemperatureMilli {
		return types.ErrInvalidField.Wrapf("params.temperature_milli: %d exceeds %d", p.TemperatureMilli, types.MaxTemperatureMilli)
	}
	if p.TopPPpm > types.MaxTopPPpm {
		return types.ErrInvalidField.Wrapf("params.top_p_ppm: %d exceeds %d", p.TopPPpm, types.MaxTopPPpm)
	}
	if len(p.Stop) > types.MaxStopSequences {
		return types.ErrInvalidField.Wrapf("params.stop: %d sequences, max %d", len(p.Stop), types.MaxStopSequences)
	}
	for i, s := range p.Stop {
		if len(s) == 0 || len(s) > types.MaxStopSequenceLength {
			return types.ErrInvalidField.Wrapf("params.stop[%d]: %d bytes, want 1..%d", i, len(s), types.MaxStopSequenceLength)
		}
	}
	return nil
}

// inRangeU64 checks lo <= v <= hi.
func inRangeU64(field string, v, lo, hi uint64) error {
	if v < lo || v > hi {
		return types.ErrInvalidField.Wrapf("%s: %d not in [%d, %d]", field, v, lo, hi)
	}
	return nil
}

// dropBids deletes a job's bids (at most max_bids_per_job of them).
func (k Keeper) dropBids(ctx context.Context, jobID uint64) error {
	var keys []BidKey
	rng := collections.NewPrefixedPairRange[uint64, sdk.AccAddress](jobID)
	if err := k.Bids.Walk(ctx, rng, func(key BidKey, _ types.Bid) (bool, error) {
		keys = append(keys, key)
		return false, nil
	}); err != nil {
		return err
	}
	for _, key := range keys {
		if err := k.Bids.Remove(ctx, key); err != nil {
			return err
		}
	}
	return nil
}

// refundJob closes a job without payment in a final status (EXPIRED, FAILED,
// CANCELLED): its whole escrow goes back to the requester and its bids are dropped.
// The caller has removed the job from its queue.
func (k Keeper) refundJob(ctx context.Context, j types.Job, to types.JobStatus) (sdk.Coin, error) {
	requester, err := k.parseAddress("requester", j.Requester)
	if err != nil {
		return sdk.Coin{}, err
	}
	if j.Escrow.IsPositive() {
		if err := k.bank.SendCoinsFromModuleToAccount(ctx, types.ModuleName, requester, sdk.NewCoins(j.Escrow)); err != nil {
			return sdk.Coin{}, err
		}
	}
	old := j
	j.Status = to
	j.Refunded = j.Escrow
	j.Paid = marketZero(j.Escrow.Denom)
	j.ClosedHeight = height(ctx)
	if err := k.setJob(ctx, &old, j); err != nil {
		return sdk.Coin{}, err
	}
	if err := k.dropBids(ctx, j.Id); err != nil {
		return sdk.Coin{}, err
	}
	return j.Refunded, marketEmit(ctx, &types.EventJobClosed{JobId: j.Id, Status: to, Refunded: j.Refunded})
}

// bidRank is a bid with what the award compares.
type bidRank struct {
	bid   types.Bid
	stake sdkmath.Int
}

// bidBefore is the award order: lower price, then higher bonded stake, then the
// earlier bid (lower sequence).
func bidBefore(a, b bidRank) bool {
	if !a.bid.Price.Amount.Equal(b.bid.Price.Amount) {
		return a.bid.Price.Amount.LT(b.bid.Price.Amount)
	}
	if !a.stake.Equal(b.stake) {
		return a.stake.GT(b.stake)
	}
	return a.bid.Sequence < b.bid.Sequence
}

// rankedBids returns a job's bids with their providers' bonded stakes and statuses,
// in award order (insertion sort: at most max_bids_per_job ≤ 256 bids).
func (k Keeper) rankedBids(ctx context.Context, jobID uint64) ([]bidRank, []types.ProviderStatus, error) {
	var ranks []bidRank
	var statuses []types.ProviderStatus
	rng := collections.NewPrefixedPairRange[uint64, sdk.AccAddress](jobID)
	err := k.Bids.Walk(ctx, rng, func(key BidKey, b types.Bid) (bool, error) {
		p, err := k.GetProvider(ctx, key.K2())
		if err != nil {
			return true, err
		}
		r := bidRank{bid: b, stake: p.Stake.Amount}
		i := len(ranks)
		ranks = append(ranks, r)
		statuses = append(statuses, p.Status)
		for ; i > 0 && bidBefore(r, ranks[i-1]); i-- {
			ranks[i], statuses[i] = ranks[i-1], statuses[i-1]
		}
		ranks[i], statuses[i] = r, p.Status
		return false, nil
	})
	return ranks, statuses, err
}

// CanonicalJobReceipt is the receipt a job's winner signs with its libp2p key: the
// stored receipt's fields (CIDs in CIDv1 base32, digests in lowercase hex, as the
// chain stores them) bound to the chain id and the job's model version. Providers
// and auditors build it the same way from the stored Receipt.
func CanonicalJobReceipt(chainID string, r types.Receipt) (voucher.Receipt, error) {
	var sha [32]byte
	b, err := hex.DecodeString(r.OutputSha256)
	if err != nil || len(b) != len(sha) {
		return voucher.Receipt{}, types.ErrInvalidField.Wrapf("output_sha256: %q", r.OutputSha256)
	}
	copy(sha[:], b)
	return voucher.Receipt{
		ChainID: chainID, Provider: r.Provider, JobID: r.JobId,
		OutputCID: r.OutputCid, OutputSHA256: sha,
		PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens,
		EngineName: r.EngineName, EngineVersion: r.EngineVersion,
		ModelID: r.ModelId, ModelVersion: r.ModelVersion,
		RecordCID: r.RecordCid, Summary: types.VoucherSummary(r.Summary),
		Signature: r.Signature,
	}, nil
}

// causedError carries a module error (its ABCI code and codespace) and the error
// that caused it (still visible to errors.Is and errors.As).
type causedError struct {
	err   error // the module's registered error, wrapped with the cause's text
	cause error
}

func (e *causedError) Error() string   { return e.err.Error() }
func (e *causedError) Cause() error    { return e.err }
func (e *causedError) Unwrap() []error { return []error{e.err, e.cause} }

// withCause wraps cause in the registered error reg, keeping both.
func withCause(reg *errorsmod.Error, cause error) error {
	return &causedError{err: reg.Wrap(cause.Error()), cause: cause}
}
