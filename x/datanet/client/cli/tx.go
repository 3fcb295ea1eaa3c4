// Package cli holds the datanet commands that autocli cannot express well.
package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/flags"
	"github.com/cosmos/cosmos-sdk/client/tx"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/datanet/types"
)

const (
	flagDescription     = "description"
	flagMetadataCID     = "metadata-cid"
	flagTags            = "tags"
	flagCurators        = "curators"
	flagQuorum          = "quorum"
	flagReviewWindow    = "review-window"
	flagDeposit         = "deposit"
	flagMinContribs     = "min-contributions"
	flagMinContributors = "min-contributors"
	flagMinBytes        = "min-bytes"
	flagReason          = "reason"
)

// NewTxCmd returns the `tx datanet` command; autocli adds the generated subcommands.
func NewTxCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:                        types.ModuleName,
		Short:                      "Datanet transactions: create datanets, contribute, review, version",
		DisableFlagParsing:         true,
		SuggestionsMinimumDistance: 2,
		RunE:                       client.ValidateCmd,
	}
	cmd.AddCommand(NewCreateDatanetCmd(), NewReviewCmd())
	return cmd
}

// NewCreateDatanetCmd builds MsgCreateDatanet from plain flags.
func NewCreateDatanetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create [name] [license]",
		Short: "Create a datanet (a community-curated dataset) that you own",
		Long: `Create a datanet. It collects contributions until every requirement is met,
then becomes READY and can be frozen into dataset versions.

The license is an SPDX identifier such as CC-BY-4.0. Curators default to the owner.`,
		Example: `openledgerd tx datanet create "English proverbs" CC-BY-4.0 \
  --description "Short English proverbs, one per line" --tags text,english \
  --curators open1...,open1... --quorum 1 --review-window 100 --deposit 1000uopen \
  --min-contributions 3 --min-contributors 2 --from alice`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			clientCtx, err := client.GetClientTxContext(cmd)
			if err != nil {
				return err
			}
			owner := clientCtx.GetFromAddress()
			if owner.Empty() {
				return fmt.Errorf("--from is required: the key that will own the datanet")
			}
			ownerStr, err := clientCtx.InterfaceRegistry.SigningContext().AddressCodec().BytesToString(owner)
			if err != nil {
				return err
			}
			msg, err := createMsgFromFlags(cmd, ownerStr, args[0], args[1])
			if err != nil {
				return err
			}
			return tx.GenerateOrBroadcastTxCLI(clientCtx, cmd.Flags(), msg)
		},
	}
	f := cmd.Flags()
	f.String(flagDescription, "", "what data belongs in the datanet")
	f.String(flagMetadataCID, "", "CID of richer metadata on IPFS")
	f.StringSlice(flagTags, nil, "comma-separated tags")
	f.StringSlice(flagCurators, nil, "comma-separated curator addresses (default: the owner)")
	f.Uint32(flagQuorum, 1, "approvals (or rejections) needed to decide a contribution")
	f.Uint64(flagReviewWindow, 100, "blocks a contribution may stay pending before it expires")
	f.String(flagDeposit, "1000"+types.DefaultBondDenom, "deposit escrowed with each contribution")
	f.Uint64(flagMinContribs, 1, "accepted contributions required to become READY")
	f.Uint64(flagMinContributors, 1, "distinct contributors required to become READY")
	f.Uint64(flagMinBytes, 0, "accepted bytes required to become READY")
	flags.AddTxFlagsToCmd(cmd)
	return cmd
}

func createMsgFromFlags(cmd *cobra.Command, owner, name, license string) (*types.MsgCreateDatanet, error) {
	f := cmd.Flags()
	description, _ := f.GetString(flagDescription)
	metadataCID, _ := f.GetString(flagMetadataCID)
	tags, _ := f.GetStringSlice(flagTags)
	curators, _ := f.GetStringSlice(flagCurators)
	quorum, _ := f.GetUint32(flagQuorum)
	window, _ := f.GetUint64(flagReviewWindow)
	depositStr, _ := f.GetString(flagDeposit)
	minContribs, _ := f.GetUint64(flagMinContribs)
	minContributors, _ := f.GetUint64(flagMinContributors)
	minBytes, _ := f.GetUint64(flagMinBytes)

	deposit, err := sdk.ParseCoinNormalized(strings.TrimSpace(depositStr))
	if err != nil {
		return nil, fmt.Errorf("--%s %q: %w (example: 1000uopen)", flagDeposit, depositStr, err)
	}
	if len(curators) == 0 {
		curators = []string{owner}
	}
	return &types.MsgCreateDatanet{
		Owner:       owner,
		Name:        name,
		Description: description,
		MetadataCid: metadataCID,
		License:     license,
		Tags:        tags,
		Requirements: types.Requirements{
			MinAcceptedContributions: minContribs,
			MinDistinctContributors:  minContributors,
			MinAcceptedBytes:         minBytes,
		},
		Curation: types.Curation{
			Curators:           curators,
			ApprovalQuorum:     quorum,
			ReviewWindowBlocks: window,
		},
		ContributionDeposit: deposit,
	}, nil
}

// NewReviewCmd builds MsgReviewContribution with a readable decision argument.
func NewReviewCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "review [contribution-id] [approve|reject]",
		Short: "Review a pending contribution as a curator of its datanet",
		Long: `Record your verdict on a pending contribution. Once approvals (or rejections) reach the
datanet's quorum the contribution is accepted (deposit refunded, added to the Merkle tree) or
rejected (deposit to the community pool). You cannot review your own contribution, nor twice.`,
		Example: `openledgerd tx datanet review 7 approve --reason "clean, on topic" --from alice`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil || id == 0 {
				return fmt.Errorf("contribution-id %q: must be a positive integer", args[0])
			}
			var decision types.ReviewDecision
			switch strings.ToLower(args[1]) {
			case "approve", "accept", "yes":
				decision = types.REVIEW_DECISION_APPROVE
			case "reject", "no":
				decision = types.REVIEW_DECISION_REJECT
			default:
				return fmt.Errorf("decision %q: must be approve or reject", args[1])
			}
			clientCtx, err := client.GetClientTxContext(cmd)
			if err != nil {
				return err
			}
			curator := clientCtx.GetFromAddress()
			if curator.Empty() {
				return fmt.Errorf("--from is required: the curator's key")
			}
			curatorStr, err := clientCtx.InterfaceRegistry.SigningContext().AddressCodec().BytesToString(curator)
			if err != nil {
				return err
			}
			reason, _ := cmd.Flags().GetString(flagReason)
			msg := &types.MsgReviewContribution{Curator: curatorStr, ContributionId: id, Decision: decision, Reason: reason}
			return tx.GenerateOrBroadcastTxCLI(clientCtx, cmd.Flags(), msg)
		},
	}
	cmd.Flags().String(flagReason, "", "why (optional, recorded on chain)")
	flags.AddTxFlagsToCmd(cmd)
	return cmd
}
