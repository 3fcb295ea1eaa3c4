package keeper

import (
	"context"

	"cosmossdk.io/collections"

	sdk "github.com/cosmos/cosmos-sdk/types"
)

// EndBlocker deletes at most max_prunes_per_block settlement records whose
// retention has passed, in (height, payer, id) order; the rest wait for later blocks.
func (k Keeper) EndBlocker(ctx context.Context) error {
	params, err := k.Params.Get(ctx)
	if err != nil {
		return err
	}
	height := sdk.UnwrapSDKContext(ctx).BlockHeight()
	it, err := k.PruneQueue.Iterate(ctx, nil)
	if err != nil {
		return err
	}
	var due []collections.Triple[int64, string, uint64]
	for ; it.Valid() && uint32(len(due)) < params.MaxPrunesPerBlock; it.Next() {
		key, err := it.Key()
		if err != nil {
			it.Close()
			return err
		}
		if key.K1() > height {
			break
		}
		due = append(due, key)
	}
	it.Close()
	for _, key := range due {
		if err := k.Records.Remove(ctx, collections.Join(key.K2(), key.K3())); err != nil {
			return err
		}
		if err := k.PruneQueue.Remove(ctx, key); err != nil {
			return err
		}
	}
	return nil
}
