package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/flags"
	"github.com/cosmos/cosmos-sdk/types/query"

	"github.com/openledger/openledger/storage"
	storagecli "github.com/openledger/openledger/storage/cli"
	datanettypes "github.com/openledger/openledger/x/datanet/types"
	"github.com/openledger/openledger/x/models/types"
)

// Fetched is one contribution of a dataset version written to disk.
type Fetched struct {
	ContributionID uint64
	LeafIndex      uint64
	CID            string
	Path           string
}

// NewQueryCmd returns the hand-written query commands; autocli adds the rest.
func NewQueryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:                        types.ModuleName,
		Short:                      "Querying commands for the models module",
		DisableFlagParsing:         true,
		SuggestionsMinimumDistance: 2,
		RunE:                       client.ValidateCmd,
	}
	cmd.AddCommand(NewFetchDatasetCmd())
	return cmd
}

// NewFetchDatasetCmd is `query models fetch-dataset DATANET/VERSION --out DIR`.
func NewFetchDatasetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fetch-dataset [datanet-id/version] --out DIR",
		Short: "Fetch a dataset version's accepted contributions from IPFS, verified against the chain, in version order",
		Long: `Lists the accepted contributions of a frozen dataset version, fetches each by CID
through the local IPFS node (the daemon fetches missing blocks over bitswap; offline, only
local blocks are available), checks each against the sha256 and size recorded on chain,
and writes them to DIR in version (Merkle leaf) order as NNNNNN-contribution-ID. Files
already present with the right digest are kept. Prints the --data/--cid arguments for
'openledgerd model train', so the manifest records what was trained on.`,
		Example: `  openledgerd query models fetch-dataset 1/1 --out data
  openledgerd model train $(openledgerd query models fetch-dataset 1/1 --out data) --out run --preset tiny`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dn, ver, err := parsePair("dataset version", args[0])
			if err != nil {
				return err
			}
			out, _ := cmd.Flags().GetString("out")
			if out == "" {
				return errors.New("--out is required: the directory to write the contributions to")
			}
			clientCtx, err := client.GetClientQueryContext(cmd)
			if err != nil {
				return err
			}
			var fetched []Fetched
			err = storagecli.WithAPI(cmd, func(ctx context.Context, a storage.API) error {
				fetched, err = FetchDatasetVersion(ctx, clientCtx, a, dn, ver, out, cmd.ErrOrStderr())
				return err
			})
			if err != nil {
				return err
			}
			var parts []string
			for _, f := range fetched {
				parts = append(parts, "--data", f.Path, "--cid", f.CID)
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.Join(parts, " "))
			return nil
		},
	}
	cmd.Flags().String("out", "", "directory to write the contributions to (created if missing)")
	flags.AddQueryFlagsToCmd(cmd)
	return cmd
}

// FetchDatasetVersion writes the accepted contributions of dataset version
// datanetID/version to dir in leaf order, each verified against its on-chain sha256
// and size, and returns them in that order.
func FetchDatasetVersion(ctx context.Context, clientCtx client.Context, a storage.API, datanetID, version uint64, dir string, log io.Writer) ([]Fetched, error) {
	q := datanettypes.NewQueryClient(clientCtx)
	vres, err := q.DatasetVersion(ctx, &datanettypes.QueryDatasetVersionRequest{DatanetId: datanetID, Version: version})
	if err != nil {
		return nil, notFrozen(ctx, q, datanetID, version, err)
	}
	leaves := vres.Version.LeafCount
	var contribs []datanettypes.Contribution
	page := &query.PageRequest{Limit: 500}
	for {
		res, err := q.Contributions(ctx, &datanettypes.QueryContributionsRequest{
			DatanetId: datanetID, Status: datanettypes.CONTRIBUTION_STATUS_ACCEPTED, Pagination: page,
		})
		if err != nil {
			return nil, fmt.Errorf("contributions of datanet %d: %w", datanetID, err)
		}
		for _, c := range res.Contributions {
			if c.LeafIndex < leaves {
				contribs = append(contribs, c)
			}
		}
		if res.Pagination == nil || len(res.Pagination.NextKey) == 0 {
			break
		}
		page = &query.PageRequest{Key: res.Pagination.NextKey, Limit: 500}
	}
	slices.SortFunc(contribs, func(x, y datanettypes.Contribution) int {
		switch {
		case x.LeafIndex < y.LeafIndex:
			return -1
		case x.LeafIndex > y.LeafIndex:
			return 1
		}
		return 0
	})
	if uint64(len(contribs)) != leaves {
		return nil, fmt.Errorf("dataset version %d/%d has %d leaves but the chain lists %d accepted contributions in it", datanetID, version, leaves, len(contribs))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	out := make([]Fetched, 0, len(contribs))
	for i, c := range contribs {
		if c.LeafIndex != uint64(i) {
			return nil, fmt.Errorf("dataset version %d/%d: leaf %d is missing", datanetID, version, i)
		}
		path := filepath.Join(dir, fmt.Sprintf("%06d-contribution-%d", c.LeafIndex, c.Id))
		if err := fetchOne(ctx, a, c, path); err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "contribution %d (leaf %d): %s, %d bytes, sha256 verified\n", c.Id, c.LeafIndex, c.Cid, c.SizeBytes)
		out = append(out, Fetched{ContributionID: c.Id, LeafIndex: c.LeafIndex, CID: c.Cid, Path: path})
	}
	return out, nil
}

// fetchOne writes contribution c to path unless a file with its digest is there.
func fetchOne(ctx context.Context, a storage.API, c datanettypes.Contribution, path string) error {
	return FetchVerified(ctx, a, fmt.Sprintf("contribution %d", c.Id), c.Cid, c.Sha256, int64(c.SizeBytes), path)
}

// copyHashed writes r to path and returns the byte count and hex sha256.
func copyHashed(path string, r io.Reader) (int64, string, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, "", err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, hex.EncodeToString(h.Sum(nil)), err
}

// fileHas reports whether path holds a file with this sha256 (and size, unless size < 0).
func fileHas(path, sha string, size int64) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return false, err
	}
	return (size < 0 || n == size) && hex.EncodeToString(h.Sum(nil)) == sha, nil
}

// notFrozen explains why dataset version datanetID/version could not be read: the
// datanet does not exist, or the version was never frozen (versions exist only
// once frozen, numbered from 1), or the query failed.
func notFrozen(ctx context.Context, q datanettypes.QueryClient, datanetID, version uint64, err error) error {
	dres, derr := q.Datanet(ctx, &datanettypes.QueryDatanetRequest{DatanetId: datanetID})
	if derr != nil {
		return fmt.Errorf("dataset version %d/%d: datanet %d: %w", datanetID, version, datanetID, derr)
	}
	frozen := dres.Datanet.Stats.Versions
	if version > frozen {
		return fmt.Errorf("dataset version %d/%d is not frozen: datanet %d has %d frozen version(s) (%s, %d accepted contributions); its curator freezes the next with 'tx datanet create-version %d'",
			datanetID, version, datanetID, frozen, dres.Datanet.Status, dres.Datanet.Stats.AcceptedContributions, datanetID)
	}
	return fmt.Errorf("dataset version %d/%d: %w", datanetID, version, err)
}
