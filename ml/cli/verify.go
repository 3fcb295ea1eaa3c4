package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/openledger/openledger/ml/train"
)

func newVerifyCommand() *cobra.Command {
	var (
		data    []string
		base    string
		workers int
		keep    string
	)
	cmd := &cobra.Command{
		Use:   "verify-training MANIFEST",
		Short: "Re-run the training a manifest records and compare every digest",
		Long: `Re-runs the training recorded in a manifest.json (same data, tokenizer, config,
hyper-parameters and seed) and compares the checkpoint sha256, tokenizer
sha256, losses and the manifest digest. Data files are found at their recorded
paths (relative to the current directory, then to the manifest's directory);
--data overrides them in order. Each file's sha256 must match the manifest.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := train.ReadManifest(args[0])
			if err != nil {
				return err
			}
			spec := m.Spec()
			dir := filepath.Dir(args[0])
			if len(data) > 0 {
				if len(data) != len(spec.Inputs) {
					return fmt.Errorf("--data gives %d files; the manifest has %d inputs", len(data), len(spec.Inputs))
				}
				for i := range data {
					spec.Inputs[i].Path = data[i]
				}
			} else {
				for i := range spec.Inputs {
					spec.Inputs[i].Path = locate(spec.Inputs[i].Path, dir)
				}
			}
			if spec.Tokenizer.Kind == train.TokenizerFile {
				spec.Tokenizer.Path = locate(spec.Tokenizer.Path, dir)
			}
			if spec.Base != nil {
				if base != "" {
					spec.Base.Path = base
				} else {
					spec.Base.Path = locate(spec.Base.Path, dir)
				}
			}
			out := keep
			if out == "" {
				tmp, err := os.MkdirTemp("", "openledger-verify-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				out = tmp
			}
			res, err := train.Run(cmd.Context(), spec, train.Options{OutDir: out, Workers: workers})
			if err != nil {
				return fmt.Errorf("re-running the training failed: %w", err)
			}
			got := res.Manifest
			w := cmd.OutOrStdout()
			ok := true
			check := func(what string, want, have any) {
				status := "ok"
				if fmt.Sprint(want) != fmt.Sprint(have) {
					status, ok = "MISMATCH", false
				}
				fmt.Fprintf(w, "%-18s %-8s recorded %v, re-run %v\n", what, status, want, have)
			}
			check("checkpoint sha256", m.Checkpoint.SHA256, got.Checkpoint.SHA256)
			check("tokenizer sha256", m.Tokenizer.SHA256, got.Tokenizer.SHA256)
			check("tokens seen", m.TokensSeen, got.TokensSeen)
			check("final loss", m.FinalLoss, got.FinalLoss)
			check("eval loss", m.EvalLoss, got.EvalLoss)
			if !ok {
				return fmt.Errorf("verification FAILED: the re-run does not reproduce the manifest")
			}
			fmt.Fprintln(w, "verification OK: the re-run reproduces the recorded checkpoint bit for bit")
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&data, "data", nil, "data files replacing the manifest's paths, in order")
	cmd.Flags().StringVar(&base, "base", "", "base checkpoint replacing the manifest's path")
	cmd.Flags().IntVar(&workers, "workers", 0, "goroutines (never changes the result)")
	cmd.Flags().StringVar(&keep, "out", "", "keep the re-run's outputs in this directory (default: a temporary directory)")
	return cmd
}

// locate returns p if it exists, else p relative to dir if that exists,
// else p unchanged (the trainer then reports the missing file).
func locate(p, dir string) string {
	if _, err := os.Stat(p); err == nil || filepath.IsAbs(p) {
		return p
	}
	if q := filepath.Join(dir, p); fileExists(q) {
		return q
	}
	return p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
