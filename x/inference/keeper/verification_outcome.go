package keeper

import (
	"bytes"
	"context"
	"encoding/hex"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/inference/types"
)

// resolve applies an outcome (ADR-006):
//
//   - every member that did not reveal is slashed absence_slash_bps, every member that
//     revealed against a majority verdict wrong_vote_slash_bps (to the community pool);
//   - UPHELD: the accused loses fraud_slash_bps of its stake; of that, the challenger
//     gets challenger_reward_bps (none for audits), the majority voters share
//     voter_reward_bps by weight, the rest goes to the community pool; the bond comes
//     back whole; an attribution mismatch has the committee's summary replace the
//     target's, which is then paid; any other mismatch voids the target and refunds
//     the requester; the provider's fault count grows and it is jailed at
//     jail_after_faults;
//   - REJECTED: the challenger loses bond_slash_bps of its bond, shared the same way
//     between the majority voters and the community pool; the target is paid — unless
//     a majority of the revealed stake recomputed a result that contradicts it, in
//     which case the accused is punished as for UPHELD (without a challenger reward);
//   - INCONCLUSIVE: the bond comes back, the target is paid (status quo).
//
// Every coin taken is paid out in the same transition, so the module account still
// holds exactly what it owes.
func (k Keeper) resolve(ctx sdk.Context, params types.Params, old, d types.Dispute, outcome types.DisputeOutcome,
	reason string, ballots []ballot,
) error {
	t, err := k.loadTarget(ctx, d.TargetKind, d.TargetId)
	if err != nil {
		return err
	}
	jobID := uint64(0)
	if d.TargetKind == types.TARGET_KIND_JOB_RECEIPT {
		jobID = d.TargetId
	}
	decided := outcome == types.DISPUTE_OUTCOME_UPHELD || outcome == types.DISPUTE_OUTCOME_REJECTED
	upheld := outcome == types.DISPUTE_OUTCOME_UPHELD
	var majority []ballot
	for _, b := range ballots {
		switch {
		case !b.revealed:
			if err := k.recordSlash(ctx, d.Id, b.op, params.AbsenceSlashBps, reasonAbsent, jobID); err != nil {
				return err
			}
		case decided && b.vote.ClaimHolds != upheld:
			if err := k.recordSlash(ctx, d.Id, b.op, params.WrongVoteSlashBps, reasonWrongVote, jobID); err != nil {
				return err
			}
		case decided:
			majority = append(majority, b)
		}
	}
	bond := d.Bond
	toTarget := types.SETTLEMENT_STATUS_PENDING
	adopted, established := committeeResult(ballots)
	d.Adopted = adopted
	switch outcome {
	case types.DISPUTE_OUTCOME_UPHELD:
		if toTarget, err = k.punish(ctx, params, &d, t, majority, false); err != nil {
			return err
		}
		d.BondReturned = bond
		if err := k.payOut(ctx, d.Challenger, d.ChallengerReward.Add(bond)); err != nil {
			return err
		}
	case types.DISPUTE_OUTCOME_REJECTED:
		d.BondSlashed = sdk.NewCoin(bond.Denom, bpsOf(bond.Amount, params.BondSlashBps))
		d.BondReturned = bond.Sub(d.BondSlashed)
		bondShare, err := k.payVoters(ctx, bond.Denom, bpsOf(d.BondSlashed.Amount, params.VoterRewardBps), majority)
		if err != nil {
			return err
		}
		d.VoterRewards = bondShare
		if err := k.payOut(ctx, d.Challenger, d.BondReturned); err != nil {
			return err
		}
		if err := k.toCommunityPool(ctx, d.BondSlashed.Sub(bondShare)); err != nil {
			return err
		}
		// The claim was wrong, but if a majority of the revealed stake recomputed a
		// result that differs from the target's, the target is wrong anyway: a forger
		// cannot shield its receipt by challenging it itself with the wrong claim.
		own, err := k.targetResult(ctx, t)
		if err != nil {
			return err
		}
		if m := compareResults(own, adopted); established && m.any() {
			if toTarget, err = k.punish(ctx, params, &d, t, majority, true); err != nil {
				return err
			}
			d.VoterRewards = d.VoterRewards.Add(bondShare)
		} else if err := k.setTargetStatus(ctx, t, types.SETTLEMENT_STATUS_PENDING, d.Id); err != nil {
			return err
		}
	default:
		d.BondReturned = bond
		if err := k.payOut(ctx, d.Challenger, bond); err != nil {
			return err
		}
		if err := k.setTargetStatus(ctx, t, types.SETTLEMENT_STATUS_PENDING, d.Id); err != nil {
			return err
		}
	}
	d.Status, d.Outcome, d.Reason, d.ResolvedHeight = types.DISPUTE_STATUS_RESOLVED, outcome, reason, ctx.BlockHeight()
	if err := k.setDispute(ctx, &old, d); err != nil {
		return err
	}
	return marketEmit(ctx, &types.EventDisputeResolved{
		DisputeId: d.Id, Outcome: outcome, Reason: reason, ProviderSlashed: d.ProviderSlashed,
		BondReturned: d.BondReturned, BondSlashed: d.BondSlashed, ChallengerReward: d.ChallengerReward,
		VoterRewards: d.VoterRewards, TargetStatus: toTarget,
	})
}

// punish applies a fraud finding to the accused: fraud_slash_bps of its stake, of
// which the challenger's share (only when the claim itself was upheld: not
// secondFinding, not an audit) is set on d for the caller to pay, the majority voters'
// share is paid, and the rest goes to the community pool; its fault count grows and
// the target is corrected (correctTarget). d.VoterRewards is set to the voters' share.
func (k Keeper) punish(ctx sdk.Context, params types.Params, d *types.Dispute, t target, majority []ballot,
	secondFinding bool,
) (types.SettlementStatus, error) {
	denom := params.MinProviderStake.Denom
	jobID := uint64(0)
	if d.TargetKind == types.TARGET_KIND_JOB_RECEIPT {
		jobID = d.TargetId
	}
	provider, err := k.parseAddress("provider", d.Provider)
	if err != nil {
		return 0, err
	}
	slashed, err := k.slashStake(ctx, provider, params.FraudSlashBps, reasonFraud, jobID)
	if err != nil {
		return 0, err
	}
	if err := k.putSlashRecord(ctx, d.Id, provider, slashed, reasonFraud); err != nil {
		return 0, err
	}
	d.ProviderSlashed = slashed
	if d.Challenger != "" && !secondFinding {
		d.ChallengerReward = sdk.NewCoin(denom, bpsOf(slashed.Amount, params.ChallengerRewardBps))
	}
	if d.VoterRewards, err = k.payVoters(ctx, denom, bpsOf(slashed.Amount, params.VoterRewardBps), majority); err != nil {
		return 0, err
	}
	rest := slashed.Amount.Sub(d.ChallengerReward.Amount).Sub(d.VoterRewards.Amount)
	if err := k.toCommunityPool(ctx, sdk.NewCoin(denom, rest)); err != nil {
		return 0, err
	}
	if err := k.countFault(ctx, provider, params); err != nil {
		return 0, err
	}
	return k.correctTarget(ctx, t, *d, secondFinding)
}

// mismatch says in which parts a recomputed result contradicts the target. A part
// the result leaves empty (a member that could not recompute it) contradicts nothing.
type mismatch struct{ output, usage, attribution bool }

func (m mismatch) any() bool { return m.output || m.usage || m.attribution }

// compareResults compares the committee's result a with the target's own.
func compareResults(own, a types.VerificationResult) mismatch {
	var m mismatch
	m.output = a.OutputSha256 != "" && a.OutputSha256 != own.OutputSha256
	if tokens := a.PromptTokens + a.CompletionTokens; tokens != 0 {
		m.usage = tokens != own.PromptTokens+own.CompletionTokens
	}
	if a.Summary.RecordSha256 != "" {
		x, errX := a.Summary.Marshal()
		y, errY := own.Summary.Marshal()
		m.attribution = errX != nil || errY != nil || !bytes.Equal(x, y)
	}
	return m
}

// bpsOf is ⌊amount × bps / 10,000⌋.
func bpsOf(amount sdkmath.Int, bps uint32) sdkmath.Int {
	return amount.MulRaw(int64(bps)).QuoRaw(types.BpsScale)
}

// payOut sends c from the module to addr (nothing when c is zero or addr empty).
func (k Keeper) payOut(ctx context.Context, addr string, c sdk.Coin) error {
	if addr == "" || !c.IsPositive() {
		return nil
	}
	to, err := k.parseAddress("recipient", addr)
	if err != nil {
		return err
	}
	return k.bank.SendCoinsFromModuleToAccount(ctx, types.ModuleName, to, sdk.NewCoins(c))
}

// toCommunityPool moves c from the module to the community pool.
func (k Keeper) toCommunityPool(ctx context.Context, c sdk.Coin) error {
	if !c.IsPositive() {
		return nil
	}
	return k.distr.FundCommunityPool(ctx, sdk.NewCoins(c), k.ModuleAddress())
}

// payVoters shares pool between the majority voters by weight, each getting
// ⌊pool × weight / majority weight⌋; it returns what was paid (the rounding
// remainder stays with the caller, which sends it to the community pool).
func (k Keeper) payVoters(ctx context.Context, denom string, pool sdkmath.Int, majority []ballot) (sdk.Coin, error) {
	paid := sdkmath.ZeroInt()
	total := sdkmath.ZeroInt()
	for _, b := range majority {
		total = total.Add(b.member.Weight)
	}
	if !pool.IsPositive() || !total.IsPositive() {
		return sdk.NewCoin(denom, paid), nil
	}
	for _, b := range majority {
		share := pool.Mul(b.member.Weight).Quo(total)
		if err := k.payOut(ctx, b.member.Operator, sdk.NewCoin(denom, share)); err != nil {
			return sdk.Coin{}, err
		}
		paid = paid.Add(share)
	}
	return sdk.NewCoin(denom, paid), nil
}

// recordSlash slashes a member bps of its stake to the community pool and records it.
func (k Keeper) recordSlash(ctx context.Context, disputeID uint64, op sdk.AccAddress, bps uint32, reason string, jobID uint64) error {
	if bps == 0 {
		return nil
	}
	slashed, err := k.Slash(ctx, op, bps, reason, jobID)
	if err != nil {
		return err
	}
	return k.putSlashRecord(ctx, disputeID, op, slashed, reason)
}

// putSlashRecord stores a positive verification slash.
func (k Keeper) putSlashRecord(ctx context.Context, disputeID uint64, op sdk.AccAddress, amount sdk.Coin, reason string) error {
	if !amount.IsPositive() {
		return nil
	}
	return k.VerificationSlashes.Set(ctx, collections.Join(op, disputeID), types.VerificationSlash{
		Operator: k.addrString(op), DisputeId: disputeID, Amount: amount, Reason: reason, Height: height(ctx),
	})
}

// countFault counts a lost dispute against the provider and jails it at
// params.jail_after_faults.
func (k Keeper) countFault(ctx context.Context, op sdk.AccAddress, params types.Params) error {
	p, err := k.GetProvider(ctx, op)
	if err != nil {
		return err
	}
	old := p
	p.VerificationFaults++
	if err := k.setProvider(ctx, op, &old, p); err != nil {
		return err
	}
	if params.JailAfterFaults > 0 && p.VerificationFaults >= uint64(params.JailAfterFaults) {
		return k.Jail(ctx, op, reasonFraudJail)
	}
	return nil
}

// targetResult is what the target itself claims, in the vote's terms.
func (k Keeper) targetResult(ctx context.Context, t target) (types.VerificationResult, error) {
	if t.kind == types.TARGET_KIND_JOB_RECEIPT {
		r, err := k.Receipts.Get(ctx, t.id)
		if err != nil {
			return types.VerificationResult{}, err
		}
		return types.VerificationResult{
			OutputSha256: r.OutputSha256, PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens,
			RecordCid: r.RecordCid, Summary: r.Summary,
		}, nil
	}
	st, err := k.Settlements.Get(ctx, t.id)
	if err != nil {
		return types.VerificationResult{}, err
	}
	return types.VerificationResult{
		OutputSha256: hex.EncodeToString(st.ReceiptsRoot), CompletionTokens: st.Tokens,
		RecordCid: st.RecordCid, Summary: st.Summary,
	}, nil
}

// correctTarget applies a fraud finding to the target: when only the attribution is
// wrong — the upheld claim or audit says so, or the finding comes from the results of a
// rejected claim (secondFinding), and the committee's result agrees with the target on
// output and usage — and the committee's summary is valid for the deployment, the
// summary and record replace the target's and it goes back to PENDING to be paid;
// otherwise the target is VOIDED and the requester refunded.
func (k Keeper) correctTarget(ctx sdk.Context, t target, d types.Dispute, secondFinding bool) (types.SettlementStatus, error) {
	own, err := k.targetResult(ctx, t)
	if err != nil {
		return 0, err
	}
	a := d.Adopted
	m := compareResults(own, a)
	attributionOnly := !m.output && !m.usage &&
		(secondFinding || d.Claim == types.CLAIM_ATTRIBUTION_MISMATCH || d.Claim == types.CLAIM_AUDIT)
	if attributionOnly && a.Summary.RecordSha256 != "" && k.rewards.ValidateSettlement(ctx, t.deploymentID, a.Summary) == nil {
		if err := k.replaceSummary(ctx, t, a); err != nil {
			return 0, err
		}
		if err := k.setTargetStatus(ctx, t, types.SETTLEMENT_STATUS_PENDING, d.Id); err != nil {
			return 0, err
		}
		return types.SETTLEMENT_STATUS_PENDING, marketEmit(ctx, &types.EventAttributionReplaced{
			DisputeId: d.Id, TargetKind: t.kind, TargetId: t.id, OldRecordSha256: own.Summary.RecordSha256,
			NewRecordSha256: a.Summary.RecordSha256,
		})
	}
	return types.SETTLEMENT_STATUS_VOIDED, k.voidTarget(ctx, t)
}

// replaceSummary writes the committee's attribution record into the target.
func (k Keeper) replaceSummary(ctx context.Context, t target, a types.VerificationResult) error {
	if t.kind == types.TARGET_KIND_JOB_RECEIPT {
		r, err := k.Receipts.Get(ctx, t.id)
		if err != nil {
			return err
		}
		r.Summary = a.Summary
		if a.RecordCid != "" {
			r.RecordCid = a.RecordCid
		}
		return k.Receipts.Set(ctx, t.id, r)
	}
	st, err := k.Settlements.Get(ctx, t.id)
	if err != nil {
		return err
	}
	st.Summary = a.Summary
	if a.RecordCid != "" {
		st.RecordCid = a.RecordCid
	}
	return k.Settlements.Set(ctx, t.id, st)
}

// voidTarget rejects a CHALLENGED target: a job is VOIDED with its whole escrow
// refunded; a settlement is VOIDED with its amount refunded to the requester.
func (k Keeper) voidTarget(ctx context.Context, t target) error {
	if t.kind == types.TARGET_KIND_JOB_RECEIPT {
		r, err := k.Receipts.Get(ctx, t.id)
		if err != nil {
			return err
		}
		r.Status = types.SETTLEMENT_STATUS_VOIDED
		if err := k.Receipts.Set(ctx, t.id, r); err != nil {
			return err
		}
		j, err := k.GetJob(ctx, t.id)
		if err != nil {
			return err
		}
		_, err = k.refundJob(ctx, j, types.JOB_STATUS_VOIDED)
		return err
	}
	st, err := k.Settlements.Get(ctx, t.id)
	if err != nil {
		return err
	}
	s, err := k.GetSession(ctx, st.SessionId)
	if err != nil {
		return err
	}
	if err := k.payOut(ctx, s.Requester, st.Amount); err != nil {
		return err
	}
	s.Refunded = s.Refunded.Add(st.Amount.Amount)
	if err := k.setSession(ctx, false, s); err != nil {
		return err
	}
	st.Status = types.SETTLEMENT_STATUS_VOIDED
	return k.Settlements.Set(ctx, st.Id, st)
}
