package keeper

import (
	"context"

	sdkmath "cosmossdk.io/math"

	"github.com/openledger/openledger/x/rewards/types"
)

// Owed sums what the module account must hold: unclaimed accruals, pool balances
// and dust.
func (k Keeper) Owed(ctx context.Context) (sdkmath.Int, error) {
	total, err := k.dust(ctx)
	if err != nil {
		return total, err
	}
	ait, err := k.Accruals.Iterate(ctx, nil)
	if err != nil {
		return total, err
	}
	defer ait.Close()
	for ; ait.Valid(); ait.Next() {
		v, err := ait.Value()
		if err != nil {
			return total, err
		}
		total = total.Add(v)
	}
	pit, err := k.Pools.Iterate(ctx, nil)
	if err != nil {
		return total, err
	}
	defer pit.Close()
	for ; pit.Valid(); pit.Next() {
		p, err := pit.Value()
		if err != nil {
			return total, err
		}
		total = total.Add(p.Balance)
	}
	return total, nil
}

// BalanceInvariant checks that the module account holds exactly the unclaimed
// accruals plus the pool balances plus the dust (for tests and sims; x/crisis is gone).
func (k Keeper) BalanceInvariant(ctx context.Context) error {
	params, err := k.Params.Get(ctx)
	if err != nil {
		return err
	}
	owed, err := k.Owed(ctx)
	if err != nil {
		return err
	}
	held := k.bank.GetBalance(ctx, k.ModuleAddress(), params.Denom).Amount
	if !held.Equal(owed) {
		return types.ErrInvariant.Wrapf("module account holds %s%s, owes %s", held, params.Denom, owed)
	}
	return nil
}
