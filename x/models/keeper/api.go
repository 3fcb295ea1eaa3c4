package keeper

import (
	"context"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/models/types"
)

// ActiveDeployment is what x/inference and x/attribution need to charge and split
// a royalty: the deployment, the price in force at the current height and its
// flattened data-share table.
type ActiveDeployment struct {
	Deployment types.Deployment
	// RoyaltyPerThousandTokens is the price in force now (a scheduled price counts
	// from its effective height, even before EndBlock has moved it).
	RoyaltyPerThousandTokens sdk.Coin
	// DataShares sum to exactly 10,000 bps.
	DataShares []types.DataShare
}

// GetActiveDeployment returns an ACTIVE deployment with its current price and
// data-share table, ErrDeploymentNotFound, or ErrDeploymentNotActive.
func (k Keeper) GetActiveDeployment(ctx context.Context, id uint64) (ActiveDeployment, error) {
	d, err := k.GetDeployment(ctx, id)
	if err != nil {
		return ActiveDeployment{}, err
	}
	if d.Status != types.DEPLOYMENT_STATUS_ACTIVE {
		return ActiveDeployment{}, types.ErrDeploymentNotActive.Wrapf("deployment %d is %s", id, d.Status)
	}
	return activeView(ctx, d), nil
}

// GetDeploymentForSettlement returns a deployment in any status (ACTIVE, PAUSED or
// RETIRED) with the price in force at the current height and its data-share table,
// or ErrDeploymentNotFound. It is for paying work already done: x/inference
// finalises a receipt after its challenge window, and a deployment paused or
// retired meanwhile must not strand the payment. New work needs GetActiveDeployment.
func (k Keeper) GetDeploymentForSettlement(ctx context.Context, id uint64) (ActiveDeployment, error) {
	d, err := k.GetDeployment(ctx, id)
	if err != nil {
		return ActiveDeployment{}, err
	}
	return activeView(ctx, d), nil
}

// activeView is d with its current price and table.
func activeView(ctx context.Context, d types.Deployment) ActiveDeployment {
	return ActiveDeployment{
		Deployment:               d,
		RoyaltyPerThousandTokens: CurrentPrice(d, sdk.UnwrapSDKContext(ctx).BlockHeight()),
		DataShares:               d.DataShares,
	}
}

// CurrentPrice is the royalty of d in force at height.
func CurrentPrice(d types.Deployment, height int64) sdk.Coin {
	if d.PendingRoyaltyPerThousandTokens != nil && height >= d.PendingEffectiveHeight {
		return *d.PendingRoyaltyPerThousandTokens
	}
	return d.RoyaltyPerThousandTokens
}
