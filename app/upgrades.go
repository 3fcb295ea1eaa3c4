package app

import (
	"github.com/openledger/openledger/app/upgrades"
)

// registerUpgrades installs the handler and store loader of every known upgrade.
func (app *App) registerUpgrades() {
	for _, u := range upgrades.All {
		app.UpgradeKeeper.SetUpgradeHandler(u.Name, u.Handler(app.ModuleManager, app.configurator))
	}
	info, err := app.UpgradeKeeper.ReadUpgradeInfoFromDisk()
	if err != nil {
		panic(err)
	}
	if info.Name == "" || app.UpgradeKeeper.IsSkipHeight(info.Height) {
		return
	}
	for _, u := range upgrades.All {
		if u.Name == info.Name {
			app.SetStoreLoader(upgrades.StoreLoader(info.Height, u.StoreUpgrades))
		}
	}
}
