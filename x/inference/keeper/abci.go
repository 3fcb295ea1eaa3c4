package keeper

import (
	"context"
	"math"

	"cosmossdk.io/collections"

	sdk "github.com/cosmos/cosmos-sdk/types"
)

// EndBlocker runs the module's height-keyed queues, each capped at
// params.max_queue_items_per_block items per block; what is left waits for the
// next block. Each item runs in its own cache context (see runItem): one failing
// item is logged and skipped, never halting the chain.
func (k Keeper) EndBlocker(ctx context.Context) error {
	params, err := k.Params.Get(ctx)
	if err != nil {
		return err
	}
	limit := int(params.MaxQueueItemsPerBlock)
	if err := k.processUnbondings(ctx, params, limit); err != nil {
		return err
	}
	if err := k.processJobQueues(ctx, params, limit); err != nil {
		return err
	}
	if err := k.processSessionQueues(ctx, params, limit); err != nil {
		return err
	}
	// After the finalize queues: audits they drew get their committee in this block.
	return k.processDisputes(ctx, params, limit)
}

// queueRetryBlocks is how long a failed queue item waits before it is tried again.
const queueRetryBlocks = 100

// drainQueue visits up to limit due entries (height <= the current height) of a
// (height, id) queue in key order. Each entry is removed from the queue and fn runs
// in a cache context written only if fn succeeds. A failure is logged and the entry
// retried queueRetryBlocks later, so a bad item can never halt the chain, block the
// queue or strand the coins it holds. fn may re-insert the id under a later height.
// It returns how many entries it visited.
func (k Keeper) drainQueue(ctx context.Context, queue collections.KeySet[HeightID], limit int, what string,
	fn func(ctx sdk.Context, id uint64) error,
) (int, error) {
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	rng := new(collections.Range[HeightID]).EndInclusive(collections.Join(sdkCtx.BlockHeight(), uint64(math.MaxUint64)))
	it, err := queue.Iterate(ctx, rng)
	if err != nil {
		return 0, err
	}
	var due []HeightID
	for ; it.Valid() && len(due) < limit; it.Next() {
		key, err := it.Key()
		if err != nil {
			it.Close()
			return 0, err
		}
		due = append(due, key)
	}
	it.Close()
	for _, key := range due {
		if err := queue.Remove(ctx, key); err != nil {
			return 0, err
		}
		cache, write := sdkCtx.CacheContext()
		if err := fn(cache, key.K2()); err != nil {
			retry := sdkCtx.BlockHeight() + queueRetryBlocks
			sdkCtx.Logger().Error("inference: queue item failed; will retry", "queue", what, "height", key.K1(),
				"id", key.K2(), "retry_at", retry, "err", err)
			if err := queue.Set(ctx, collections.Join(retry, key.K2())); err != nil {
				return 0, err
			}
			continue
		}
		write()
	}
	return len(due), nil
}
