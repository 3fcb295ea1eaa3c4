package cli

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/openledger/openledger/ml/generate"
)

func newGenerateCommand() *cobra.Command {
	var (
		mf                 modelFlags
		prompt, promptFile string
		params             generate.Params
		asJSON, echo       bool
	)
	cmd := &cobra.Command{
		Use:     "generate --model PATH --prompt TEXT",
		Short:   "Generate a completion (greedy by default; seeded sampling with --temperature)",
		Example: `  openledgerd model generate --model /tmp/m --prompt "A man" --max-tokens 80 --temperature 0.8 --top-k 40 --seed 7`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (prompt == "") == (promptFile == "") {
				return fmt.Errorf("give exactly one of --prompt or --prompt-file")
			}
			if promptFile != "" {
				b, err := os.ReadFile(promptFile)
				if err != nil {
					return err
				}
				prompt = string(b)
			}
			if err := params.Validate(); err != nil {
				return err
			}
			m, a, err := mf.load()
			if err != nil {
				return err
			}
			res, err := generate.Text(cmd.Context(), m.Params, a, m.Tok, prompt, params, generate.Options{})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetEscapeHTML(false)
				return enc.Encode(res)
			}
			if echo {
				fmt.Fprint(w, prompt)
			}
			fmt.Fprintln(w, res.Text)
			fmt.Fprintf(cmd.ErrOrStderr(), "[prompt %d tokens, completion %d tokens, finish %s]\n", res.PromptTokens, res.CompletionTokens, res.FinishReason)
			return nil
		},
	}
	fl := cmd.Flags()
	mf.register(cmd)
	fl.StringVar(&prompt, "prompt", "", "prompt text")
	fl.StringVar(&promptFile, "prompt-file", "", "read the prompt from a file")
	fl.IntVar(&params.MaxTokens, "max-tokens", 64, "maximum tokens to generate")
	fl.Float64Var(&params.Temperature, "temperature", 0, "sampling temperature (0: greedy)")
	fl.IntVar(&params.TopK, "top-k", 0, "keep only the K most likely tokens (0: off)")
	fl.Float64Var(&params.TopP, "top-p", 1, "nucleus sampling mass (1: off)")
	fl.Uint64Var(&params.Seed, "seed", 0, "sampling seed (SplitMix64)")
	fl.StringArrayVar(&params.Stop, "stop", nil, "stop sequence (repeatable)")
	fl.BoolVar(&asJSON, "json", false, "print the result as JSON (text, tokens, counts, finish reason)")
	fl.BoolVar(&echo, "echo", false, "print the prompt before the completion")
	return cmd
}
