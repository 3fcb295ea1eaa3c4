package cmd

import (
	cmtcfg "github.com/cometbft/cometbft/config"

	serverconfig "github.com/cosmos/cosmos-sdk/server/config"

	"github.com/openledger/openledger/app"
)

// DefaultMinGasPrices is the minimum gas price written to a new app.toml.
const DefaultMinGasPrices = "0.0025" + app.BondDenom

// initCometConfig returns CometBFT's defaults; localnet shortens the block time itself.
func initCometConfig() *cmtcfg.Config {
	return cmtcfg.DefaultConfig()
}

// initAppConfig sets app.toml defaults: a minimum gas price in uopen and the API
// with its OpenAPI description enabled on loopback.
func initAppConfig() (string, any) {
	cfg := serverconfig.DefaultConfig()
	cfg.MinGasPrices = DefaultMinGasPrices
	cfg.API.Swagger = true
	return serverconfig.DefaultConfigTemplate, *cfg
}
