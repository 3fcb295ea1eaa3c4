package keeper

import (
	"context"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/inference/types"
)

// processDisputes runs the dispute queue (at most limit items): SELECTING disputes
// get their committee at the end of the block they were opened in, VOTING ones are
// tallied at the end of reveal_end_height.
func (k Keeper) processDisputes(ctx context.Context, params types.Params, limit int) error {
	_, err := k.drainQueue(ctx, k.DisputeQueue, limit, "dispute", func(ctx sdk.Context, id uint64) error {
		d, err := k.GetDispute(ctx, id)
		if err != nil {
			return err
		}
		switch d.Status {
		case types.DISPUTE_STATUS_SELECTING:
			return k.selectCommittee(ctx, params, d)
		case types.DISPUTE_STATUS_VOTING:
			if ctx.BlockHeight() < d.RevealEndHeight {
				return k.DisputeQueue.Set(ctx, collections.Join(d.RevealEndHeight, id))
			}
			return k.tally(ctx, params, d)
		}
		return nil
	})
	return err
}

// selectCommittee draws d's committee from the current block's hash. With fewer
// than min_committee_size members the dispute is INCONCLUSIVE at once (status quo,
// bond returned); otherwise it is VOTING until its reveal window ends.
func (k Keeper) selectCommittee(ctx sdk.Context, params types.Params, d types.Dispute) error {
	old := d
	h := ctx.BlockHeight()
	d.SeedHeight = h
	d.Seed = verificationSeed(ctx, seedDomainCommittee, d.TargetKind, d.TargetId)
	cands, err := k.eligibleCandidates(ctx, params, d, d.Seed)
	if err != nil {
		return err
	}
	members := drawCommittee(d.Seed, cands, int(params.CommitteeSize))
	if len(members) < int(params.MinCommitteeSize) {
		return k.resolve(ctx, params, old, d, types.DISPUTE_OUTCOME_INCONCLUSIVE, outcomeTooFew, nil)
	}
	d.Committee = members
	d.CommitteeWeight = sdkmath.ZeroInt()
	names := make([]string, len(members))
	for i, m := range members {
		d.CommitteeWeight = d.CommitteeWeight.Add(m.Weight)
		names[i] = m.Operator
	}
	d.Status = types.DISPUTE_STATUS_VOTING
	d.CommitEndHeight = h + int64(params.CommitBlocks)
	d.RevealEndHeight = d.CommitEndHeight + int64(params.RevealBlocks)
	if err := k.setDispute(ctx, &old, d); err != nil {
		return err
	}
	if err := k.DisputeQueue.Set(ctx, collections.Join(d.RevealEndHeight, d.Id)); err != nil {
		return err
	}
	return marketEmit(ctx, &types.EventCommitteeSelected{
		DisputeId: d.Id, Members: names, CommitEndHeight: d.CommitEndHeight, RevealEndHeight: d.RevealEndHeight,
		TargetKind: d.TargetKind, TargetId: d.TargetId,
	})
}

// ballot is a member's standing at the tally.
type ballot struct {
	member   types.CommitteeMember
	op       sdk.AccAddress
	revealed bool
	vote     types.Vote
}

// tally counts the revealed votes by weight. The claim is UPHELD when the weight
// voting that it holds exceeds the weight voting that it does not, REJECTED when it
// is below, INCONCLUSIVE on a tie or when less than quorum_bps of the committee
// weight revealed.
func (k Keeper) tally(ctx sdk.Context, params types.Params, d types.Dispute) error {
	old := d
	ballots := make([]ballot, 0, len(d.Committee))
	upheld, rejected := sdkmath.ZeroInt(), sdkmath.ZeroInt()
	for _, m := range d.Committee {
		op, err := k.parseAddress("committee member", m.Operator)
		if err != nil {
			return err
		}
		b := ballot{member: m, op: op}
		rec, err := k.Votes.Get(ctx, collections.Join(d.Id, op))
		switch {
		case err == nil && rec.Revealed:
			b.revealed, b.vote = true, rec.Vote
			if rec.Vote.ClaimHolds {
				upheld = upheld.Add(m.Weight)
			} else {
				rejected = rejected.Add(m.Weight)
			}
		case err != nil && !isNotFound(err):
			return err
		}
		ballots = append(ballots, b)
	}
	d.UpheldWeight, d.RejectedWeight = upheld, rejected
	revealed := upheld.Add(rejected)
	quorum := d.CommitteeWeight.MulRaw(int64(params.QuorumBps))
	switch {
	case revealed.MulRaw(types.BpsScale).LT(quorum):
		return k.resolve(ctx, params, old, d, types.DISPUTE_OUTCOME_INCONCLUSIVE, outcomeNoQuorum, ballots)
	case upheld.GT(rejected):
		return k.resolve(ctx, params, old, d, types.DISPUTE_OUTCOME_UPHELD, outcomeMajority, ballots)
	case rejected.GT(upheld):
		return k.resolve(ctx, params, old, d, types.DISPUTE_OUTCOME_REJECTED, outcomeMajority, ballots)
	default:
		return k.resolve(ctx, params, old, d, types.DISPUTE_OUTCOME_INCONCLUSIVE, outcomeTie, ballots)
	}
}

// committeeResult is the result carried by the most revealed weight, whatever the
// voters concluded about the claim (ties: the earlier-drawn member's group), and
// whether that weight is more than half of the revealed weight — the committee's
// established recomputation of the target.
func committeeResult(ballots []ballot) (types.VerificationResult, bool) {
	type group struct {
		result types.VerificationResult
		key    string
		weight sdkmath.Int
	}
	var groups []group
	revealed := sdkmath.ZeroInt()
	for _, b := range ballots {
		if !b.revealed {
			continue
		}
		revealed = revealed.Add(b.member.Weight)
		bz, err := b.vote.Result.Marshal()
		if err != nil {
			continue
		}
		key, found := string(bz), false
		for i := range groups {
			if groups[i].key == key {
				groups[i].weight = groups[i].weight.Add(b.member.Weight)
				found = true
				break
			}
		}
		if !found {
			groups = append(groups, group{result: b.vote.Result, key: key, weight: b.member.Weight})
		}
	}
	best := -1
	for i, g := range groups {
		if best < 0 || g.weight.GT(groups[best].weight) {
			best = i
		}
	}
	if best < 0 {
		return types.VerificationResult{}, false
	}
	return groups[best].result, groups[best].weight.MulRaw(2).GT(revealed)
}
