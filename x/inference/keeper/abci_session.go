package keeper

import (
	"context"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/inference/types"
)

// processSessionQueues pays the PENDING settlements whose challenge window ended and
// then closes the sessions still OPEN at expiry + grace (refunding the unsettled
// deposit), each queue capped at limit items per block.
func (k Keeper) processSessionQueues(ctx context.Context, params types.Params, limit int) error {
	if _, err := k.drainQueue(ctx, k.SettlementFinalizeQueue, limit, "settlement_finalize",
		func(ctx sdk.Context, id uint64) error { return k.finalizeSettlement(ctx, params, id) },
	); err != nil {
		return err
	}
	_, err := k.drainQueue(ctx, k.SessionExpiryQueue, limit, "session_expiry",
		func(ctx sdk.Context, id uint64) error { return k.expireSession(ctx, params, id) },
	)
	return err
}
