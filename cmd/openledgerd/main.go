// Command openledgerd is the OpenLedger node, client, IPFS node and model tool in one binary.
package main

import (
	"fmt"
	"os"

	svrcmd "github.com/cosmos/cosmos-sdk/server/cmd"

	"github.com/openledger/openledger/cmd/openledgerd/cmd"
)

func main() {
	rootCmd := cmd.NewRootCmd()
	if err := svrcmd.Execute(rootCmd, cmd.EnvPrefix, cmd.DefaultNodeHome); err != nil {
		fmt.Fprintln(rootCmd.OutOrStderr(), "Error:", err)
		os.Exit(1)
	}
}
