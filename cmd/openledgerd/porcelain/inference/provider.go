package inference

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/flags"
	"github.com/cosmos/cosmos-sdk/client/tx"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/inference/types"
)

const (
	flagStake       = "stake"
	flagMultiaddr   = "multiaddr"
	flagEngine      = "engine"
	flagAccelerator = "accelerator"
	flagMemoryMiB   = "memory-mib"
	flagCount       = "count"
	flagMoniker     = "provider-name" // not "moniker": config.toml's key would fill it
	flagAPIURL      = "api-url"
)

// NewRegisterProviderCmd is `tx inference register-provider`.
func NewRegisterProviderCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "register-provider --stake AMOUNT --multiaddr ADDR --engine NAME [flags]",
		Short: "Register the --from account as an inference provider, bonding --stake",
		Long: `Registers a provider. Its libp2p identity (the key that signs receipts) is read from
--identity, default <home>/provider/identity.key, and created there if missing; the chain
records its peer id. --multiaddr (repeatable) says where the provider listens; --engine
(repeatable) names the engines it runs, e.g. openledger-ml, vllm. Hardware is described by
--accelerator (a model name or "cpu"), --memory-mib and --count. The stake must be at least
the chain's min_provider_stake ('query inference params').`,
		Example: `openledgerd tx inference register-provider --stake 1000000uopen \
  --multiaddr /ip4/127.0.0.1/tcp/4001 --engine openledger-ml --accelerator cpu --count 2 \
  --provider-name my-gpu-box --from alice --fees 2000uopen -y`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			clientCtx, err := client.GetClientTxContext(cmd)
			if err != nil {
				return err
			}
			operator, err := fromAddress(clientCtx, "the operator account that bonds the stake and signs the provider's txs")
			if err != nil {
				return err
			}
			stakeStr, _ := cmd.Flags().GetString(flagStake)
			stake, err := sdk.ParseCoinNormalized(stakeStr)
			if err != nil {
				return fmt.Errorf("--%s %q: %w", flagStake, stakeStr, err)
			}
			addrs, _ := cmd.Flags().GetStringArray(flagMultiaddr)
			engines, _ := cmd.Flags().GetStringArray(flagEngine)
			if len(addrs) == 0 || len(engines) == 0 {
				return fmt.Errorf("at least one --%s and one --%s are required", flagMultiaddr, flagEngine)
			}
			_, peerID, err := loadIdentity(cmd, true)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "provider peer id %s\n", peerID)
			accel, _ := cmd.Flags().GetString(flagAccelerator)
			mem, _ := cmd.Flags().GetUint64(flagMemoryMiB)
			count, _ := cmd.Flags().GetUint32(flagCount)
			moniker, _ := cmd.Flags().GetString(flagMoniker)
			apiURL, _ := cmd.Flags().GetString(flagAPIURL)
			msg := &types.MsgRegisterProvider{
				Operator: operator, PeerId: peerID, Multiaddrs: addrs, ApiUrl: apiURL,
				Hardware: types.Hardware{Accelerator: accel, MemoryMib: mem, Count: count},
				Engines:  engines, Moniker: moniker, Stake: stake,
			}
			return tx.GenerateOrBroadcastTxCLI(clientCtx, cmd.Flags(), msg)
		},
	}
	cmd.Flags().String(flagStake, "", "stake to bond, e.g. 1000000uopen (required)")
	cmd.Flags().StringArray(flagMultiaddr, nil, "libp2p multiaddr the provider listens on (repeatable)")
	cmd.Flags().StringArray(flagEngine, nil, "engine the provider runs (repeatable)")
	cmd.Flags().String(flagAccelerator, "cpu", `accelerator model, or "cpu"`)
	cmd.Flags().Uint64(flagMemoryMiB, 0, "memory per accelerator (system memory for cpu), MiB")
	cmd.Flags().Uint32(flagCount, 1, "number of accelerators (cores for cpu)")
	cmd.Flags().String(flagMoniker, "", "human-readable name")
	cmd.Flags().String(flagAPIURL, "", "public OpenAI-compatible endpoint (optional)")
	addIdentityFlag(cmd)
	_ = cmd.MarkFlagRequired(flagStake)
	flags.AddTxFlagsToCmd(cmd)
	return cmd
}
