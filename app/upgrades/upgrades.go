// Package upgrades lists the chain's software upgrades. Each upgrade names its
// plan, its store changes and its migration handler; governance schedules it with
// MsgSoftwareUpgrade and x/upgrade runs it at the plan's height.
package upgrades

import (
	"context"

	"github.com/cosmos/cosmos-sdk/baseapp"
	storetypes "github.com/cosmos/cosmos-sdk/store/v2/types"
	"github.com/cosmos/cosmos-sdk/types/module"
	upgradetypes "github.com/cosmos/cosmos-sdk/x/upgrade/types"
)

// Upgrade describes one software upgrade.
type Upgrade struct {
	// Name is the upgrade plan's name.
	Name string
	// StoreUpgrades adds, renames or deletes stores at the upgrade height.
	StoreUpgrades storetypes.StoreUpgrades
}

// Handler runs every module's migrations from the on-chain versions to the binary's.
func (u Upgrade) Handler(mm *module.Manager, cfg module.Configurator) upgradetypes.UpgradeHandler {
	return func(ctx context.Context, _ upgradetypes.Plan, fromVM module.VersionMap) (module.VersionMap, error) {
		return mm.RunMigrations(ctx, cfg, fromVM)
	}
}

// StoreLoader applies store upgrades at the upgrade height.
func StoreLoader(height int64, su storetypes.StoreUpgrades) baseapp.StoreLoader {
	return upgradetypes.UpgradeStoreLoader(height, &su)
}

// All lists the upgrades this binary knows, oldest first. The chain starts at v1;
// the first entry will be the v1 → v2 upgrade.
var All []Upgrade
