package types

import (
	"context"

	sdk "github.com/cosmos/cosmos-sdk/types"

	modelskeeper "github.com/openledger/openledger/x/models/keeper"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// AccountKeeper gives the module account's address.
type AccountKeeper interface {
	GetModuleAddress(name string) sdk.AccAddress
}

// BankKeeper escrows and releases coins.
type BankKeeper interface {
	SendCoinsFromAccountToModule(ctx context.Context, senderAddr sdk.AccAddress, recipientModule string, amt sdk.Coins) error
	SendCoinsFromModuleToAccount(ctx context.Context, senderModule string, recipientAddr sdk.AccAddress, amt sdk.Coins) error
	GetBalance(ctx context.Context, addr sdk.AccAddress, denom string) sdk.Coin
	GetAllBalances(ctx context.Context, addr sdk.AccAddress) sdk.Coins
}

// DistributionKeeper receives slashed stake into the community pool.
type DistributionKeeper interface {
	FundCommunityPool(ctx context.Context, amount sdk.Coins, sender sdk.AccAddress) error
}

// ModelsKeeper gives deployments, their prices and versions.
type ModelsKeeper interface {
	GetActiveDeployment(ctx context.Context, id uint64) (modelskeeper.ActiveDeployment, error)
}

// RewardsKeeper splits payments (x/rewards, the on-chain Proof of Attribution).
type RewardsKeeper interface {
	Settle(ctx context.Context, payerModule string, settlementID uint64, provider sdk.AccAddress,
		compute, royalty sdk.Coin, deploymentID uint64, summary rewardstypes.AttributionSummary,
	) (rewardstypes.SettlementRecord, error)
	ValidateSettlement(ctx context.Context, deploymentID uint64, summary rewardstypes.AttributionSummary) error
}
