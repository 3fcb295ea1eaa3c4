package models

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/flags"

	"github.com/openledger/openledger/storage"
	storagecli "github.com/openledger/openledger/storage/cli"
)

const flagBaseCache = "base-cache"

// AddDatasetVersionFlag extends `model train` (which knows nothing of the chain)
// with chain references:
//
//   - --dataset-version DATANET/VERSION[,…]: before training, each frozen version's
//     accepted contributions are fetched from IPFS in version order, each verified
//     against its on-chain sha256 and size, and passed to the trainer as --data with
//     their --cid.
//   - --base MODEL/VERSION: the version's checkpoint and training manifest are
//     fetched from IPFS into --base-cache, verified against the chain, and the
//     trainer's --base becomes that directory. For --kind sft/dpo (which evaluate
//     on the parent's held-out set) the manifest's inputs are fetched by their CIDs
//     too and passed as --parent-data.
func AddDatasetVersionFlag(train *cobra.Command) {
	train.Flags().StringSlice(flagDatasetVersion, nil,
		"train on dataset versions DATANET/VERSION (repeatable), fetched from IPFS and verified against the chain, instead of --data")
	train.Flags().String(flagBaseCache, "", "with --base MODEL/VERSION: where chain versions are fetched to (default <home>/models/cache)")
	if f := train.Flags().Lookup("base"); f != nil {
		f.Usage += "; or a chain model version MODEL/VERSION, fetched from IPFS and verified against the chain"
	}
	if train.Flags().Lookup(flags.FlagNode) == nil {
		train.Flags().String(flags.FlagNode, "tcp://localhost:26657", "<host>:<port> to CometBFT RPC interface for this chain")
	}
	prev := train.PreRunE
	train.PreRunE = func(cmd *cobra.Command, args []string) error {
		if err := fetchForTraining(cmd); err != nil {
			return err
		}
		if prev != nil {
			return prev(cmd, args)
		}
		return nil
	}
	train.Example = strings.TrimRight(train.Example, "\n") +
		"\n  openledgerd model train --dataset-version 1/1 --out /tmp/m --steps 300   # fetch a dataset version from IPFS, verified against the chain" +
		"\n  openledgerd model train --kind dpo --base 1/1 --dataset-version 2/1 --lora-rank 8 --out /tmp/dpo   # fine-tune a chain version on a feedback dataset version"
}

// baseRef returns the --base value when it names a chain version (MODEL/VERSION
// that is not an existing local path).
func baseRef(cmd *cobra.Command) string {
	base, _ := cmd.Flags().GetString("base")
	if !IsVersionRef(base) {
		return ""
	}
	if _, err := os.Stat(base); err == nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "--base %s: a local path of that name exists; training on it, not on chain version %s\n", base, base)
		return ""
	}
	return base
}

func fetchForTraining(cmd *cobra.Command) error {
	versions, _ := cmd.Flags().GetStringSlice(flagDatasetVersion)
	base := baseRef(cmd)
	if len(versions) == 0 && base == "" {
		return nil
	}
	if len(versions) > 0 && cmd.Flags().Changed("data") {
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
		if base != "" {
			if err := fetchBase(ctx, cmd, clientCtx, a, base); err != nil {
				return err
			}
		}
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

// fetchBase fetches chain version ref into the cache and points --base (and, for
// the parent evaluation of sft/dpo runs, --parent-data) at it.
func fetchBase(ctx context.Context, cmd *cobra.Command, clientCtx client.Context, a storage.API, ref string) error {
	modelID, version, err := parsePair("base", ref)
	if err != nil {
		return err
	}
	cache, _ := cmd.Flags().GetString(flagBaseCache)
	if cache == "" {
		home, _ := cmd.Flags().GetString(flags.FlagHome)
		if home == "" {
			home = clientCtx.HomeDir
		}
		if home == "" {
			return fmt.Errorf("--base %s: no --home; give --%s DIR", ref, flagBaseCache)
		}
		cache = filepath.Join(home, "models", "cache")
	}
	kind, _ := cmd.Flags().GetString("kind")
	noEval, _ := cmd.Flags().GetBool("no-parent-eval")
	inputs := (kind == "sft" || kind == "dpo") && !noEval && !cmd.Flags().Changed("parent-manifest") && !cmd.Flags().Changed("parent-data")
	bv, err := FetchBaseVersion(ctx, clientCtx, a, modelID, version, cache, inputs, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if err := cmd.Flags().Set("base", bv.Dir); err != nil {
		return err
	}
	for _, p := range bv.ParentData {
		if err := cmd.Flags().Set("parent-data", p); err != nil {
			return err
		}
	}
	return nil
}
