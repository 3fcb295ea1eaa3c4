// Package cmd builds the openledgerd command tree.
package cmd

import (
	"os"
	"path/filepath"

	dbm "github.com/cosmos/cosmos-db"
	"github.com/spf13/cobra"

	"cosmossdk.io/log/v2"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/config"
	nodeservice "github.com/cosmos/cosmos-sdk/client/grpc/node"
	"github.com/cosmos/cosmos-sdk/server"
	simtestutil "github.com/cosmos/cosmos-sdk/testutil/sims"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"

	"github.com/openledger/openledger/app"
	feedbackporcelain "github.com/openledger/openledger/cmd/openledgerd/porcelain/feedback"
	gatewayporcelain "github.com/openledger/openledger/cmd/openledgerd/porcelain/gateway"
	inferporcelain "github.com/openledger/openledger/cmd/openledgerd/porcelain/infer"
	inferenceporcelain "github.com/openledger/openledger/cmd/openledgerd/porcelain/inference"
	modelsporcelain "github.com/openledger/openledger/cmd/openledgerd/porcelain/models"
	rewardsporcelain "github.com/openledger/openledger/cmd/openledgerd/porcelain/rewards"
	verifyporcelain "github.com/openledger/openledger/cmd/openledgerd/porcelain/verify"
)

// EnvPrefix prefixes environment variables that set flags (OPENLEDGERD_HOME, …).
const EnvPrefix = "OPENLEDGERD"

// DefaultNodeHome is ~/.openledger.
var DefaultNodeHome = defaultHome()

func defaultHome() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ".openledger"
	}
	return filepath.Join(home, ".openledger")
}

// NewRootCmd builds the root command with every subcommand.
func NewRootCmd() *cobra.Command {
	app.SetConfig()
	// A throwaway app gives the codecs, the tx config and the autocli options.
	tempApp := app.New(log.NewNopLogger(), dbm.NewMemDB(), false, simtestutil.NewAppOptionsWithFlagHome(DefaultNodeHome))

	initClientCtx := client.Context{}.
		WithCodec(tempApp.AppCodec()).
		WithInterfaceRegistry(tempApp.InterfaceRegistry()).
		WithTxConfig(tempApp.TxConfig()).
		WithLegacyAmino(tempApp.LegacyAmino()).
		WithInput(os.Stdin).
		WithAccountRetriever(authtypes.AccountRetriever{}).
		WithHomeDir(DefaultNodeHome).
		WithViper(EnvPrefix)

	rootCmd := &cobra.Command{
		Use:           "openledgerd",
		Short:         "OpenLedger: the appchain for community-built AI models and Proof of Attribution",
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(cmd.OutOrStdout())
			cmd.SetErr(cmd.ErrOrStderr())

			clientCtx := initClientCtx.WithCmdContext(cmd.Context())
			clientCtx, err := client.ReadPersistentCommandFlags(clientCtx, cmd.Flags())
			if err != nil {
				return err
			}
			clientCtx, err = config.ReadFromClientConfig(clientCtx)
			if err != nil {
				return err
			}
			if err := client.SetCmdClientContextHandler(clientCtx, cmd); err != nil {
				return err
			}
			if !readsNodeConfig(cmd) {
				return nil
			}
			appTemplate, appConfig := initAppConfig()
			return server.InterceptConfigsPreRunHandler(cmd, appTemplate, appConfig, initCometConfig())
		},
	}

	initRootCmd(rootCmd, tempApp)

	autoCliOpts := tempApp.AutoCliOpts()
	autoCliOpts.ClientCtx = initClientCtx
	nodeCmds := nodeservice.NewNodeCommands()
	autoCliOpts.ModuleOptions[nodeCmds.Name()] = nodeCmds.AutoCLIOptions()
	if err := autoCliOpts.EnhanceRootCommand(rootCmd); err != nil {
		panic(err)
	}
	addPorcelain(rootCmd)
	return rootCmd
}

// addPorcelain attaches the commands that combine the chain with the off-chain rooms
// (IPFS, models) under the module commands autocli built.
func addPorcelain(rootCmd *cobra.Command) {
	if datanetTx, _, err := rootCmd.Find([]string{"tx", "datanet"}); err == nil && datanetTx.Name() == "datanet" {
		datanetTx.AddCommand(NewContributeCmd())
	}
	if modelsTx, _, err := rootCmd.Find([]string{"tx", "models"}); err == nil && modelsTx.Name() == "models" {
		modelsTx.AddCommand(modelsporcelain.NewPublishVersionCmd())
	}
	if modelsQuery, _, err := rootCmd.Find([]string{"query", "models"}); err == nil && modelsQuery.Name() == "models" {
		modelsQuery.AddCommand(modelsporcelain.NewFetchDatasetCmd())
	}
	if train, _, err := rootCmd.Find([]string{"model", "train"}); err == nil && train.Name() == "train" {
		modelsporcelain.AddDatasetVersionFlag(train)
	}
	if inferenceTx, _, err := rootCmd.Find([]string{"tx", "inference"}); err == nil && inferenceTx.Name() == "inference" {
		inferenceTx.AddCommand(inferenceporcelain.NewRegisterProviderCmd(), inferenceporcelain.NewCreateJobCmd(),
			inferenceporcelain.NewSubmitReceiptCmd(), inferenceporcelain.NewSettleSessionCmd())
	}
	rootCmd.AddCommand(inferenceporcelain.NewSessionCmd())
	rootCmd.AddCommand(gatewayporcelain.NewCmd())
	rootCmd.AddCommand(inferporcelain.NewCmd())
	rootCmd.AddCommand(verifyporcelain.NewCmd())
	rootCmd.AddCommand(feedbackporcelain.NewCmd())
	// `attribution`: the names for x/rewards (whose autocli group stays).
	if queryCmd, _, err := rootCmd.Find([]string{"query"}); err == nil && queryCmd.Name() == "query" {
		queryCmd.AddCommand(rewardsporcelain.NewQueryGroup())
	}
	if txCmd, _, err := rootCmd.Find([]string{"tx"}); err == nil && txCmd.Name() == "tx" {
		txCmd.AddCommand(rewardsporcelain.NewTxGroup())
	}
}
