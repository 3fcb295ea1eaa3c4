// Package cli holds the `model` command tree of openledgerd: train,
// generate, eval, tokenizer train, inspect and verify-training. Commands
// validate their arguments and delegate all work to the ml packages.
package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// NewModelCommand returns the `model` command tree.
func NewModelCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Train, fine-tune, run and verify models with the built-in deterministic engine",
		Long: `The built-in engine is a pure-Go, CPU-only, deterministic transformer: the same
data, config and seed give the same checkpoint bytes on every machine of the
same architecture, so anyone can re-run a training or an inference and
compare digests.`,
		SilenceUsage: true,
	}
	tok := &cobra.Command{Use: "tokenizer", Short: "Tokenizer commands"}
	tok.AddCommand(newTokenizerTrainCommand())
	cmd.AddCommand(newTrainCommand(), newGenerateCommand(), newEvalCommand(), tok, newInspectCommand(), newVerifyCommand(), newMergeCommand())
	return cmd
}

// stderrIsTerminal reports whether progress bars should be drawn.
func stderrIsTerminal(cmd *cobra.Command) bool {
	f, ok := cmd.ErrOrStderr().(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%s takes no positional arguments (got %q); use flags", cmd.CommandPath(), args)
	}
	return nil
}
