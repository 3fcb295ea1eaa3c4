package keeper

import (
	"context"

	"cosmossdk.io/collections"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/inference/types"
)

// InitGenesis loads a validated genesis state and rebuilds the indexes and the
// EndBlock queues from the objects' statuses and heights.
func (k Keeper) InitGenesis(ctx context.Context, gs types.GenesisState) error {
	if err := gs.Validate(); err != nil {
		return err
	}
	if err := k.Params.Set(ctx, gs.Params); err != nil {
		return err
	}
	seqs := []struct {
		s collections.Sequence
		v uint64
	}{
		{k.JobSeq, gs.NextJobId}, {k.SessionSeq, gs.NextSessionId}, {k.SettlementSeq, gs.NextSettlementId},
		{k.BidSeq, gs.NextBidSequence}, {k.UnbondingSeq, gs.NextUnbondingId},
	}
	for _, s := range seqs {
		if err := s.s.Set(ctx, s.v); err != nil {
			return err
		}
	}
	for _, p := range gs.Providers {
		op, err := k.parseAddress("provider operator", p.Operator)
		if err != nil {
			return err
		}
		if err := k.setProvider(ctx, op, nil, p); err != nil {
			return err
		}
	}
	for _, o := range gs.Offers {
		op, err := k.parseAddress("offer operator", o.Operator)
		if err != nil {
			return err
		}
		if err := k.setOffer(ctx, op, o); err != nil {
			return err
		}
	}
	for _, u := range gs.Unbondings {
		op, err := k.parseAddress("unbonding operator", u.Operator)
		if err != nil {
			return err
		}
		if err := k.Unbondings.Set(ctx, collections.Join(op, u.Id), u); err != nil {
			return err
		}
		if err := k.UnbondingQueue.Set(ctx, collections.Join3(u.CompletionHeight, op, u.Id)); err != nil {
			return err
		}
	}
	receipts := make(map[uint64]types.Receipt, len(gs.Receipts))
	for _, r := range gs.Receipts {
		if err := k.Receipts.Set(ctx, r.JobId, r); err != nil {
			return err
		}
		receipts[r.JobId] = r
	}
	for _, j := range gs.Jobs {
		if err := k.setJob(ctx, nil, j); err != nil {
			return err
		}
		// Winners replaced after a missed deadline were indexed when they won.
		for _, ex := range j.Excluded {
			addr, err := k.parseAddress("job excluded provider", ex)
			if err != nil {
				return err
			}
			if err := k.JobsByProvider.Set(ctx, collections.Join(addr, j.Id)); err != nil {
				return err
			}
		}
		var err error
		switch j.Status {
		case types.JOB_STATUS_OPEN:
			err = k.BidCloseQueue.Set(ctx, collections.Join(j.BidCloseHeight, j.Id))
		case types.JOB_STATUS_AWARDED:
			err = k.DeadlineQueue.Set(ctx, collections.Join(j.DeadlineHeight, j.Id))
		case types.JOB_STATUS_PENDING:
			r, ok := receipts[j.Id]
			if !ok {
				return types.ErrInvalidGenesis.Wrapf("job %d is pending without a receipt", j.Id)
			}
			err = k.JobFinalizeQueue.Set(ctx, collections.Join(r.ChallengeEndHeight, j.Id))
		}
		if err != nil {
			return err
		}
	}
	for _, b := range gs.Bids {
		p, err := k.parseAddress("bid provider", b.Provider)
		if err != nil {
			return err
		}
		if err := k.Bids.Set(ctx, collections.Join(b.JobId, p), b); err != nil {
			return err
		}
	}
	for _, s := range gs.Sessions {
		if err := k.setSession(ctx, true, s); err != nil {
			return err
		}
		if s.Status == types.SESSION_STATUS_OPEN {
			at := s.ExpiryHeight + int64(gs.Params.SessionGraceBlocks)
			if err := k.SessionExpiryQueue.Set(ctx, collections.Join(at, s.Id)); err != nil {
				return err
			}
		}
	}
	for _, st := range gs.SessionSettlements {
		if err := k.Settlements.Set(ctx, st.Id, st); err != nil {
			return err
		}
		if err := k.SettlementsBySession.Set(ctx, collections.Join(st.SessionId, st.Id)); err != nil {
			return err
		}
		if st.Status == types.SETTLEMENT_STATUS_PENDING {
			if err := k.SettlementFinalizeQueue.Set(ctx, collections.Join(st.ChallengeEndHeight, st.Id)); err != nil {
				return err
			}
		}
	}
	if err := k.initVerificationGenesis(ctx, gs); err != nil {
		return err
	}
	// x/bank's genesis ran first: the module account must hold exactly what is owed.
	if err := k.AllInvariants(ctx); err != nil {
		return types.ErrInvalidGenesis.Wrap(err.Error())
	}
	return nil
}

// ExportGenesis writes the whole state; queues are derived again on import.
func (k Keeper) ExportGenesis(ctx context.Context) (*types.GenesisState, error) {
	params, err := k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	gs := &types.GenesisState{Params: params}
	for _, s := range []struct {
		seq collections.Sequence
		out *uint64
	}{
		{k.JobSeq, &gs.NextJobId}, {k.SessionSeq, &gs.NextSessionId}, {k.SettlementSeq, &gs.NextSettlementId},
		{k.BidSeq, &gs.NextBidSequence}, {k.UnbondingSeq, &gs.NextUnbondingId},
	} {
		if *s.out, err = s.seq.Peek(ctx); err != nil {
			return nil, err
		}
	}
	if err := k.Providers.Walk(ctx, nil, func(_ sdk.AccAddress, p types.Provider) (bool, error) {
		gs.Providers = append(gs.Providers, p)
		return false, nil
	}); err != nil {
		return nil, err
	}
	if err := k.Offers.Walk(ctx, nil, func(_ OfferKey, o types.Offer) (bool, error) {
		gs.Offers = append(gs.Offers, o)
		return false, nil
	}); err != nil {
		return nil, err
	}
	if err := k.Unbondings.Walk(ctx, nil, func(_ UnbondingKey, u types.UnbondingEntry) (bool, error) {
		gs.Unbondings = append(gs.Unbondings, u)
		return false, nil
	}); err != nil {
		return nil, err
	}
	if err := k.Jobs.Walk(ctx, nil, func(_ uint64, j types.Job) (bool, error) {
		gs.Jobs = append(gs.Jobs, j)
		return false, nil
	}); err != nil {
		return nil, err
	}
	if err := k.Bids.Walk(ctx, nil, func(_ BidKey, b types.Bid) (bool, error) {
		gs.Bids = append(gs.Bids, b)
		return false, nil
	}); err != nil {
		return nil, err
	}
	if err := k.Receipts.Walk(ctx, nil, func(_ uint64, r types.Receipt) (bool, error) {
		gs.Receipts = append(gs.Receipts, r)
		return false, nil
	}); err != nil {
		return nil, err
	}
	if err := k.Sessions.Walk(ctx, nil, func(_ uint64, s types.Session) (bool, error) {
		gs.Sessions = append(gs.Sessions, s)
		return false, nil
	}); err != nil {
		return nil, err
	}
	if err := k.Settlements.Walk(ctx, nil, func(_ uint64, s types.SessionSettlement) (bool, error) {
		gs.SessionSettlements = append(gs.SessionSettlements, s)
		return false, nil
	}); err != nil {
		return nil, err
	}
	return gs, k.exportVerificationGenesis(ctx, gs)
}
