package keeper

import (
	"context"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	"github.com/openledger/openledger/x/rewards/types"
)

// InitGenesis loads a validated genesis state.
func (k Keeper) InitGenesis(ctx context.Context, gs types.GenesisState) error {
	if err := gs.Validate(); err != nil {
		return err
	}
	if err := k.Params.Set(ctx, gs.Params); err != nil {
		return err
	}
	if err := k.Dust.Set(ctx, gs.Dust); err != nil {
		return err
	}
	for _, a := range gs.Accruals {
		to, err := k.parseAddress("accrual recipient", a.Recipient)
		if err != nil {
			return err
		}
		if err := k.Accruals.Set(ctx, collections.Join3(to, int32(a.Kind), a.SourceId), a.Amount); err != nil {
			return err
		}
	}
	for _, p := range gs.Pools {
		if err := k.Pools.Set(ctx, collections.Join(p.DatanetId, p.Version), p); err != nil {
			return err
		}
	}
	for _, c := range gs.Cursors {
		if err := k.Cursors.Set(ctx, collections.Join3(c.DatanetId, c.Version, c.ContributionId), c.RewardPerShare); err != nil {
			return err
		}
	}
	for _, t := range gs.DeploymentTotals {
		if err := k.DeploymentTotals.Set(ctx, t.DeploymentId, t); err != nil {
			return err
		}
	}
	for _, t := range gs.DatanetTotals {
		if err := k.DatanetTotals.Set(ctx, t.DatanetId, t); err != nil {
			return err
		}
	}
	for _, r := range gs.Records {
		if err := k.Records.Set(ctx, collections.Join(r.PayerModule, r.SettlementId), r); err != nil {
			return err
		}
		at := r.Height + int64(gs.Params.RecordRetentionBlocks)
		if err := k.PruneQueue.Set(ctx, collections.Join3(at, r.PayerModule, r.SettlementId)); err != nil {
			return err
		}
	}
	// x/bank's genesis ran first: the module account must hold exactly what is owed.
	if err := k.BalanceInvariant(ctx); err != nil {
		return types.ErrInvalidGenesis.Wrap(err.Error())
	}
	return nil
}

// ExportGenesis writes the whole state (claim cursors are positions, not value:
// they restart from the beginning).
func (k Keeper) ExportGenesis(ctx context.Context) (*types.GenesisState, error) {
	params, err := k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	dust, err := k.dust(ctx)
	if err != nil {
		return nil, err
	}
	gs := &types.GenesisState{Params: params, Dust: dust}
	err = k.Accruals.Walk(ctx, nil, func(key AccrualKey, v sdkmath.Int) (bool, error) {
		r, err := k.addressCodec.BytesToString(key.K1())
		if err != nil {
			return true, err
		}
		gs.Accruals = append(gs.Accruals, types.Accrual{Recipient: r, Kind: types.SourceKind(key.K2()), SourceId: key.K3(), Amount: v})
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	err = k.Pools.Walk(ctx, nil, func(_ collections.Pair[uint64, uint64], p types.VersionPool) (bool, error) {
		gs.Pools = append(gs.Pools, p)
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	err = k.Cursors.Walk(ctx, nil, func(key collections.Triple[uint64, uint64, uint64], v sdkmath.Int) (bool, error) {
		gs.Cursors = append(gs.Cursors, types.PoolCursor{DatanetId: key.K1(), Version: key.K2(), ContributionId: key.K3(), RewardPerShare: v})
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	err = k.Records.Walk(ctx, nil, func(_ collections.Pair[string, uint64], r types.SettlementRecord) (bool, error) {
		gs.Records = append(gs.Records, r)
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	err = k.DeploymentTotals.Walk(ctx, nil, func(_ uint64, t types.DeploymentTotals) (bool, error) {
		gs.DeploymentTotals = append(gs.DeploymentTotals, t)
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	err = k.DatanetTotals.Walk(ctx, nil, func(_ uint64, t types.DatanetTotals) (bool, error) {
		gs.DatanetTotals = append(gs.DatanetTotals, t)
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	return gs, nil
}
