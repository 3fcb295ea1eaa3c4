package app

import (
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/x/auth/ante"
)

// newAnteHandler builds the SDK's standard ante chain: fee deduction (with fee
// grants), signature verification in every enabled sign mode (direct and
// amino-JSON), gas, sequence and memo checks.
func (app *App) newAnteHandler() sdk.AnteHandler {
	h, err := ante.NewAnteHandler(ante.HandlerOptions{
		AccountKeeper:   app.AccountKeeper,
		BankKeeper:      app.BankKeeper,
		FeegrantKeeper:  app.FeeGrantKeeper,
		SignModeHandler: app.txConfig.SignModeHandler(),
		SigGasConsumer:  ante.DefaultSigVerificationGasConsumer,
	})
	if err != nil {
		panic(err)
	}
	return h
}
