package models

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/flags"

	"github.com/openledger/openledger/storage"
	storagecli "github.com/openledger/openledger/storage/cli"
)

// AddDatasetVersionFlag extends `model train` (which knows nothing of the chain) with
// --dataset-version DATANET/VERSION: before training, the version's accepted
// contributions are fetched from IPFS in version order, each verified against its
// on-chain sha256 and size, and passed to the trainer as --data with their --cid.
func AddDatasetVersionFlag(train *cobra.Command) {
	train.Flags().StringSlice(flagDatasetVersion, nil,
		"train on dataset versions DATANET/VERSION (repeatable), fetched from IPFS and verified against the chain, instead of --data")
	if train.Flags().Lookup(flags.FlagNode) == nil {
		train.Flags().String(flags.FlagNode, "tcp://localhost:26657", "<host>:<port> to CometBFT RPC interface for this chain")
	}
	prev := train.PreRunE
	train.PreRunE = func(cmd *cobra.Command, args []string) error {
		versions, _ := cmd.Flags().GetStringSlice(flagDatasetVersion)
		if len(versions) > 0 {
			if err := fetchForTraining(cmd, versions); err != nil {
				return err
			}
		}
		if prev != nil {
			return prev(cmd, args)
		}
		return nil
	}
	train.Example = strings.TrimRight(train.Example, "\n") +
		"\n  openledgerd model train --dataset-version 1/1 --out /tmp/m --steps 300   # fetch a dataset version from IPFS, verified against the chain"
}

func fetchForTraining(cmd *cobra.Command, versions []string) error {
	if cmd.Flags().Changed("data") {
		return fmt.Errorf("use either --data or --%s, not both", flagDatasetVersion)
	}
	out, _ := cmd.Flags().GetString("out")
	if out == "" {
		return fmt.Errorf("--out is required")
	}
	clientCtx, err := client.GetClientQueryContext(cmd)
	if err != nil {
		return err
	}
	return storagecli.WithAPI(cmd, func(ctx context.Context, a storage.API) error {
		for _, v := range versions {
			datanetID, version, err := parsePair(flagDatasetVersion, v)
			if err != nil {
				return err
			}
			dir := filepath.Join(out, "data", fmt.Sprintf("datanet-%d-v%d", datanetID, version))
			fetched, err := FetchDatasetVersion(ctx, clientCtx, a, datanetID, version, dir, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			for _, f := range fetched {
				if err := cmd.Flags().Set("data", f.Path); err != nil {
					return err
				}
				if err := cmd.Flags().Set("cid", f.CID); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
