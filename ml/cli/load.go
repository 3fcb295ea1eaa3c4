package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/tokenizer"
)

// modelFlags are the flags that choose a model and an optional adapter.
type modelFlags struct {
	path, adapter, tokenizer string
	heads                    int
}

func (f *modelFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.path, "model", "", "model checkpoint (file or training output directory), or GPT-2-layout safetensors weights")
	fl.StringVar(&f.adapter, "adapter", "", "LoRA adapter file to apply")
	fl.StringVar(&f.tokenizer, "tokenizer", "", "tokenizer for GPT-2-layout weights: an engine tokenizer JSON file, or a directory with GPT-2's vocab.json and merges.txt (default: byte tokenizer when the vocabulary is 256)")
	fl.IntVar(&f.heads, "heads", 0, "attention heads of GPT-2-layout weights (default: d_model/64)")
}

func (f *modelFlags) load() (*checkpoint.Model, *model.Adapter, error) {
	if f.path == "" {
		return nil, nil, fmt.Errorf("--model is required (a checkpoint file or training output directory)")
	}
	if f.heads < 0 {
		return nil, nil, fmt.Errorf("--heads must not be negative")
	}
	var tok *tokenizer.Tokenizer
	if f.tokenizer != "" {
		var err error
		if tok, err = loadTokenizer(f.tokenizer); err != nil {
			return nil, nil, err
		}
	}
	m, err := checkpoint.LoadAny(f.path, tok, f.heads)
	if err != nil {
		return nil, nil, err
	}
	if f.adapter == "" {
		return m, nil, nil
	}
	af, err := loadAdapterChecked(f.adapter, m)
	if err != nil {
		return nil, nil, err
	}
	return m, af.Adapter, nil
}

// loadTokenizer reads an engine tokenizer JSON file, or a directory holding
// GPT-2's vocab.json and merges.txt.
func loadTokenizer(path string) (*tokenizer.Tokenizer, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		vocab, err := os.ReadFile(filepath.Join(path, "vocab.json"))
		if err != nil {
			return nil, err
		}
		merges, err := os.ReadFile(filepath.Join(path, "merges.txt"))
		if err != nil {
			return nil, err
		}
		return tokenizer.LoadGPT2Files(vocab, merges)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return tokenizer.Parse(b)
}

// loadAdapterChecked loads an adapter and checks it was trained on m.
func loadAdapterChecked(path string, m *checkpoint.Model) (*checkpoint.AdapterFile, error) {
	af, err := checkpoint.LoadAdapter(path, m.Params.Cfg)
	if err != nil {
		return nil, err
	}
	if af.BaseSHA256 != "" && af.BaseSHA256 != m.SHA256 {
		return nil, fmt.Errorf("adapter %s was trained on base %s, but the model is %s", path, af.BaseSHA256, m.SHA256)
	}
	return af, nil
}

func newMergeCommand() *cobra.Command {
	var (
		mf  modelFlags
		out string
	)
	cmd := &cobra.Command{
		Use:   "merge --model PATH --adapter FILE --out FILE",
		Short: "Fold a LoRA adapter into its base and write a standalone checkpoint",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if mf.adapter == "" || out == "" {
				return fmt.Errorf("--adapter and --out are required")
			}
			m, a, err := mf.load()
			if err != nil {
				return err
			}
			merged, err := model.Merge(m.Params, a)
			if err != nil {
				return err
			}
			sum, err := checkpoint.SaveModel(out, merged, m.Tok)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (sha256 %s)\n", out, sum)
			return nil
		},
	}
	mf.register(cmd)
	cmd.Flags().StringVar(&out, "out", "", "output checkpoint file")
	return cmd
}
