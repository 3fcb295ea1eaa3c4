package keeper

import (
	"context"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/inference/types"
)

// Verification (ADR-006): a receipt or a session settlement may be disputed once,
// by a bonded challenge inside its challenge window or by a random audit when the
// window ends. The target is then CHALLENGED and its payment held; a committee of
// staked providers drawn from a seed re-executes it and votes by commit–reveal; the
// tally (abci_verification.go) pays, voids or corrects the target and moves the
// slashes and rewards.

// Reasons of verification slashes and outcomes.
const (
	reasonFraud     = "fraud"
	reasonAbsent    = "absent"
	reasonWrongVote = "wrong_vote"
	outcomeMajority = "majority"
	outcomeTooFew   = "too_few_eligible"
	outcomeNoQuorum = "no_quorum"
	outcomeTie      = "tie"
	reasonFraudJail = "verification_faults"
)

// target is what a dispute needs to know of a receipt or a settlement.
type target struct {
	kind         types.TargetKind
	id           uint64
	provider     string
	requester    string
	deploymentID uint64
	engine       string
	challengeEnd int64
	status       types.SettlementStatus
	disputeID    uint64
}

// loadTarget reads a job receipt (id: the job id) or a session settlement.
func (k Keeper) loadTarget(ctx context.Context, kind types.TargetKind, id uint64) (target, error) {
	switch kind {
	case types.TARGET_KIND_JOB_RECEIPT:
		j, err := k.GetJob(ctx, id)
		if err != nil {
			return target{}, err
		}
		r, err := k.Receipts.Get(ctx, id)
		if isNotFound(err) {
			return target{}, types.ErrNotChallengeable.Wrapf("job %d has no receipt", id)
		} else if err != nil {
			return target{}, err
		}
		return target{
			kind: kind, id: id, provider: r.Provider, requester: j.Requester, deploymentID: j.DeploymentId,
			engine: r.EngineName, challengeEnd: r.ChallengeEndHeight, status: r.Status, disputeID: r.DisputeId,
		}, nil
	case types.TARGET_KIND_SESSION_SETTLEMENT:
		st, err := k.Settlements.Get(ctx, id)
		if isNotFound(err) {
			return target{}, types.ErrSettlementNotFound.Wrapf("settlement %d", id)
		} else if err != nil {
			return target{}, err
		}
		s, err := k.GetSession(ctx, st.SessionId)
		if err != nil {
			return target{}, err
		}
		return target{
			kind: kind, id: id, provider: s.Provider, requester: s.Requester, deploymentID: s.DeploymentId,
			challengeEnd: st.ChallengeEndHeight, status: st.Status, disputeID: st.DisputeId,
		}, nil
	default:
		return target{}, types.ErrInvalidField.Wrapf("target_kind: %s", kind)
	}
}

// setTargetStatus moves a target to status, records its dispute and keeps the job
// and the finalize queues in step: CHALLENGED leaves the finalize queue (the
// dispute holds it), PENDING re-enters it at max(challenge end, next height).
func (k Keeper) setTargetStatus(ctx context.Context, t target, to types.SettlementStatus, disputeID uint64) error {
	h := height(ctx)
	due := max(t.challengeEnd, h+1)
	switch t.kind {
	case types.TARGET_KIND_JOB_RECEIPT:
		r, err := k.Receipts.Get(ctx, t.id)
		if err != nil {
			return err
		}
		j, err := k.GetJob(ctx, t.id)
		if err != nil {
			return err
		}
		r.Status, r.DisputeId = to, disputeID
		if err := k.Receipts.Set(ctx, t.id, r); err != nil {
			return err
		}
		old := j
		switch to {
		case types.SETTLEMENT_STATUS_CHALLENGED:
			j.Status = types.JOB_STATUS_CHALLENGED
			if err := k.JobFinalizeQueue.Remove(ctx, collections.Join(r.ChallengeEndHeight, t.id)); err != nil {
				return err
			}
		case types.SETTLEMENT_STATUS_PENDING:
			j.Status = types.JOB_STATUS_PENDING
			if err := k.JobFinalizeQueue.Set(ctx, collections.Join(due, t.id)); err != nil {
				return err
			}
		default:
			return types.ErrInvariant.Wrapf("job receipt %d: cannot move to %s here", t.id, to)
		}
		return k.setJob(ctx, &old, j)
	case types.TARGET_KIND_SESSION_SETTLEMENT:
		st, err := k.Settlements.Get(ctx, t.id)
		if err != nil {
			return err
		}
		st.Status, st.DisputeId = to, disputeID
		switch to {
		case types.SETTLEMENT_STATUS_CHALLENGED:
			if err := k.SettlementFinalizeQueue.Remove(ctx, collections.Join(st.ChallengeEndHeight, t.id)); err != nil {
				return err
			}
		case types.SETTLEMENT_STATUS_PENDING:
			if err := k.SettlementFinalizeQueue.Set(ctx, collections.Join(due, t.id)); err != nil {
				return err
			}
		default:
			return types.ErrInvariant.Wrapf("settlement %d: cannot move to %s here", t.id, to)
		}
		return k.Settlements.Set(ctx, t.id, st)
	}
	return types.ErrInvalidField.Wrapf("target_kind: %s", t.kind)
}

// GetDispute returns a dispute or ErrDisputeNotFound.
func (k Keeper) GetDispute(ctx context.Context, id uint64) (types.Dispute, error) {
	d, err := k.Disputes.Get(ctx, id)
	if isNotFound(err) {
		return types.Dispute{}, types.ErrDisputeNotFound.Wrapf("dispute %d", id)
	}
	return d, err
}

// setDispute stores d and keeps its indexes: target and provider when new (old
// nil), status always, members when the committee is first drawn.
func (k Keeper) setDispute(ctx context.Context, old *types.Dispute, d types.Dispute) error {
	if old == nil {
		if err := k.DisputesByTarget.Set(ctx, collections.Join(int32(d.TargetKind), d.TargetId), d.Id); err != nil {
			return err
		}
		provider, err := k.parseAddress("provider", d.Provider)
		if err != nil {
			return err
		}
		if err := k.DisputesByProvider.Set(ctx, collections.Join(provider, d.Id)); err != nil {
			return err
		}
	} else if old.Status != d.Status {
		if err := k.DisputesByStatus.Remove(ctx, collections.Join(int32(old.Status), d.Id)); err != nil {
			return err
		}
	}
	if err := k.DisputesByStatus.Set(ctx, collections.Join(int32(d.Status), d.Id)); err != nil {
		return err
	}
	if old == nil || len(old.Committee) == 0 {
		for _, m := range d.Committee {
			op, err := k.parseAddress("committee member", m.Operator)
			if err != nil {
				return err
			}
			if err := k.DisputesByMember.Set(ctx, collections.Join(op, d.Id)); err != nil {
				return err
			}
		}
	}
	return k.Disputes.Set(ctx, d.Id, d)
}

// openDispute creates a dispute over t (already checked to be PENDING and never
// disputed), marks t CHALLENGED and queues the committee draw at the end of the
// current block. The caller has escrowed the bond.
func (k Keeper) openDispute(ctx context.Context, t target, claim types.Claim, challenger string, bond sdk.Coin) (uint64, error) {
	id, err := k.DisputeSeq.Next(ctx)
	if err != nil {
		return 0, err
	}
	h := height(ctx)
	zero := marketZero(bond.Denom)
	d := types.Dispute{
		Id: id, TargetKind: t.kind, TargetId: t.id, Claim: claim, Challenger: challenger, Bond: bond,
		Provider: t.provider, Requester: t.requester, DeploymentId: t.deploymentID, EngineName: t.engine,
		Status: types.DISPUTE_STATUS_SELECTING, CreatedHeight: h, SeedHeight: h,
		CommitteeWeight: sdkmath.ZeroInt(), UpheldWeight: sdkmath.ZeroInt(), RejectedWeight: sdkmath.ZeroInt(),
		BondReturned: zero, BondSlashed: zero, ProviderSlashed: zero, ChallengerReward: zero, VoterRewards: zero,
	}
	if err := k.setDispute(ctx, nil, d); err != nil {
		return 0, err
	}
	if err := k.DisputeQueue.Set(ctx, collections.Join(h, id)); err != nil {
		return 0, err
	}
	if err := k.setTargetStatus(ctx, t, types.SETTLEMENT_STATUS_CHALLENGED, id); err != nil {
		return 0, err
	}
	return id, marketEmit(ctx, &types.EventDisputeOpened{
		DisputeId: id, TargetKind: t.kind, TargetId: t.id, Claim: claim, Challenger: challenger,
		Provider: t.provider, Bond: bond,
	})
}

// maybeAudit draws whether a PENDING, never disputed target whose window just
// ended is audited (params.audit_bps, from the header hash of the current block —
// a block after the target was posted — and the target): if so it opens an audit
// dispute and reports true, and the caller must not pay the target now.
func (k Keeper) maybeAudit(ctx context.Context, params types.Params, kind types.TargetKind, id uint64) (bool, error) {
	// Outside block execution there is no block hash, hence no seed nobody can
	// predict: no audit is drawn.
	if params.AuditBps == 0 || len(blockHash(ctx)) == 0 {
		return false, nil
	}
	t, err := k.loadTarget(ctx, kind, id)
	if err != nil {
		return false, err
	}
	if t.disputeID != 0 || t.status != types.SETTLEMENT_STATUS_PENDING {
		return false, nil
	}
	if !auditDrawn(verificationSeed(ctx, seedDomainAudit, kind, id), params.AuditBps) {
		return false, nil
	}
	_, err = k.openDispute(ctx, t, types.CLAIM_AUDIT, "", marketZero(params.MinChallengeBond.Denom))
	return true, err
}

// disputeBondsHeld is the total bond the module holds for open disputes.
func (k Keeper) disputeBondsHeld(ctx context.Context) (sdk.Coins, error) {
	held := sdk.NewCoins()
	for _, st := range []types.DisputeStatus{types.DISPUTE_STATUS_SELECTING, types.DISPUTE_STATUS_VOTING} {
		rng := collections.NewPrefixedPairRange[int32, uint64](int32(st))
		err := k.DisputesByStatus.Walk(ctx, rng, func(key collections.Pair[int32, uint64]) (bool, error) {
			d, err := k.Disputes.Get(ctx, key.K2())
			if err != nil {
				return true, err
			}
			if d.Bond.IsPositive() {
				held = held.Add(d.Bond)
			}
			return false, nil
		})
		if err != nil {
			return nil, err
		}
	}
	return held, nil
}
