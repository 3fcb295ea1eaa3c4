package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ipfs/boxo/files"
	"github.com/spf13/cobra"

	"github.com/openledger/openledger/storage"
)

func newAddCmd() *cobra.Command {
	var recursive, quiet, noPin, hidden, digest bool
	var reason string
	cmd := &cobra.Command{
		Use:   "add [-r] [-q] PATH|-",
		Short: "Import a file, a directory (-r) or stdin (-) and pin it",
		Long: `Import as UnixFS with kubo's 'ipfs add --cid-version=1 --raw-leaves' settings:
CIDv1, raw leaves, sha2-256, 256 KiB chunks, balanced DAG of width 174,
HAMT-sharded directories past 256 KiB. Dot-files are skipped unless --hidden.
The root is pinned recursively with --reason unless --no-pin.
Prints "added <cid> <path>" per entry, or only the root CID with -q.`,
		Args: exactArgs(1, "add PATH, or add - for stdin"),
		RunE: func(cmd *cobra.Command, args []string) error {
			nd, name, size, err := openInput(cmd, args[0], recursive, hidden)
			if err != nil {
				return err
			}
			defer nd.Close()
			progress, done := newBar(cmd.ErrOrStderr(), size, "adding")
			opts := storage.AddOptions{Name: name, PinReason: reason, NoPin: noPin, Hidden: hidden, Progress: progress, SHA256: digest}
			return withAPI(cmd, func(ctx context.Context, a storage.API) error {
				res, err := a.Add(ctx, nd, opts)
				done()
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if quiet {
					fmt.Fprintln(out, res.RootStr)
					return nil
				}
				for _, e := range res.Entries {
					fmt.Fprintf(out, "added %s %s\n", e.Cid, e.Path)
				}
				if res.SHA256 != "" {
					fmt.Fprintf(out, "sha256 %s\n", res.SHA256)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&recursive, "recursive", "r", false, "add a directory and everything in it")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only the root CID")
	f.BoolVar(&noPin, "no-pin", false, "do not pin the result (gc may remove it)")
	f.BoolVar(&hidden, "hidden", false, "include files whose names start with a dot")
	f.BoolVar(&digest, "sha256", false, "also print the sha256 of a single file's content")
	f.StringVar(&reason, "reason", "", `why the data is kept, e.g. "datanet 3 contribution 17"`)
	return cmd
}

// openInput opens PATH, or stdin for "-".
func openInput(cmd *cobra.Command, p string, recursive, hidden bool) (files.Node, string, int64, error) {
	if p == "-" {
		return files.NewReaderFile(cmd.InOrStdin()), "", -1, nil
	}
	return storage.OpenInput(p, recursive, hidden)
}

func newCatCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cat CID",
		Short: "Write the bytes of a UnixFS file to stdout",
		Args:  exactArgs(1, "cat CID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := storage.ParseCID(args[0])
			if err != nil {
				return err
			}
			return withAPI(cmd, func(ctx context.Context, a storage.API) error {
				rc, err := a.Cat(ctx, c)
				if err != nil {
					return err
				}
				defer rc.Close()
				_, err = io.Copy(cmd.OutOrStdout(), rc)
				return err
			})
		},
	}
}

func newGetCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "get CID -o PATH",
		Short: "Download a file or directory to PATH (which must not exist)",
		Args:  exactArgs(1, "get CID -o PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := storage.ParseCID(args[0])
			if err != nil {
				return err
			}
			if out == "" {
				return errNoOutput
			}
			if _, err := os.Lstat(out); err == nil {
				return fmt.Errorf("%s already exists; choose a new output path", out)
			}
			if st, err := os.Stat(filepath.Dir(out)); err != nil || !st.IsDir() {
				return fmt.Errorf("the parent directory of %s does not exist", out)
			}
			progress, done := newBar(cmd.ErrOrStderr(), -1, "fetching")
			return withAPI(cmd, func(ctx context.Context, a storage.API) error {
				err := a.Get(ctx, c, out, progress)
				done()
				if err != nil {
					os.RemoveAll(out) // never leave a partial download behind
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "saved %s to %s\n", c, out)
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "output path (required)")
	return cmd
}

func newStatCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "stat CID",
		Short: "Describe a DAG: codec, UnixFS type, sizes, block count (JSON)",
		Args:  exactArgs(1, "stat CID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := storage.ParseCID(args[0])
			if err != nil {
				return err
			}
			return withAPI(cmd, func(ctx context.Context, a storage.API) error {
				st, err := a.Stat(ctx, c)
				if err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), st)
			})
		},
	}
}

func newPinCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "pin", Short: "Keep DAGs in the repo, each pin with reasons"}
	var addReason, rmReason string
	add := &cobra.Command{
		Use:   "add CID",
		Short: "Pin a DAG recursively (fetching it when the daemon runs)",
		Args:  exactArgs(1, "pin add CID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := storage.ParseCID(args[0])
			if err != nil {
				return err
			}
			return withAPI(cmd, func(ctx context.Context, a storage.API) error {
				if err := a.Pin(ctx, c, addReason); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "pinned %s recursively\n", c)
				return nil
			})
		},
	}
	add.Flags().StringVar(&addReason, "reason", "", `why it is kept, e.g. "model 2 version 5"`)
	rm := &cobra.Command{
		Use:   "rm CID",
		Short: "Remove a pin reason (all reasons without --reason); unpins when none is left",
		Args:  exactArgs(1, "pin rm CID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := storage.ParseCID(args[0])
			if err != nil {
				return err
			}
			return withAPI(cmd, func(ctx context.Context, a storage.API) error {
				if err := a.Unpin(ctx, c, rmReason); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "unpinned %s\n", c)
				return nil
			})
		},
	}
	rm.Flags().StringVar(&rmReason, "reason", "", "remove only this reason")
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List recursive pins and their reasons",
		Args:  exactArgs(0, "pin ls takes no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAPI(cmd, func(ctx context.Context, a storage.API) error {
				pins, err := a.Pins(ctx)
				if err != nil {
					return err
				}
				for _, p := range pins {
					fmt.Fprintf(cmd.OutOrStdout(), "%s recursive %s\n", p.Cid, formatReasons(p.Reasons))
				}
				return nil
			})
		},
	}
	cmd.AddCommand(add, rm, ls)
	return cmd
}

func newCarCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "car", Short: "Export and import CAR v1 archives"}
	var out string
	export := &cobra.Command{
		Use:   "export CID -o FILE",
		Short: "Write the DAG at CID as a CAR v1 file",
		Args:  exactArgs(1, "car export CID -o FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := storage.ParseCID(args[0])
			if err != nil {
				return err
			}
			if out == "" {
				return errNoOutput
			}
			return withAPI(cmd, func(ctx context.Context, a storage.API) error {
				// Write to a temp file and rename: no half-written CAR on failure.
				tmp, err := os.CreateTemp(filepath.Dir(out), ".car-export-*")
				if err != nil {
					return fmt.Errorf("cannot write %s: %w", out, err)
				}
				defer os.Remove(tmp.Name())
				if err := a.ExportCAR(ctx, c, tmp); err != nil {
					tmp.Close()
					return err
				}
				if err := tmp.Close(); err != nil {
					return err
				}
				if err := os.Rename(tmp.Name(), out); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "exported %s to %s\n", c, out)
				return nil
			})
		},
	}
	export.Flags().StringVarP(&out, "output", "o", "", "output CAR file (required)")
	var reason string
	var noPin bool
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Import a CAR (v1 or v2), verifying every block, and pin its complete roots",
		Args:  exactArgs(1, "car import FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("cannot read %s: %w", args[0], err)
			}
			defer f.Close()
			return withAPI(cmd, func(ctx context.Context, a storage.API) error {
				res, err := a.ImportCAR(ctx, f, reason, noPin)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "imported %d blocks (%d bytes)\n", res.Blocks, res.Bytes)
				for _, r := range res.Pinned {
					fmt.Fprintf(cmd.OutOrStdout(), "pinned root %s\n", r)
				}
				for _, r := range res.Incomplete {
					fmt.Fprintf(cmd.OutOrStdout(), "root %s is incomplete (blocks missing), not pinned\n", r)
				}
				return nil
			})
		},
	}
	imp.Flags().StringVar(&reason, "reason", "", "pin reason for the roots")
	imp.Flags().BoolVar(&noPin, "no-pin", false, "do not pin the roots")
	cmd.AddCommand(export, imp)
	return cmd
}

// formatReasons renders pin reasons as quoted strings, or "(no reason)".
func formatReasons(rs []string) string {
	var q []string
	for _, r := range rs {
		if r != "" {
			q = append(q, strconv.Quote(r))
		}
	}
	if len(q) == 0 {
		return "(no reason)"
	}
	return strings.Join(q, ", ")
}
