package train

import (
	"bytes"
	"fmt"
	"os"

	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/tokenizer"
)

// ParentRun names the training run that produced a fine-tune's base: its
// manifest and, optionally, where its data inputs are now (replacing the
// manifest's paths, in order; their sha256 is still checked).
type ParentRun struct {
	Manifest string
	Data     []string
}

// ParentEval compares a fine-tune with its parent on the parent's held-out
// set, by the parent's own eval_loss definition (HeldOutLoss): the inputs
// of the quality gate, which admits a version only if EvalLoss here is no
// worse than BaseEvalLoss. BaseEvalLoss is re-computed and must equal
// the eval_loss the parent's manifest declares.
type ParentEval struct {
	ManifestSHA256     string  `json:"manifest_sha256"`
	EvalTokens         int     `json:"eval_tokens"`
	BaseEvalLoss       float64 `json:"base_eval_loss"`
	BaseEvalPerplexity float64 `json:"base_eval_perplexity"`
	EvalLoss           float64 `json:"eval_loss"`
	EvalPerplexity     float64 `json:"eval_perplexity"`
}

// HeldOutLoss evaluates a model (p with adapter a, which may be nil) on the
// held-out set of the run man describes, exactly as that run computed its
// eval_loss: for text, the mean next-token loss over up to eval_windows
// windows of seq_len predictions of the tokenized held-out tail; for SFT
// and DPO, the mean token loss of the held-out records' responses (SFT) or
// chosen continuations (DPO). data, if non-empty, replaces the input paths.
// tok must be the run's tokenizer. It returns the loss and the number of
// tokens scored.
func HeldOutLoss(man *Manifest, data []string, tok *tokenizer.Tokenizer, p *model.Params, a *model.Adapter, workers int) (float64, int, error) {
	if tok.Digest() != man.Tokenizer.SHA256 {
		return 0, 0, fmt.Errorf("train: the model's tokenizer %s is not the run's %s; its held-out set cannot be compared", tok.Digest(), man.Tokenizer.SHA256)
	}
	inputs := append([]Input(nil), man.Inputs...)
	if len(data) > 0 {
		if len(data) != len(inputs) {
			return 0, 0, fmt.Errorf("train: %d data files for a run with %d inputs", len(data), len(inputs))
		}
		for i := range inputs {
			inputs[i].Path = data[i]
		}
	}
	inputs, files, err := readInputFiles(inputs)
	if err != nil {
		return 0, 0, fmt.Errorf("%w (the parent's data: give its files in order)", err)
	}
	h := man.Hyper
	if err := h.Validate(); err != nil {
		return 0, 0, err
	}
	workers = max(workers, 1)
	switch man.Kind {
	case KindText:
		_, evalBytes := splitHeldOut(bytes.Join(files, nil), h.EvalFraction)
		return Evaluate(p, a, tok.Encode(evalBytes), h.SeqLen, h.EvalWindows, workers)
	case KindSFT, KindDPO:
		recs, _, err := decodeInputs(inputs, files, man.Kind)
		if err != nil {
			return 0, 0, err
		}
		exs, err := tokenizeRecords(tok, recs, man.Kind, h.SeqLen)
		if err != nil {
			return 0, 0, err
		}
		_, ev, err := splitRecords(exs, h.EvalFraction, h.EvalWindows)
		if err != nil {
			return 0, 0, err
		}
		return recordEvalLoss(p, a, man.Kind, ev, h.SeqLen, workers)
	default:
		return 0, 0, fmt.Errorf("train: manifest of unknown kind %q", man.Kind)
	}
}

// loadParent reads the parent manifest, checks that its checkpoint is the
// base, and evaluates the base on its held-out set (before training changes
// the weights).
func (r *run) loadParent() error {
	pr := r.spec.Parent
	if pr == nil {
		return nil
	}
	raw, err := os.ReadFile(pr.Manifest)
	if err != nil {
		return fmt.Errorf("train: parent manifest: %w", err)
	}
	man, err := ReadManifest(pr.Manifest)
	if err != nil {
		return err
	}
	if man.Checkpoint.SHA256 != r.baseSHA {
		return fmt.Errorf("train: parent manifest %s describes checkpoint %s, not the base %s", pr.Manifest, man.Checkpoint.SHA256, r.baseSHA)
	}
	loss, n, err := HeldOutLoss(man, pr.Data, r.tok, r.params, nil, r.nWorkers())
	if err != nil {
		return err
	}
	if loss != man.EvalLoss {
		return fmt.Errorf("train: parent manifest %s declares eval_loss %v; its held-out set gives %v (different data or engine)", pr.Manifest, man.EvalLoss, loss)
	}
	r.parentMan = man
	r.parent = &ParentEval{ManifestSHA256: checkpoint.Digest(raw), EvalTokens: n, BaseEvalLoss: loss, BaseEvalPerplexity: model.Exp(loss)}
	return nil
}

// parentEval evaluates the trained model on the parent's held-out set.
func (r *run) parentEval() (*ParentEval, error) {
	if r.parent == nil {
		return nil, nil
	}
	loss, _, err := HeldOutLoss(r.parentMan, r.spec.Parent.Data, r.tok, r.params, r.adapter, r.nWorkers())
	if err != nil {
		return nil, err
	}
	pe := *r.parent
	pe.EvalLoss, pe.EvalPerplexity = loss, model.Exp(loss)
	return &pe, nil
}
