// Package train trains and fine-tunes models deterministically: same data,
// spec and seed give the same checkpoint bytes, on any number of cores, with
// or without interruption and resume.
//
// Batches are drawn from the token stream by SplitMix64 derived from
// (seed, step, example); each example's gradient is computed by one
// goroutine into its own buffer and the buffers are added in example order,
// so the worker count never changes the result. The optimiser is AdamW with
// global-norm clipping and a linear warm-up + cosine learning-rate schedule.
package train

import (
	"errors"
	"fmt"
	"math"

	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/tokenizer"
)

// Hyper are the optimisation hyper-parameters.
type Hyper struct {
	Steps        int     `json:"steps"`
	BatchSize    int     `json:"batch_size"`
	SeqLen       int     `json:"seq_len"`
	LR           float64 `json:"lr"`
	MinLR        float64 `json:"min_lr"`
	WarmupSteps  int     `json:"warmup_steps"`
	WeightDecay  float64 `json:"weight_decay"`
	Beta1        float64 `json:"beta1"`
	Beta2        float64 `json:"beta2"`
	Eps          float64 `json:"eps"`
	GradClip     float64 `json:"grad_clip"`
	EvalFraction float64 `json:"eval_fraction"`
	EvalWindows  int     `json:"eval_windows"`
}

// DefaultHyper returns sensible defaults for the small presets.
func DefaultHyper() Hyper {
	return Hyper{Steps: 300, BatchSize: 8, SeqLen: 64, LR: 3e-3, MinLR: 3e-4, WarmupSteps: 20,
		WeightDecay: 0.01, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, GradClip: 1.0, EvalFraction: 0.1, EvalWindows: 32}
}

// Validate checks the hyper-parameters.
func (h Hyper) Validate() error {
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	switch {
	case h.Steps < 1 || h.Steps > 10_000_000:
		return fmt.Errorf("train: steps %d out of range [1, 10000000]", h.Steps)
	case h.BatchSize < 1 || h.BatchSize > 4096:
		return fmt.Errorf("train: batch size %d out of range [1, 4096]", h.BatchSize)
	case h.SeqLen < 1:
		return fmt.Errorf("train: sequence length %d must be positive", h.SeqLen)
	case !(h.LR > 0) || !finite(h.LR) || h.MinLR < 0 || h.MinLR > h.LR:
		return fmt.Errorf("train: need 0 <= min_lr (%v) <= lr (%v), lr > 0", h.MinLR, h.LR)
	case h.WarmupSteps < 0:
		return errors.New("train: warm-up steps must not be negative")
	case h.WeightDecay < 0 || !finite(h.WeightDecay):
		return errors.New("train: weight decay must be >= 0")
	case !(h.Beta1 >= 0 && h.Beta1 < 1 && h.Beta2 >= 0 && h.Beta2 < 1):
		return errors.New("train: beta1 and beta2 must be in [0, 1)")
	case !(h.Eps > 0) || !finite(h.Eps):
		return errors.New("train: eps must be positive")
	case !(h.GradClip > 0) || !finite(h.GradClip):
		return errors.New("train: grad_clip must be positive")
	case !(h.EvalFraction > 0 && h.EvalFraction <= 0.5):
		return fmt.Errorf("train: eval fraction %v must be in (0, 0.5]", h.EvalFraction)
	case h.EvalWindows < 1:
		return errors.New("train: eval windows must be positive")
	}
	return nil
}

// TokenizerFile is the TokenizerSpec kind for a tokenizer read from a JSON
// file (as written by `model tokenizer train`).
const TokenizerFile = "file"

// TokenizerSpec chooses the tokenizer of a new model: "byte", "bpe" (trained
// on the training split with VocabSize ids) or "file" (read from Path; its
// canonical digest must equal SHA256 when that is set).
type TokenizerSpec struct {
	Kind      string `json:"kind"`
	VocabSize int    `json:"vocab_size"`
	Path      string `json:"path,omitempty"`
	SHA256    string `json:"sha256,omitempty"`
}

// Base names the checkpoint a run starts from.
type Base struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// Spec is everything that determines a training run's result.
type Spec struct {
	Inputs    []Input
	Tokenizer TokenizerSpec        // new models only
	Model     model.Config         // new models only; VocabSize is set from the tokenizer
	Base      *Base                // fine-tune from this checkpoint
	LoRA      *model.AdapterConfig // with Base: train only this adapter
	Hyper     Hyper
	Seed      uint64
	Kind      string  // KindText (""), KindSFT or KindDPO; SFT and DPO need Base
	Beta      float64 // DPO temperature β
	// Parent, when set, evaluates the trained model and the base on the
	// held-out set of the base's own training run (Manifest.ParentEval). It
	// does not change the trained weights.
	Parent *ParentRun
}

func (s *Spec) validate() error {
	if len(s.Inputs) == 0 {
		return errors.New("train: no data inputs")
	}
	if err := s.Hyper.Validate(); err != nil {
		return err
	}
	if err := s.validKind(); err != nil {
		return err
	}
	if s.LoRA != nil && s.Base == nil {
		return errors.New("train: LoRA training needs a base checkpoint")
	}
	if s.Base == nil {
		switch s.Tokenizer.Kind {
		case tokenizer.KindByte:
			if s.Tokenizer.VocabSize != 256 {
				return errors.New("train: the byte tokenizer has vocabulary 256")
			}
		case tokenizer.KindBPE:
			if s.Tokenizer.VocabSize < 257 || s.Tokenizer.VocabSize > 65536 {
				return fmt.Errorf("train: BPE vocabulary %d out of range [257, 65536]", s.Tokenizer.VocabSize)
			}
		case TokenizerFile:
			if s.Tokenizer.Path == "" {
				return errors.New("train: tokenizer kind \"file\" needs a path")
			}
		default:
			return fmt.Errorf("train: unknown tokenizer kind %q", s.Tokenizer.Kind)
		}
	}
	return nil
}
