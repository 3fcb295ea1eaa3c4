package types

import (
	"context"

	sdk "github.com/cosmos/cosmos-sdk/types"

	datanettypes "github.com/openledger/openledger/x/datanet/types"
	modelskeeper "github.com/openledger/openledger/x/models/keeper"
)

// AccountKeeper gives the module account's address.
type AccountKeeper interface {
	GetModuleAddress(name string) sdk.AccAddress
}

// BankKeeper moves the split's coins.
type BankKeeper interface {
	SendCoinsFromModuleToModule(ctx context.Context, senderModule, recipientModule string, amt sdk.Coins) error
	SendCoinsFromModuleToAccount(ctx context.Context, senderModule string, recipientAddr sdk.AccAddress, amt sdk.Coins) error
	GetBalance(ctx context.Context, addr sdk.AccAddress, denom string) sdk.Coin
}

// DistributionKeeper takes the protocol fee into the community pool.
type DistributionKeeper interface {
	FundCommunityPool(ctx context.Context, amount sdk.Coins, sender sdk.AccAddress) error
}

// DatanetKeeper checks dataset versions and their members.
type DatanetKeeper interface {
	GetDatasetVersion(ctx context.Context, datanetID, version uint64) (datanettypes.DatasetVersion, error)
	GetContribution(ctx context.Context, id uint64) (datanettypes.Contribution, error)
	ContributionInVersion(ctx context.Context, v datanettypes.DatasetVersion, contributionID uint64) (datanettypes.Contribution, bool, error)
	ContributionLister
}

// ModelsKeeper gives a deployment's owner, split and data-share table. Settlement
// pays work already done, so it takes a deployment in any status (a deployment
// paused or retired after the work must not strand the payment).
type ModelsKeeper interface {
	GetDeploymentForSettlement(ctx context.Context, id uint64) (modelskeeper.ActiveDeployment, error)
}

// ContributionLister lists a contributor's contribution ids (x/datanet's contributor index).
type ContributionLister interface {
	ContributionIDsOf(ctx context.Context, contributor sdk.AccAddress, startID uint64, limit int) ([]uint64, error)
}
