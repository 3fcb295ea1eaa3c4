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

	"github.com/ipfs/go-cid"
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
		return nil, fmt.Errorf("dataset version %d/%d: %w", datanetID, version, err)
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
	if ok, _ := fileHas(path, c.Sha256, c.SizeBytes); ok {
		return nil
	}
	id, err := cid.Decode(c.Cid)
	if err != nil {
		return fmt.Errorf("contribution %d: cid %q: %w", c.Id, c.Cid, err)
	}
	rc, err := a.Cat(ctx, id)
	if err != nil {
		return fmt.Errorf("contribution %d: fetching %s: %w", c.Id, c.Cid, err)
	}
	defer rc.Close()
	tmp := path + ".part"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(rc, int64(c.SizeBytes)+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("contribution %d: reading %s: %w", c.Id, c.Cid, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != c.Sha256 || uint64(n) != c.SizeBytes {
		os.Remove(tmp)
		return fmt.Errorf("contribution %d: %s has sha256 %s and %d bytes; the chain records %s and %d bytes", c.Id, c.Cid, got, n, c.Sha256, c.SizeBytes)
	}
	return os.Rename(tmp, path)
}

func fileHas(path, sha string, size uint64) (bool, error) {
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
	return uint64(n) == size && hex.EncodeToString(h.Sum(nil)) == sha, nil
}
