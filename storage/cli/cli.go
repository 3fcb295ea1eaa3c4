// Package cli holds the `openledgerd ipfs` command tree. Every command
// except init and daemon works in two modes: through a running daemon's
// local API when <repo>/api answers, otherwise directly on the repo (taking
// its lock). The repo is <home>/ipfs; home comes from the root command's
// persistent --home flag, or $HOME/.openledger when that flag is absent.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/openledger/openledger/storage"
	"github.com/openledger/openledger/storage/api"
)

// NewIPFSCommand returns the `ipfs` command tree.
func NewIPFSCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ipfs",
		Short: "Built-in IPFS node: add, pin, serve and fetch artifacts (kubo-compatible CIDs)",
		Long: `The built-in IPFS node stores artifacts in <home>/ipfs.

Commands use the running daemon's local API when one is up, and otherwise
open the repo directly (offline: only local blocks are available).
Imports equal kubo's 'ipfs add --cid-version=1 --raw-leaves'.`,
		SilenceUsage: true,
	}
	cmd.AddCommand(
		newInitCmd(), newDaemonCmd(), newAddCmd(), newCatCmd(), newGetCmd(), newStatCmd(),
		newPinCmd(), newGCCmd(), newRepoCmd(), newCarCmd(), newIDCmd(), newPeersCmd(),
	)
	return cmd
}

// homeDir resolves the openledgerd home: the inherited --home flag, else
// $HOME/.openledger; a leading "~" is expanded.
func homeDir(cmd *cobra.Command) (string, error) {
	home, err := cmd.Flags().GetString("home")
	if err != nil || home == "" {
		uh, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("cannot find the home directory; pass --home: %w", err)
		}
		return filepath.Join(uh, ".openledger"), nil
	}
	if home == "~" || strings.HasPrefix(home, "~/") {
		uh, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		home = filepath.Join(uh, strings.TrimPrefix(home, "~"))
	}
	return home, nil
}

func repoDir(cmd *cobra.Command) (string, error) {
	home, err := homeDir(cmd)
	if err != nil {
		return "", err
	}
	return storage.RepoPath(home), nil
}

// withAPI runs fn against the daemon if it runs, else against the repo.
func withAPI(cmd *cobra.Command, fn func(ctx context.Context, a storage.API) error) error {
	dir, err := repoDir(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	a, closeFn, err := api.Open(ctx, dir)
	if err != nil {
		return err
	}
	err = fn(ctx, a)
	if cerr := closeFn(); err == nil && cerr != nil {
		err = fmt.Errorf("closing repo: %w", cerr)
	}
	return err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func exactArgs(n int, usage string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("expected %d argument(s): %s (got %d)", n, usage, len(args))
		}
		return nil
	}
}

var errNoOutput = errors.New("missing -o/--output PATH")
