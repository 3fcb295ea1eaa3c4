package feedback

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/tx"

	"github.com/openledger/openledger/x/models/types"
)

// broadcast simulates the feedback before it signs and broadcasts it (unless
// --generate-only or --offline). A broadcast only runs the ante handler, so a
// feedback the chain refuses (a second rating, a key that did not request the
// inference, a closed window) would be accepted into the mempool, cost its fee
// and fail in the block with nothing on the terminal but a tx hash; simulated
// first, it fails here with the chain's reason.
func broadcast(clientCtx client.Context, fs *pflag.FlagSet, msg *types.MsgSubmitFeedback) error {
	if !clientCtx.GenerateOnly && !clientCtx.Offline {
		txf, err := tx.NewFactoryCLI(clientCtx, fs)
		if err != nil {
			return err
		}
		if txf, err = txf.Prepare(clientCtx); err != nil {
			return err
		}
		if _, _, err := tx.CalculateGas(clientCtx, txf, msg); err != nil {
			return fmt.Errorf("the chain refuses this feedback: %s", chainReason(err))
		}
	}
	return tx.GenerateOrBroadcastTxCLI(clientCtx, fs, msg)
}

// chainReason is the msg handler's own words from a simulation error: the
// gRPC status, the "failed to execute message" prefix and the trailing source
// location and gas figure cut off.
func chainReason(err error) string {
	s := err.Error()
	for _, prefix := range []string{"desc = ", "message index: 0: "} {
		if i := strings.LastIndex(s, prefix); i >= 0 {
			s = s[i+len(prefix):]
		}
	}
	if i := strings.Index(s, " ["); i > 0 {
		s = s[:i]
	}
	return s
}
