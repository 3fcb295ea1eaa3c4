package keeper

import (
	"context"
	"errors"

	"cosmossdk.io/collections"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/models/types"
)

// EndBlocker applies scheduled prices whose effective height has come. It visits
// only the due range of the height-keyed queue, at most
// params.max_price_changes_per_block entries, each in its own cache context so one
// failing entry is logged and retried next block instead of halting the chain.
// (Readers never depend on it running on time: ActiveDeployment already returns a
// pending price once its effective height is reached.)
func (k Keeper) EndBlocker(ctx context.Context) error {
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	params, err := k.Params.Get(ctx)
	if err != nil {
		return err
	}
	rng := new(collections.Range[collections.Pair[int64, uint64]]).
		EndExclusive(collections.Join(sdkCtx.BlockHeight()+1, uint64(0)))
	iter, err := k.PriceQueue.Iterate(ctx, rng)
	if err != nil {
		return err
	}
	due, err := collectBounded(iter, int(params.MaxPriceChangesPerBlock))
	if err != nil {
		return err
	}
	for _, key := range due {
		cacheCtx, write := sdkCtx.CacheContext()
		if err := k.applyPrice(cacheCtx, key); err != nil {
			sdkCtx.Logger().Error("models: cannot apply a scheduled price; will retry next block",
				"deployment_id", key.K2(), "err", err)
			continue
		}
		write()
	}
	return nil
}

func (k Keeper) applyPrice(ctx sdk.Context, key collections.Pair[int64, uint64]) error {
	if err := k.PriceQueue.Remove(ctx, key); err != nil {
		return err
	}
	d, err := k.GetDeployment(ctx, key.K2())
	if errors.Is(err, types.ErrDeploymentNotFound) {
		return nil // stale entry (only reachable through corrupted state): dropped
	}
	if err != nil {
		return err
	}
	if d.PendingRoyaltyPerThousandTokens == nil || d.PendingEffectiveHeight != key.K1() {
		return nil // stale entry: updates and retirements remove theirs, so only a guard
	}
	old := d.RoyaltyPerThousandTokens
	d.RoyaltyPerThousandTokens = *d.PendingRoyaltyPerThousandTokens
	d.PendingRoyaltyPerThousandTokens = nil
	d.PendingEffectiveHeight = 0
	if err := k.Deployments.Set(ctx, d.Id, d); err != nil {
		return err
	}
	return ctx.EventManager().EmitTypedEvent(&types.EventDeploymentPriceChanged{
		DeploymentId: d.Id, Old: &old, New: &d.RoyaltyPerThousandTokens,
	})
}

// collectBounded reads at most limit keys and closes the iterator.
func collectBounded[K any](iter collections.KeySetIterator[K], limit int) ([]K, error) {
	defer iter.Close()
	var out []K
	for ; iter.Valid() && len(out) < limit; iter.Next() {
		key, err := iter.Key()
		if err != nil {
			return nil, err
		}
		out = append(out, key)
	}
	return out, nil
}
