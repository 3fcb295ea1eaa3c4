package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/safetensors"
	"github.com/openledger/openledger/ml/tokenizer"
	"github.com/openledger/openledger/ml/train"
)

func readAll(paths []string) ([]byte, error) {
	var all []byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		all = append(all, b...)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("the --data files are empty")
	}
	return all, nil
}

func newEvalCommand() *cobra.Command {
	var (
		mf           modelFlags
		data         []string
		seq, windows int
		asJSON       bool
		heldOutOf    string
	)
	cmd := &cobra.Command{
		Use:   "eval --model PATH (--data PATH... | --held-out-of MANIFEST)",
		Short: "Report next-token loss and perplexity of a model on text files, or on a training run's held-out set",
		Example: `  openledgerd model eval --model run --data notes.txt
  openledgerd model eval --model dpo-run --held-out-of base-run/manifest.json   # the quality gate's comparison`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if heldOutOf != "" {
				return evalHeldOut(cmd, &mf, heldOutOf, data, asJSON)
			}
			if len(data) == 0 {
				return fmt.Errorf("--data is required (or --held-out-of MANIFEST)")
			}
			if seq < 0 || windows < 1 {
				return fmt.Errorf("--seq must be >= 0 and --windows >= 1")
			}
			m, a, err := mf.load()
			if err != nil {
				return err
			}
			b, err := readAll(data)
			if err != nil {
				return err
			}
			toks := m.Tok.Encode(b)
			loss, n, err := train.Evaluate(m.Params, a, toks, seq, windows, runtime.NumCPU())
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]any{
					"tokens": n, "loss": loss, "perplexity": train.Perplexity(loss)})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "tokens %d  loss %.4f nats/token  perplexity %.3f  ≈%.4f bits/byte (at the text's mean bytes per token)\n",
				n, loss, train.Perplexity(loss), loss*float64(len(toks))/float64(len(b))/0.6931471805599453)
			return nil
		},
	}
	fl := cmd.Flags()
	mf.register(cmd)
	fl.StringSliceVar(&data, "data", nil, "text files to evaluate on; with --held-out-of: the run's data files in order, if not at the paths its manifest records")
	fl.StringVar(&heldOutOf, "held-out-of", "", "evaluate on the held-out set of the training run this manifest describes, by its eval_loss definition (ml/README.md)")
	fl.IntVar(&seq, "seq", 0, "window length (0: the model context)")
	fl.IntVar(&windows, "windows", 64, "maximum number of windows")
	fl.BoolVar(&asJSON, "json", false, "print tokens, loss and perplexity as JSON")
	return cmd
}

func newTokenizerTrainCommand() *cobra.Command {
	var (
		data  []string
		vocab int
		out   string
	)
	cmd := &cobra.Command{
		Use:   "train --data PATH... --vocab N --out FILE",
		Short: "Train a byte-level BPE tokenizer (deterministic merge order) and write it as JSON",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(data) == 0 || out == "" {
				return fmt.Errorf("--data and --out are required")
			}
			b, err := readAll(data)
			if err != nil {
				return err
			}
			tok, err := tokenizer.Train(cmd.Context(), b, vocab)
			if err != nil {
				return err
			}
			js, _ := tok.MarshalJSON()
			if err := checkpoint.WriteFileAtomic(out, js); err != nil {
				return err
			}
			n := len(tok.Encode(b))
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: vocab %d, sha256 %s, %d bytes -> %d tokens (%.2f bytes/token)\n",
				out, tok.VocabSize(), tok.Digest(), len(b), n, float64(len(b))/float64(n))
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&data, "data", nil, "text files")
	cmd.Flags().IntVar(&vocab, "vocab", 512, "vocabulary size (>= 256)")
	cmd.Flags().StringVar(&out, "out", "", "output JSON file")
	return cmd
}

func newInspectCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inspect PATH",
		Short: "Describe a checkpoint, adapter, trainer state, GPT-2 weights file or training manifest",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return inspect(cmd, args[0])
		},
	}
	return cmd
}

func inspect(cmd *cobra.Command, path string) error {
	w := cmd.OutOrStdout()
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path += "/" + train.ModelFile
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if strings.HasPrefix(strings.TrimSpace(string(b)), "{") {
		var m train.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("%s: not a manifest: %w", path, err)
		}
		fmt.Fprintf(w, "training manifest (sha256 %s)\n", checkpoint.Digest(b))
		out, _ := json.MarshalIndent(m, "", "  ")
		fmt.Fprintln(w, string(out))
		return nil
	}
	f, err := safetensors.Parse(b)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprintf(w, "file      %s\nsha256    %s\nbytes     %d\n", path, checkpoint.Digest(b), len(b))
	format := f.Metadata[checkpoint.KeyFormat]
	fmt.Fprintf(w, "format    %s\n", format)
	keys := make([]string, 0, len(f.Metadata))
	for k := range f.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := f.Metadata[k]
		if len(v) > 200 {
			v = v[:200] + fmt.Sprintf("... (%d bytes)", len(v))
		}
		fmt.Fprintf(w, "meta      %s = %s\n", k, v)
	}
	switch format {
	case checkpoint.FormatModel:
		m, err := checkpoint.ParseModel(b)
		if err != nil {
			return err
		}
		c := m.Params.Cfg
		fmt.Fprintf(w, "model     %d parameters: vocab %d, context %d, d_model %d, layers %d, heads %d, d_ff %d\n",
			c.NumParams(), c.VocabSize, c.ContextLen, c.DModel, c.NLayers, c.NHeads, c.DFF)
		fmt.Fprintf(w, "tokenizer %s, vocab %d, sha256 %s\n", m.Tok.Kind(), m.Tok.VocabSize(), m.Tok.Digest())
	case checkpoint.FormatAdapter:
		var ac model.AdapterConfig
		_ = json.Unmarshal([]byte(f.Metadata[checkpoint.KeyAdapter]), &ac)
		n := 0
		for _, t := range f.Tensors {
			n += len(t.Data)
		}
		fmt.Fprintf(w, "adapter   LoRA rank %d, alpha %v, targets %v, %d parameters\n", ac.Rank, ac.Alpha, ac.Targets, n)
	}
	names := f.Names()
	fmt.Fprintf(w, "tensors   %d\n", len(names))
	for _, n := range names {
		t := f.Tensors[n]
		fmt.Fprintf(w, "  %-28s %-5s %v\n", n, t.DType, t.Shape)
	}
	return nil
}
