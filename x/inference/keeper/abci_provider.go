package keeper

import (
	"context"

	"cosmossdk.io/collections"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/inference/types"
)

// processUnbondings pays back up to limit due unbonding entries (completion height
// <= the current height) in queue order. Like drainQueue, each entry leaves the
// queue and is paid in its own cache context written only on success; a failure is
// logged and the entry dropped from the queue, never halting the chain.
func (k Keeper) processUnbondings(ctx context.Context, _ types.Params, limit int) error {
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	h := sdkCtx.BlockHeight()
	it, err := k.UnbondingQueue.Iterate(ctx, nil)
	if err != nil {
		return err
	}
	var due []UnbondingQueueKey
	for ; it.Valid() && len(due) < limit; it.Next() {
		key, err := it.Key()
		if err != nil {
			it.Close()
			return err
		}
		if key.K1() > h {
			break
		}
		due = append(due, key)
	}
	it.Close()
	for _, key := range due {
		if err := k.UnbondingQueue.Remove(ctx, key); err != nil {
			return err
		}
		cache, write := sdkCtx.CacheContext()
		if err := k.completeUnbonding(cache, key.K2(), key.K3()); err != nil {
			sdkCtx.Logger().Error("inference: queue item failed", "queue", "unbonding", "height", key.K1(),
				"operator", k.addrString(key.K2()), "id", key.K3(), "err", err)
			continue
		}
		write()
	}
	return nil
}

// completeUnbonding pays an unbonding entry back to its operator.
func (k Keeper) completeUnbonding(ctx sdk.Context, op sdk.AccAddress, id uint64) error {
	key := collections.Join(op, id)
	u, err := k.Unbondings.Get(ctx, key)
	if isNotFound(err) {
		return nil // slashed away
	}
	if err != nil {
		return err
	}
	p, err := k.GetProvider(ctx, op)
	if err != nil {
		return err
	}
	if u.Amount.IsPositive() {
		if err := k.bank.SendCoinsFromModuleToAccount(ctx, types.ModuleName, op, sdk.NewCoins(u.Amount)); err != nil {
			return err
		}
	}
	if err := k.Unbondings.Remove(ctx, key); err != nil {
		return err
	}
	old := p
	p.Unbonding = p.Unbonding.Sub(u.Amount.Amount)
	if err := k.setProvider(ctx, op, &old, p); err != nil {
		return err
	}
	return marketEmit(ctx,
		&types.EventUnbondingCompleted{Operator: p.Operator, EntryId: id, Amount: u.Amount},
		stakeChanged(p, reasonUnbondingCompleted))
}
