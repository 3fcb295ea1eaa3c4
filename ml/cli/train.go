package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/openledger/openledger/ml/losscurve"
	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/train"
)

// loraLR is the default peak learning rate of LoRA runs.
const loraLR = 1e-2

// LossCurveFile is written beside the checkpoint.
const LossCurveFile = "loss.png"

type trainFlags struct {
	data, cids              []string
	out, base, preset, conf string
	tokKind                 string
	vocab                   int
	loraRank                int
	loraAlpha               float32
	loraTargets             []string
	seed                    uint64
	h                       train.Hyper
	workers, saveEvery      int
	resume, asJSON          bool
	kind                    string
	beta                    float64
	parentManifest          string
	parentData              []string
	noParentEval            bool
}

func newTrainCommand() *cobra.Command {
	var f trainFlags
	f.h = train.DefaultHyper()
	cmd := &cobra.Command{
		Use:   "train --data PATH... --out DIR",
		Short: "Train a model (or fine-tune a base, or train a LoRA adapter) from text files or feedback records",
		Long: `Train next-token prediction on text files (--kind text, the default), or fine-tune
a base on JSON-lines records (docs/feedback-records.md): --kind sft on
{"prompt","response"} or {"messages":[...]} records, with the loss on the
response tokens only, or --kind dpo on {"prompt","chosen","rejected"} records,
direct preference optimisation against the frozen base. Both take --lora-rank
to train an adapter instead of the full weights. A dataset version's files come
from 'openledgerd query models fetch-dataset D/V --out DIR', which prints the
--data/--cid arguments. When --base is a training output directory, an SFT or
DPO run also evaluates itself and the base on the base's held-out set
(manifest parent_eval) for the deployment quality gate.`,
		Example: `  openledgerd model train --data ml/testdata/corpus/fortunes.txt --out /tmp/m --preset 1m --steps 300
  openledgerd model train --data notes.txt --base /tmp/m --lora-rank 8 --out /tmp/adapter
  openledgerd model train --kind sft --base /tmp/m $(openledgerd query models fetch-dataset 4/1 --out fb) --out /tmp/sft
  openledgerd model train --kind dpo --beta 0.1 --base /tmp/m --data prefs.jsonl --lora-rank 8 --out /tmp/dpo`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, err := f.spec(cmd)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runTraining(ctx, cmd, spec, train.Options{OutDir: f.out, Workers: f.workers, SaveEvery: f.saveEvery, Resume: f.resume}, f.asJSON)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.data, "data", nil, "training text files, in order (repeat or comma-separate)")
	fl.StringSliceVar(&f.cids, "cid", nil, "optional CID of each --data file, in the same order (recorded in the manifest)")
	fl.StringVar(&f.out, "out", "", "output directory (checkpoint, manifest.json, loss.png, trainer state)")
	fl.StringVar(&f.base, "base", "", "base checkpoint to fine-tune (file or directory)")
	fl.IntVar(&f.loraRank, "lora-rank", 0, "train only a rank-R LoRA adapter on the frozen --base")
	fl.Float32Var(&f.loraAlpha, "lora-alpha", 0, "LoRA alpha (default 2*rank)")
	fl.StringSliceVar(&f.loraTargets, "lora-targets", model.DefaultTargets, "LoRA targets: qkv, o, fc, proj")
	fl.StringVar(&f.preset, "preset", "1m", "model size for a new model: tiny, 1m or 10m")
	fl.StringVar(&f.conf, "config", "", "model config JSON for a new model (overrides --preset; vocab_size comes from the tokenizer)")
	fl.StringVar(&f.tokKind, "tokenizer", "bpe", "tokenizer for a new model: byte, bpe (trained on the training split) or a tokenizer JSON file from 'model tokenizer train'")
	fl.IntVar(&f.vocab, "vocab", 512, "BPE vocabulary size")
	fl.Uint64Var(&f.seed, "seed", 1, "random seed")
	fl.IntVar(&f.h.Steps, "steps", f.h.Steps, "optimizer steps")
	fl.IntVar(&f.h.BatchSize, "batch", f.h.BatchSize, "sequences per step")
	fl.IntVar(&f.h.SeqLen, "seq", f.h.SeqLen, "tokens per sequence (<= context length)")
	fl.Float64Var(&f.h.LR, "lr", f.h.LR, "peak learning rate (LoRA runs default to 0.01)")
	fl.Float64Var(&f.h.MinLR, "min-lr", f.h.MinLR, "final learning rate of the cosine schedule (LoRA runs default to lr/10)")
	fl.IntVar(&f.h.WarmupSteps, "warmup", f.h.WarmupSteps, "linear warm-up steps")
	fl.Float64Var(&f.h.WeightDecay, "weight-decay", f.h.WeightDecay, "AdamW decoupled weight decay (matrices only)")
	fl.Float64Var(&f.h.GradClip, "grad-clip", f.h.GradClip, "global gradient-norm clip")
	fl.Float64Var(&f.h.EvalFraction, "eval-fraction", f.h.EvalFraction, "fraction of the data (its tail) held out for evaluation")
	fl.IntVar(&f.h.EvalWindows, "eval-windows", f.h.EvalWindows, "held-out windows (text) or records (sft, dpo) evaluated")
	fl.IntVar(&f.workers, "workers", 0, "goroutines (default: all cores; never changes the result)")
	fl.IntVar(&f.saveEvery, "save-every", 50, "write a resumable trainer state every N steps (0: only at the end)")
	fl.BoolVar(&f.resume, "resume", false, "resume from the trainer state in --out")
	fl.BoolVar(&f.asJSON, "json", false, "print the result as JSON (paths, digests, losses)")
	fl.StringVar(&f.kind, "kind", "text", "what to train on: text (next-token), sft (prompt/response records) or dpo (prompt/chosen/rejected records)")
	fl.Float64Var(&f.beta, "beta", train.DefaultBeta, "DPO temperature β (--kind dpo)")
	fl.StringVar(&f.parentManifest, "parent-manifest", "", "manifest of the base's training run, to evaluate on its held-out set (default with --kind sft/dpo: the manifest.json beside --base)")
	fl.StringSliceVar(&f.parentData, "parent-data", nil, "the parent run's data files, in order, if not at the paths its manifest records")
	fl.BoolVar(&f.noParentEval, "no-parent-eval", false, "skip the evaluation on the parent's held-out set")
	return cmd
}

// fineTune sets the kind, β and parent evaluation of spec.
func (f *trainFlags) fineTune(cmd *cobra.Command, spec *train.Spec) error {
	switch f.kind {
	case "text":
	case train.KindSFT, train.KindDPO:
		spec.Kind = f.kind
		if f.base == "" {
			return fmt.Errorf("--kind %s needs --base (the model to fine-tune)", f.kind)
		}
	default:
		return fmt.Errorf("--kind %q: want text, sft or dpo", f.kind)
	}
	if spec.Kind == train.KindDPO {
		spec.Beta = f.beta
	} else if cmd.Flags().Changed("beta") {
		return fmt.Errorf("--beta is for --kind dpo")
	}
	pm := f.parentManifest
	if f.noParentEval {
		if pm != "" || len(f.parentData) > 0 {
			return fmt.Errorf("--no-parent-eval contradicts --parent-manifest/--parent-data")
		}
		return nil
	}
	if pm == "" && spec.Kind != train.KindText {
		if st, err := os.Stat(f.base); err == nil && st.IsDir() && fileExists(filepath.Join(f.base, train.ManifestFile)) {
			pm = filepath.Join(f.base, train.ManifestFile)
		}
	}
	if pm == "" {
		if len(f.parentData) > 0 {
			return fmt.Errorf("--parent-data needs a parent manifest (--parent-manifest, or --base DIR holding manifest.json)")
		}
		return nil
	}
	data := f.parentData
	if len(data) == 0 {
		man, err := train.ReadManifest(pm)
		if err != nil {
			return err
		}
		for _, in := range man.Inputs {
			data = append(data, locate(in.Path, filepath.Dir(pm)))
		}
	}
	spec.Parent = &train.ParentRun{Manifest: pm, Data: data}
	return nil
}

func (f *trainFlags) spec(cmd *cobra.Command) (train.Spec, error) {
	if len(f.data) == 0 {
		return train.Spec{}, fmt.Errorf("--data is required (one or more text files)")
	}
	if f.out == "" {
		return train.Spec{}, fmt.Errorf("--out is required")
	}
	if len(f.cids) > 0 && len(f.cids) != len(f.data) {
		return train.Spec{}, fmt.Errorf("--cid given %d times for %d --data files; give one per file or none", len(f.cids), len(f.data))
	}
	spec := train.Spec{Hyper: f.h, Seed: f.seed}
	for i, p := range f.data {
		in := train.Input{Path: p}
		if len(f.cids) > 0 {
			in.CID = f.cids[i]
		}
		spec.Inputs = append(spec.Inputs, in)
	}
	if f.loraRank < 0 {
		return spec, fmt.Errorf("--lora-rank must be positive")
	}
	if f.loraRank > 0 {
		if f.base == "" {
			return spec, fmt.Errorf("--lora-rank needs --base (the frozen model the adapter trains on)")
		}
		alpha := f.loraAlpha
		if alpha == 0 {
			alpha = float32(2 * f.loraRank)
		}
		spec.LoRA = &model.AdapterConfig{Rank: f.loraRank, Alpha: alpha, Targets: f.loraTargets}
		// Adapters start from B = 0 and need a larger step than full training.
		if !cmd.Flags().Changed("lr") {
			spec.Hyper.LR = loraLR
		}
		if !cmd.Flags().Changed("min-lr") {
			spec.Hyper.MinLR = loraLR / 10
		}
	}
	if f.base != "" {
		for _, name := range []string{"preset", "config", "tokenizer", "vocab"} {
			if cmd.Flags().Changed(name) {
				return spec, fmt.Errorf("--%s cannot be combined with --base (the base fixes the model and tokenizer)", name)
			}
		}
		spec.Base = &train.Base{Path: f.base}
		if st, err := os.Stat(f.base); err == nil && st.IsDir() {
			spec.Base.Path = filepath.Join(f.base, train.ModelFile)
		}
		return spec, f.fineTune(cmd, &spec)
	}
	if err := f.fineTune(cmd, &spec); err != nil {
		return spec, err
	}
	switch f.tokKind {
	case "byte":
		spec.Tokenizer = train.TokenizerSpec{Kind: f.tokKind, VocabSize: 256}
	case "bpe":
		spec.Tokenizer = train.TokenizerSpec{Kind: f.tokKind, VocabSize: f.vocab}
	default:
		if _, err := os.Stat(f.tokKind); err != nil {
			return spec, fmt.Errorf("--tokenizer %q is neither byte, bpe nor a readable tokenizer file: %w", f.tokKind, err)
		}
		spec.Tokenizer = train.TokenizerSpec{Kind: train.TokenizerFile, Path: f.tokKind}
	}
	if f.conf != "" {
		b, err := os.ReadFile(f.conf)
		if err != nil {
			return spec, err
		}
		cfg, err := parseConfigIgnoringVocab(b)
		if err != nil {
			return spec, err
		}
		spec.Model = cfg
	} else {
		cfg, err := model.Preset(f.preset, 256)
		if err != nil {
			return spec, err
		}
		spec.Model = cfg
	}
	if f.h.SeqLen > spec.Model.ContextLen {
		return spec, fmt.Errorf("--seq %d exceeds the model context length %d", f.h.SeqLen, spec.Model.ContextLen)
	}
	return spec, nil
}

// parseConfigIgnoringVocab parses a model config whose vocab_size may be
// absent (the tokenizer decides it).
func parseConfigIgnoringVocab(b []byte) (model.Config, error) {
	var c model.Config
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("model config: %w", err)
	}
	c.VocabSize = 256 // placeholder: the tokenizer sets the real size
	nb, _ := json.Marshal(c)
	return model.ParseConfig(nb)
}

// TrainOutput is what `model train --json` prints.
type TrainOutput struct {
	Checkpoint       string                  `json:"checkpoint"`
	CheckpointSHA256 string                  `json:"checkpoint_sha256"`
	Manifest         string                  `json:"manifest"`
	ManifestSHA256   string                  `json:"manifest_sha256"`
	LossCurve        string                  `json:"loss_curve"`
	TokensSeen       int64                   `json:"tokens_seen"`
	FinalLoss        float64                 `json:"final_loss"`
	EvalLoss         float64                 `json:"eval_loss"`
	EvalPerplexity   float64                 `json:"eval_perplexity"`
	Kind             string                  `json:"kind,omitempty"`
	Preference       *train.PreferenceReport `json:"preference,omitempty"`
	ParentEval       *train.ParentEval       `json:"parent_eval,omitempty"`
}

func runTraining(ctx context.Context, cmd *cobra.Command, spec train.Spec, opt train.Options, asJSON bool) error {
	var bar *progressbar.ProgressBar
	if stderrIsTerminal(cmd) {
		bar = progressbar.NewOptions(spec.Hyper.Steps,
			progressbar.OptionSetWriter(cmd.ErrOrStderr()),
			progressbar.OptionSetDescription("training"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		opt.Progress = func(p train.Progress) {
			bar.Describe(fmt.Sprintf("loss %.4f  %.0f tok/s  step", p.Loss, p.TokensPerSec))
			_ = bar.Set(p.Step)
		}
	}
	res, err := train.Run(ctx, spec, opt)
	if bar != nil {
		_ = bar.Finish()
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("training interrupted; state saved, continue with --resume: %w", err)
		}
		return err
	}
	m := res.Manifest
	curve := filepath.Join(opt.OutDir, LossCurveFile)
	if err := losscurve.WritePNG(curve, fmt.Sprintf("training loss (%s)", m.Checkpoint.File), res.Losses, m.EvalLoss); err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return enc.Encode(TrainOutput{
			Checkpoint: filepath.Join(opt.OutDir, m.Checkpoint.File), CheckpointSHA256: m.Checkpoint.SHA256,
			Manifest: filepath.Join(opt.OutDir, train.ManifestFile), ManifestSHA256: res.ManifestSHA256,
			LossCurve: curve, TokensSeen: m.TokensSeen, FinalLoss: m.FinalLoss, EvalLoss: m.EvalLoss, EvalPerplexity: m.EvalPerplexity,
			Kind: m.Kind, Preference: m.Preference, ParentEval: m.ParentEval,
		})
	}
	fmt.Fprintf(w, "checkpoint     %s\n", filepath.Join(opt.OutDir, m.Checkpoint.File))
	fmt.Fprintf(w, "sha256         %s\n", m.Checkpoint.SHA256)
	fmt.Fprintf(w, "manifest       %s (sha256 %s)\n", filepath.Join(opt.OutDir, train.ManifestFile), res.ManifestSHA256)
	fmt.Fprintf(w, "loss curve     %s\n", curve)
	fmt.Fprintf(w, "parameters     %d (model), tokenizer %s vocab %d\n", m.Config.NumParams(), m.Tokenizer.Kind, m.Tokenizer.VocabSize)
	fmt.Fprintf(w, "tokens seen    %d\n", m.TokensSeen)
	fmt.Fprintf(w, "final loss     %.4f\n", m.FinalLoss)
	fmt.Fprintf(w, "held-out loss  %.4f (perplexity %.2f)\n", m.EvalLoss, m.EvalPerplexity)
	if m.Kind != train.KindText {
		fmt.Fprintf(w, "records        %d trained on, %d held out, %d truncated, %d of the other kind skipped\n", m.TrainRecords, m.EvalRecords, m.TruncatedRecords, m.SkippedRecords)
	}
	if p := m.Preference; p != nil {
		for _, e := range []struct {
			name string
			ev   train.PreferenceEval
		}{{"base", p.Before}, {"trained", p.After}} {
			fmt.Fprintf(w, "preference     %-7s dpo loss %.4f, reward accuracy %.3f, reward margin %+.4f, accuracy %.3f, margin %+.4f nats (%d pairs)\n",
				e.name, e.ev.DPOLoss, e.ev.RewardAccuracy, e.ev.RewardMargin, e.ev.Accuracy, e.ev.Margin, e.ev.Pairs)
		}
	}
	if pe := m.ParentEval; pe != nil {
		fmt.Fprintf(w, "parent set     loss %.4f (parent), %.4f (this model) on the parent's held-out set (%d tokens)\n", pe.BaseEvalLoss, pe.EvalLoss, pe.EvalTokens)
	}
	return nil
}
