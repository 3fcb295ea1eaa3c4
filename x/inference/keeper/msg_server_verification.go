package keeper

import (
	"bytes"
	"context"
	"math"

	"cosmossdk.io/collections"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/inference/types"
	"github.com/openledger/openledger/x/internal/fields"
)

// Challenge disputes a PENDING receipt or settlement inside its challenge window:
// the bond is escrowed, the target becomes CHALLENGED (its payment waits) and the
// committee is drawn at the end of this block.
func (m msgServer) Challenge(ctx context.Context, msg *types.MsgChallenge) (*types.MsgChallengeResponse, error) {
	k := m.k
	challenger, err := k.parseAddress("challenger", msg.Challenger)
	if err != nil {
		return nil, err
	}
	switch msg.Claim {
	case types.CLAIM_OUTPUT_MISMATCH, types.CLAIM_ATTRIBUTION_MISMATCH, types.CLAIM_USAGE_OVERCOUNT:
	default:
		return nil, types.ErrInvalidField.Wrapf("claim: %s may not be challenged", msg.Claim)
	}
	params, err := k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	if err := msg.Bond.Validate(); err != nil {
		return nil, types.ErrInvalidAmount.Wrapf("bond: %v", err)
	}
	if msg.Bond.Denom != params.MinChallengeBond.Denom || msg.Bond.Amount.LT(params.MinChallengeBond.Amount) {
		return nil, types.ErrInvalidAmount.Wrapf("bond: %s, want at least %s", msg.Bond, params.MinChallengeBond)
	}
	if n := len(msg.Bond.Amount.String()); n > types.MaxPriceDigits {
		return nil, types.ErrInvalidAmount.Wrapf("bond: %d digits exceeds %d", n, types.MaxPriceDigits)
	}
	t, err := k.loadTarget(ctx, msg.TargetKind, msg.TargetId)
	if err != nil {
		return nil, err
	}
	if t.disputeID != 0 {
		return nil, types.ErrAlreadyDisputed.Wrapf("%s %d: dispute %d", t.kind, t.id, t.disputeID)
	}
	if t.status != types.SETTLEMENT_STATUS_PENDING {
		return nil, types.ErrNotChallengeable.Wrapf("%s %d is %s", t.kind, t.id, t.status)
	}
	if h := height(ctx); h > t.challengeEnd {
		return nil, types.ErrWindowClosed.Wrapf("%s %d: challenge window ended at %d, now %d", t.kind, t.id, t.challengeEnd, h)
	}
	operator := k.addrString(challenger)
	if operator == t.provider {
		return nil, types.ErrPartyToDispute.Wrapf("%s is the accused provider", operator)
	}
	if err := k.bank.SendCoinsFromAccountToModule(ctx, challenger, types.ModuleName, sdk.NewCoins(msg.Bond)); err != nil {
		return nil, err
	}
	id, err := k.openDispute(ctx, t, msg.Claim, operator, msg.Bond)
	if err != nil {
		return nil, err
	}
	return &types.MsgChallengeResponse{DisputeId: id}, nil
}

// votingDispute loads a VOTING dispute and checks that voter sits on its committee.
func (k Keeper) votingDispute(ctx context.Context, voterField string, id uint64) (types.Dispute, sdk.AccAddress, string, error) {
	voter, err := k.parseAddress("voter", voterField)
	if err != nil {
		return types.Dispute{}, nil, "", err
	}
	d, err := k.GetDispute(ctx, id)
	if err != nil {
		return types.Dispute{}, nil, "", err
	}
	if d.Status != types.DISPUTE_STATUS_VOTING {
		return types.Dispute{}, nil, "", types.ErrWrongDisputeStatus.Wrapf("dispute %d is %s", id, d.Status)
	}
	operator := k.addrString(voter)
	for _, mem := range d.Committee {
		if mem.Operator == operator {
			return d, voter, operator, nil
		}
	}
	return types.Dispute{}, nil, "", types.ErrNotCommitteeMember.Wrapf("%s on dispute %d", operator, id)
}

// CommitVote stores a member's commitment until the commit window ends.
func (m msgServer) CommitVote(ctx context.Context, msg *types.MsgCommitVote) (*types.MsgCommitVoteResponse, error) {
	k := m.k
	if len(msg.Commitment) != types.CommitmentLength {
		return nil, types.ErrInvalidField.Wrapf("commitment: %d bytes, want %d", len(msg.Commitment), types.CommitmentLength)
	}
	d, voter, operator, err := k.votingDispute(ctx, msg.Voter, msg.DisputeId)
	if err != nil {
		return nil, err
	}
	h := height(ctx)
	if h > d.CommitEndHeight {
		return nil, types.ErrWindowClosed.Wrapf("dispute %d: commits ended at %d, now %d", d.Id, d.CommitEndHeight, h)
	}
	key := collections.Join(d.Id, voter)
	if has, err := k.Votes.Has(ctx, key); err != nil {
		return nil, err
	} else if has {
		return nil, types.ErrAlreadyCommitted.Wrapf("%s on dispute %d", operator, d.Id)
	}
	rec := types.VoteRecord{DisputeId: d.Id, Voter: operator, Commitment: bytes.Clone(msg.Commitment), CommitHeight: h}
	if err := k.Votes.Set(ctx, key, rec); err != nil {
		return nil, err
	}
	return &types.MsgCommitVoteResponse{}, marketEmit(ctx, &types.EventVoteCommitted{DisputeId: d.Id, Voter: operator})
}

// RevealVote accepts a vote and salt matching the member's own commitment, after
// the commit window and until the reveal window ends.
func (m msgServer) RevealVote(ctx context.Context, msg *types.MsgRevealVote) (*types.MsgRevealVoteResponse, error) {
	k := m.k
	if n := len(msg.Salt); n < types.MinSaltLength || n > types.MaxSaltLength {
		return nil, types.ErrInvalidField.Wrapf("salt: %d bytes, want %d..%d", n, types.MinSaltLength, types.MaxSaltLength)
	}
	vote, err := checkVote(msg.Vote)
	if err != nil {
		return nil, err
	}
	d, voter, operator, err := k.votingDispute(ctx, msg.Voter, msg.DisputeId)
	if err != nil {
		return nil, err
	}
	h := height(ctx)
	if h <= d.CommitEndHeight || h > d.RevealEndHeight {
		return nil, types.ErrWindowClosed.Wrapf("dispute %d: reveals run from %d to %d, now %d", d.Id, d.CommitEndHeight+1, d.RevealEndHeight, h)
	}
	key := collections.Join(d.Id, voter)
	rec, err := k.Votes.Get(ctx, key)
	if isNotFound(err) {
		return nil, types.ErrNoCommitment.Wrapf("%s on dispute %d", operator, d.Id)
	} else if err != nil {
		return nil, err
	}
	if rec.Revealed {
		return nil, types.ErrAlreadyRevealed.Wrapf("%s on dispute %d", operator, d.Id)
	}
	// The commitment binds the vote as sent (before normalisation) and the voter.
	want, err := types.VoteCommitment(d.Id, operator, msg.Vote, msg.Salt)
	if err != nil {
		return nil, types.ErrInvalidField.Wrapf("vote: %v", err)
	}
	if !bytes.Equal(want, rec.Commitment) {
		return nil, types.ErrCommitmentMismatch.Wrapf("%s on dispute %d", operator, d.Id)
	}
	rec.Revealed, rec.RevealHeight, rec.Vote = true, h, vote
	if err := k.Votes.Set(ctx, key, rec); err != nil {
		return nil, err
	}
	return &types.MsgRevealVoteResponse{}, marketEmit(ctx, &types.EventVoteRevealed{
		DisputeId: d.Id, Voter: operator, ClaimHolds: vote.ClaimHolds,
	})
}

// checkVote validates a vote's result and returns it normalised (lower-case hex,
// canonical CIDs). Empty digests are allowed (a member that could not recompute a
// part); the summary's contents are checked against the deployment only if adopted.
func checkVote(v types.Vote) (types.Vote, error) {
	r := v.Result
	var err error
	if r.OutputSha256 != "" {
		if r.OutputSha256, err = fields.NormalizeSHA256(types.ErrInvalidField, "vote.result.output_sha256", r.OutputSha256); err != nil {
			return types.Vote{}, err
		}
	}
	if r.PromptTokens > math.MaxUint64-r.CompletionTokens {
		return types.Vote{}, types.ErrInvalidField.Wrap("vote.result: prompt + completion tokens overflow")
	}
	if r.RecordCid != "" {
		if r.RecordCid, err = fields.NormalizeCID(types.ErrInvalidField, "vote.result.record_cid", r.RecordCid); err != nil {
			return types.Vote{}, err
		}
	}
	if r.Summary.RecordSha256 != "" {
		if r.Summary.RecordSha256, err = fields.NormalizeSHA256(types.ErrInvalidSummary, "vote.result.summary.record_sha256", r.Summary.RecordSha256); err != nil {
			return types.Vote{}, err
		}
	}
	if n := len(r.Summary.Top) + len(r.Summary.Pools); n > types.MaxSummaryEntries {
		return types.Vote{}, types.ErrInvalidSummary.Wrapf("vote.result.summary: %d entries exceeds %d", n, types.MaxSummaryEntries)
	}
	v.Result = r
	return v, nil
}
