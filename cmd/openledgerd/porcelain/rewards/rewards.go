// Package rewards holds the `attribution` porcelain over x/rewards: a readable
// breakdown of what an address can claim and a claim command with the names.
// The logic lives in the module (query PendingRewards, MsgClaimRewards); these
// commands only format and build.
package rewards

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/flags"
	"github.com/cosmos/cosmos-sdk/client/tx"

	"github.com/openledger/openledger/x/rewards/types"
)

// GroupName is the porcelain group, an alias of the autocli `rewards` group.
const GroupName = "attribution"

// NewQueryGroup is `query attribution`.
func NewQueryGroup() *cobra.Command {
	cmd := &cobra.Command{
		Use:                        GroupName,
		Short:                      "Proof-of-Attribution rewards (readable forms of 'query rewards')",
		DisableFlagParsing:         true,
		SuggestionsMinimumDistance: 2,
		RunE:                       client.ValidateCmd,
	}
	cmd.AddCommand(NewRewardsCmd())
	return cmd
}

// NewTxGroup is `tx attribution`.
func NewTxGroup() *cobra.Command {
	cmd := &cobra.Command{
		Use:                        GroupName,
		Short:                      "Proof-of-Attribution rewards transactions (alias of 'tx rewards')",
		DisableFlagParsing:         true,
		SuggestionsMinimumDistance: 2,
		RunE:                       client.ValidateCmd,
	}
	cmd.AddCommand(NewClaimCmd())
	return cmd
}

// NewRewardsCmd is `query attribution rewards ADDRESS`.
func NewRewardsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rewards [address]",
		Short: "Show what an address can claim now, broken down by source",
		Long: `Lists an address's claimable rewards: developer shares of its deployments, direct
(top-K) credits of its contributions, and its contributions' shares of dataset-version pools,
per (datanet, version, contribution), with the total. --output json prints the raw
PendingRewards response. The pool walk visits at most --limit contributions (bounded by the
max_claim_items param); a "more" line gives the --start to continue.`,
		Example: `  openledgerd query attribution rewards open1...
  openledgerd query attribution rewards open1... --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			clientCtx, err := client.GetClientQueryContext(cmd)
			if err != nil {
				return err
			}
			start, _ := cmd.Flags().GetUint64("start")
			limit, _ := cmd.Flags().GetUint32("limit")
			res, err := types.NewQueryClient(clientCtx).PendingRewards(cmd.Context(), &types.QueryPendingRewardsRequest{
				Address: args[0], StartContributionId: start, Limit: limit,
			})
			if err != nil {
				return err
			}
			if clientCtx.OutputFormat == flags.OutputFormatJSON {
				return clientCtx.PrintProto(res)
			}
			return WriteBreakdown(cmd.OutOrStdout(), args[0], res)
		},
	}
	flags.AddQueryFlagsToCmd(cmd)
	cmd.Flags().Uint64("start", 0, "first contribution id of the pool walk (from a previous answer's \"more\" line)")
	cmd.Flags().Uint32("limit", 0, "contributions to visit (0: the max_claim_items param)")
	return cmd
}

// WriteBreakdown writes res as a readable table by source.
func WriteBreakdown(w io.Writer, address string, res *types.QueryPendingRewardsResponse) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Rewards claimable by %s\n", address)
	// Rows: a section title (no amount) or a label with its amount; labels are
	// left-aligned and amounts right-aligned in one column across all sections.
	type row struct{ label, amount string }
	var rows []row
	section := func(title string, n int) { rows = append(rows, row{}, row{label: fmt.Sprintf("%s (%d)", title, n)}) }
	line := func(label string, amt fmt.Stringer) {
		rows = append(rows, row{label: "  " + label, amount: amt.String() + res.Denom})
	}
	section("Deployment developer shares", len(res.Developer))
	for _, a := range res.Developer {
		line(fmt.Sprintf("deployment %d", a.SourceId), a.Amount)
	}
	section("Direct contribution credits (top-K)", len(res.Direct))
	for _, a := range res.Direct {
		line(fmt.Sprintf("contribution %d", a.SourceId), a.Amount)
	}
	section("Dataset-version pool shares", len(res.Pools))
	for _, p := range res.Pools {
		line(fmt.Sprintf("datanet %d version %d contribution %d (%d shares)", p.DatanetId, p.Version, p.ContributionId, p.Shares), p.Amount)
	}
	rows = append(rows, row{})
	line("Total", res.Total)
	rows[len(rows)-1].label = "Total"
	labelW, amountW := 0, 0
	for _, r := range rows {
		if r.amount != "" {
			labelW, amountW = max(labelW, len(r.label)), max(amountW, len(r.amount))
		}
	}
	for _, r := range rows {
		if r.amount == "" {
			fmt.Fprintln(&b, r.label)
			continue
		}
		fmt.Fprintf(&b, "%-*s  %*s\n", labelW, r.label, amountW, r.amount)
	}
	if res.NextContributionId != 0 {
		fmt.Fprintf(&b, "\nmore: pool shares of further contributions not listed; continue with --start %d\n", res.NextContributionId)
	}
	fmt.Fprintf(&b, "\nPool shares below 1%s stay in their pool (tracked, never lost) and are paid once they add up.\n", res.Denom)
	fmt.Fprintf(&b, "Claim with: openledgerd tx attribution claim --from %s\n", address)
	_, err := io.WriteString(w, b.String())
	return err
}

// NewClaimCmd is `tx attribution claim [--datanet N --dataset-version V --max-items K]`.
func NewClaimCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "claim",
		Short: "Claim your accrued rewards in one transfer (repeat while the answer says more)",
		Long: `Sends MsgClaimRewards from --from: direct and developer credits and your contributions'
pool earnings, in one transfer. --datanet (and --dataset-version) restrict the claim to one datanet
(version); --max-items bounds the sources visited (the max_claim_items param bounds it too).
A claim cut short by its budget keeps its position; claim again to continue.`,
		Example: `  openledgerd tx attribution claim --from alice
  openledgerd tx attribution claim --datanet 1 --dataset-version 2 --max-items 50 --from alice`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			clientCtx, err := client.GetClientTxContext(cmd)
			if err != nil {
				return err
			}
			msg, err := ClaimMsg(clientCtx.GetFromAddress().String(), cmd)
			if err != nil {
				return err
			}
			return tx.GenerateOrBroadcastTxCLI(clientCtx, cmd.Flags(), msg)
		},
	}
	flags.AddTxFlagsToCmd(cmd)
	cmd.Flags().Uint64("datanet", 0, "claim only this datanet's contribution rewards")
	// Not --version: the SDK fills unset flags from same-named config keys, and
	// config.toml's top-level "version" would land here.
	cmd.Flags().Uint64("dataset-version", 0, "with --datanet: only this dataset version")
	cmd.Flags().Uint32("max-items", 0, "sources to visit at most (0: the max_claim_items param)")
	return cmd
}

// ClaimMsg builds the claim from the command's flags.
func ClaimMsg(claimant string, cmd *cobra.Command) (*types.MsgClaimRewards, error) {
	datanet, _ := cmd.Flags().GetUint64("datanet")
	version, _ := cmd.Flags().GetUint64("dataset-version")
	maxItems, _ := cmd.Flags().GetUint32("max-items")
	if version != 0 && datanet == 0 {
		return nil, fmt.Errorf("--dataset-version needs --datanet")
	}
	return &types.MsgClaimRewards{Claimant: claimant, DatanetId: datanet, Version: version, MaxItems: maxItems}, nil
}
