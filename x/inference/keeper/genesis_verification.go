package keeper

import (
	"context"

	"cosmossdk.io/collections"

	"github.com/openledger/openledger/x/inference/types"
)

// initVerificationGenesis loads disputes, votes and slashes and derives the dispute
// queue: a SELECTING dispute draws its committee at the end of the first block, a
// VOTING one is tallied at its reveal_end_height.
func (k Keeper) initVerificationGenesis(ctx context.Context, gs types.GenesisState) error {
	if err := k.DisputeSeq.Set(ctx, gs.NextDisputeId); err != nil {
		return err
	}
	for _, d := range gs.Disputes {
		if err := k.setDispute(ctx, nil, d); err != nil {
			return err
		}
		var err error
		switch d.Status {
		case types.DISPUTE_STATUS_SELECTING:
			err = k.DisputeQueue.Set(ctx, collections.Join(d.CreatedHeight, d.Id))
		case types.DISPUTE_STATUS_VOTING:
			err = k.DisputeQueue.Set(ctx, collections.Join(d.RevealEndHeight, d.Id))
		}
		if err != nil {
			return err
		}
	}
	for _, v := range gs.Votes {
		voter, err := k.parseAddress("vote voter", v.Voter)
		if err != nil {
			return err
		}
		if err := k.Votes.Set(ctx, collections.Join(v.DisputeId, voter), v); err != nil {
			return err
		}
	}
	for _, s := range gs.VerificationSlashes {
		op, err := k.parseAddress("slash operator", s.Operator)
		if err != nil {
			return err
		}
		if err := k.VerificationSlashes.Set(ctx, collections.Join(op, s.DisputeId), s); err != nil {
			return err
		}
	}
	return nil
}

// exportVerificationGenesis appends the disputes, votes and slashes to gs.
func (k Keeper) exportVerificationGenesis(ctx context.Context, gs *types.GenesisState) error {
	var err error
	if gs.NextDisputeId, err = k.DisputeSeq.Peek(ctx); err != nil {
		return err
	}
	if err := k.Disputes.Walk(ctx, nil, func(_ uint64, d types.Dispute) (bool, error) {
		gs.Disputes = append(gs.Disputes, d)
		return false, nil
	}); err != nil {
		return err
	}
	if err := k.Votes.Walk(ctx, nil, func(_ VoteKey, v types.VoteRecord) (bool, error) {
		gs.Votes = append(gs.Votes, v)
		return false, nil
	}); err != nil {
		return err
	}
	return k.VerificationSlashes.Walk(ctx, nil, func(_ AddrID, s types.VerificationSlash) (bool, error) {
		gs.VerificationSlashes = append(gs.VerificationSlashes, s)
		return false, nil
	})
}
