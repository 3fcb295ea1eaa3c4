package cmd

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/flags"
	"github.com/cosmos/cosmos-sdk/client/tx"

	"github.com/openledger/openledger/storage"
	storagecli "github.com/openledger/openledger/storage/cli"
	"github.com/openledger/openledger/x/datanet/client/contrib"
	datanettypes "github.com/openledger/openledger/x/datanet/types"
)

const (
	flagMediaType = "media-type"
	flagRecords   = "records"
	flagHidden    = "hidden"
)

// NewContributeCmd is the contribution porcelain: add and pin on the local IPFS
// node, compute digest and size, and submit MsgSubmitContribution, in one command.
func NewContributeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "contribute [datanet-id] [path]",
		Short: "Add a file or directory to the local IPFS node and submit it to a datanet",
		Long: `Adds PATH to the built-in IPFS node (through its daemon when one runs, else directly
on <home>/ipfs) and pins it with the reason "datanet ID sha256:DIGEST", computes what the
chain records — SHA-256, size, record count, media type — and submits MsgSubmitContribution,
escrowing the datanet's deposit.

For a file the digest is the SHA-256 of its bytes; for a directory it is the SHA-256 of
the listing 'find . -type f | sed "s|^\./||" | LC_ALL=C sort | xargs sha256sum'.
Records are lines for text files and one per other file; override with --records.`,
		Example: "openledgerd tx datanet contribute 1 proverbs.txt --from bob --fees 2000uopen -y",
		Args:    cobra.ExactArgs(2),
		RunE:    runContribute,
	}
	cmd.Flags().String(flagMediaType, "", "media type to declare (default: detected)")
	cmd.Flags().Uint64(flagRecords, 0, "record count to declare (default: counted)")
	cmd.Flags().Bool(flagHidden, false, "include hidden files of a directory")
	flags.AddTxFlagsToCmd(cmd)
	return cmd
}

func runContribute(cmd *cobra.Command, args []string) error {
	datanetID, err := strconv.ParseUint(args[0], 10, 64)
	if err != nil || datanetID == 0 {
		return fmt.Errorf("datanet-id %q: must be a positive integer", args[0])
	}
	path := args[1]
	hidden, _ := cmd.Flags().GetBool(flagHidden)
	content, err := contrib.Describe(path, hidden)
	if err != nil {
		return err
	}
	if mt, _ := cmd.Flags().GetString(flagMediaType); mt != "" {
		content.MediaType = mt
	}
	if n, _ := cmd.Flags().GetUint64(flagRecords); n > 0 {
		content.Records = n
	}

	clientCtx, err := client.GetClientTxContext(cmd)
	if err != nil {
		return err
	}
	from := clientCtx.GetFromAddress()
	if from.Empty() {
		return fmt.Errorf("--from is required: the key that contributes and pays the deposit")
	}
	contributor, err := clientCtx.InterfaceRegistry.SigningContext().AddressCodec().BytesToString(from)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	// Fail before touching IPFS if the datanet cannot take the contribution.
	if !clientCtx.GenerateOnly && !clientCtx.Offline {
		res, err := datanettypes.NewQueryClient(clientCtx).Datanet(ctx, &datanettypes.QueryDatanetRequest{DatanetId: datanetID})
		if err != nil {
			return fmt.Errorf("datanet %d: %w", datanetID, err)
		}
		if res.Datanet.Status == datanettypes.DATANET_STATUS_ARCHIVED {
			return fmt.Errorf("datanet %d is archived and takes no contributions", datanetID)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "datanet %d %q asks a deposit of %s per contribution\n",
			datanetID, res.Datanet.Name, res.Datanet.ContributionDeposit)
	}

	var root string
	err = storagecli.WithAPI(cmd, func(ctx context.Context, a storage.API) error {
		nd, name, _, err := storage.OpenInput(path, true, hidden)
		if err != nil {
			return err
		}
		defer nd.Close()
		progress, done := storagecli.ProgressBar(cmd.ErrOrStderr(), int64(content.Size), "adding")
		defer done()
		res, err := a.Add(ctx, nd, storage.AddOptions{
			PinReason: fmt.Sprintf("datanet %d sha256:%s", datanetID, content.SHA256),
			Name:      name,
			Hidden:    hidden,
			Progress:  progress,
		})
		if err != nil {
			return err
		}
		root = res.RootStr
		return nil
	})
	if err != nil {
		return fmt.Errorf("adding %s to IPFS: %w", path, err)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "added %s: cid %s, %d bytes, %d records, %s, sha256 %s\n",
		path, root, content.Size, content.Records, content.MediaType, content.SHA256)

	msg := &datanettypes.MsgSubmitContribution{
		Contributor: contributor,
		DatanetId:   datanetID,
		Cid:         root,
		Sha256:      content.SHA256,
		SizeBytes:   content.Size,
		RecordCount: content.Records,
		MediaType:   content.MediaType,
	}
	return tx.GenerateOrBroadcastTxCLI(clientCtx, cmd.Flags(), msg)
}
