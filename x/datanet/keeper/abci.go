package keeper

import (
	"context"

	"cosmossdk.io/collections"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/datanet/types"
)

// EndBlocker expires contributions whose review window has passed. It visits only
// the due range of the queue, at most params.max_expiries_per_block items, and
// settles each in its own cache context so one failing item is logged and retried
// later instead of halting the chain.
func (k Keeper) EndBlocker(ctx context.Context) error {
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	params, err := k.Params.Get(ctx)
	if err != nil {
		return err
	}
	// Due: deadline < current height (reviews are allowed through the deadline block).
	rng := new(collections.Range[collections.Pair[int64, uint64]]).
		EndExclusive(collections.Join(sdkCtx.BlockHeight(), uint64(0)))
	iter, err := k.ExpiryQueue.Iterate(ctx, rng)
	if err != nil {
		return err
	}
	due, err := collectBounded(iter, int(params.MaxExpiriesPerBlock))
	if err != nil {
		return err
	}
	for _, key := range due {
		cacheCtx, write := sdkCtx.CacheContext()
		if err := k.expire(cacheCtx, key.K2()); err != nil {
			sdkCtx.Logger().Error("datanet: cannot expire contribution; will retry next block",
				"contribution_id", key.K2(), "err", err)
			continue
		}
		write()
	}
	return nil
}

func (k Keeper) expire(ctx sdk.Context, id uint64) error {
	c, err := k.GetContribution(ctx, id)
	if err != nil {
		return err
	}
	if c.Status != types.CONTRIBUTION_STATUS_PENDING {
		// Stale entry: settle removes entries, so this only guards against corruption.
		return k.ExpiryQueue.Remove(ctx, collections.Join(c.ReviewDeadline, c.Id))
	}
	return k.settle(ctx, c, types.CONTRIBUTION_STATUS_EXPIRED)
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
