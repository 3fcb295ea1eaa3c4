package train

import (
	"fmt"
	"math"

	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/rng"
)

// Fine-tuning from feedback: supervised fine-tuning (SFT) on prompt/response
// records with the loss on response tokens only, and direct preference
// optimisation (DPO) on prompt/chosen/rejected records against the frozen
// base as the reference model:
//
//	L = -log σ(β [(log πθ(c|p) - log πref(c|p)) - (log πθ(r|p) - log πref(r|p))])
//
// Each step draws BatchSize records with SplitMix64 derived from
// (seed, step, example), like text training, and sums the per-example
// gradients in example order.

// DefaultBeta is the default DPO temperature.
const DefaultBeta = 0.1

// PreferenceEval is a model's preference metrics on held-out pairs. The
// implicit reward margin of a pair is
// β [(log πθ(c|p) - log πref(c|p)) - (log πθ(r|p) - log πref(r|p))]; the
// log-probability margin is log πθ(c|p) - log πθ(r|p) (nats, summed over the
// continuation's tokens).
type PreferenceEval struct {
	Pairs          int     `json:"pairs"`
	DPOLoss        float64 `json:"dpo_loss"`        // mean -log σ(reward margin)
	RewardAccuracy float64 `json:"reward_accuracy"` // fraction of pairs with reward margin > 0
	RewardMargin   float64 `json:"reward_margin"`   // mean reward margin
	Accuracy       float64 `json:"accuracy"`        // fraction of pairs with log-probability margin > 0
	Margin         float64 `json:"margin"`          // mean log-probability margin (nats)
}

// PreferenceReport is the DPO section of a manifest: the held-out metrics
// of the base (where πθ = πref, so the reward margins are 0 and the DPO
// loss is ln 2) and of the trained model.
type PreferenceReport struct {
	Beta   float64        `json:"beta"`
	Before PreferenceEval `json:"before"`
	After  PreferenceEval `json:"after"`
}

// logSigmoid is log σ(z), computed stably with the engine's Exp and Log.
func logSigmoid(z float64) float64 {
	if z >= 0 {
		return -model.Log(1 + model.Exp(-z))
	}
	return z - model.Log(1+model.Exp(z))
}

// sigmoid is σ(z) with the engine's Exp.
func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + model.Exp(-z))
	}
	e := model.Exp(z)
	return e / (1 + e)
}

// dpoLoss returns the DPO loss of one pair from the policy's summed token
// losses (negative log-probabilities) lc, lr and the reference's
// log-probabilities refC, refR, with the reward margin z and dL/dz.
func dpoLoss(beta, lc, lr, refC, refR float64) (loss, z, dz float64) {
	z = beta * ((-lc - refC) - (-lr - refR))
	return -logSigmoid(z), z, -sigmoid(-z)
}

// prepareRecords decodes and tokenizes the record inputs, splits off the
// held-out records and, for DPO, scores every pair under the reference.
func (r *run) prepareRecords(files [][]byte) error {
	h := r.spec.Hyper
	recs, skipped, err := decodeInputs(r.inputs, files, r.spec.Kind)
	if err != nil {
		return err
	}
	exs, err := tokenizeRecords(r.tok, recs, r.spec.Kind, h.SeqLen)
	if err != nil {
		return err
	}
	r.skipped = skipped
	for _, e := range exs {
		if e.truncated {
			r.truncated++
		}
	}
	if r.trainRecs, r.evalRecs, err = splitRecords(exs, h.EvalFraction, h.EvalWindows); err != nil {
		return err
	}
	if r.spec.Kind != KindDPO {
		return nil
	}
	// The reference is the base as loaded: πθ before any step.
	for _, set := range [][]recExample{r.trainRecs, r.evalRecs} {
		if err := r.scoreReference(set); err != nil {
			return err
		}
	}
	r.prefBefore, err = r.preferenceEval(nil)
	return err
}

// scoreReference fills refC and refR with the base model's log-probabilities.
func (r *run) scoreReference(set []recExample) error {
	ls, err := scoreSeqs(r.params, nil, pairSeqs(set), r.spec.Hyper.SeqLen, r.nWorkers())
	if err != nil {
		return err
	}
	for i := range set {
		set[i].refC, set[i].refR = -ls[2*i], -ls[2*i+1]
	}
	return nil
}

// pairSeqs lists the pairs' sequences in order: chosen then rejected.
func pairSeqs(set []recExample) []seqExample {
	seqs := make([]seqExample, 0, 2*len(set))
	for _, e := range set {
		seqs = append(seqs, e.chosen, e.rejected)
	}
	return seqs
}

func (r *run) nWorkers() int { return len(r.workers) }

// record is the training record drawn for example b of step s.
func (r *run) record(s, b int) recExample {
	return r.trainRecs[rng.Derive(r.spec.Seed, 1, uint64(s), uint64(b)).Intn(len(r.trainRecs))]
}

// recordGrad computes example b of step s of an SFT or DPO batch into the
// worker's gradient buffer and returns its loss contribution and rows.
func (r *run) recordGrad(w *worker, s, b int, coef float32) (float64, int, error) {
	h := r.spec.Hyper
	ex := r.record(s, b)
	if r.spec.Kind == KindSFT {
		ws, in, tg, ls := w.scA.padded(ex.resp, h.SeqLen)
		loss, _, err := model.TokenLosses(r.params, r.adapter, ws, in, tg, ls)
		if err != nil {
			return 0, 0, err
		}
		return loss, len(ex.resp.inputs), model.Backward(r.params, r.adapter, ws, in, tg, coef, w.g, w.ga)
	}
	wsC, inC, tgC, lsC := w.scA.padded(ex.chosen, h.SeqLen)
	lc, _, err := model.TokenLosses(r.params, r.adapter, wsC, inC, tgC, lsC)
	if err != nil {
		return 0, 0, err
	}
	wsR, inR, tgR, lsR := w.scB.padded(ex.rejected, h.SeqLen)
	lr, _, err := model.TokenLosses(r.params, r.adapter, wsR, inR, tgR, lsR)
	if err != nil {
		return 0, 0, err
	}
	loss, _, dz := dpoLoss(r.spec.Beta, lc, lr, ex.refC, ex.refR)
	// dL/dθ = dz·β·(∇log πθ(c) - ∇log πθ(r)) = -dz·β·∇lc + dz·β·∇lr, where lc,
	// lr are the summed token losses that Backward differentiates.
	k := float32(-dz * r.spec.Beta * float64(coef))
	if err := model.Backward(r.params, r.adapter, wsC, inC, tgC, k, w.g, w.ga); err != nil {
		return 0, 0, err
	}
	rows := len(ex.chosen.inputs) + len(ex.rejected.inputs)
	return loss, rows, model.Backward(r.params, r.adapter, wsR, inR, tgR, -k, w.g, w.ga)
}

// recordBatchGrad is batchGrad for SFT and DPO: the SFT loss is the mean
// over the batch's response tokens, the DPO loss the mean over its pairs.
func (r *run) recordBatchGrad(s int) (float64, int64, error) {
	h := r.spec.Hyper
	denom := float64(h.BatchSize)
	if r.spec.Kind == KindSFT {
		tokens := 0
		for b := 0; b < h.BatchSize; b++ {
			tokens += r.record(s, b).resp.scored
		}
		denom = float64(tokens)
	}
	coef := float32(1 / denom)
	total, rows, err := r.accumulate(func(w *worker, b int) (float64, int, error) { return r.recordGrad(w, s, b, coef) })
	return total / denom, rows, err
}

// heldOutSeqs returns the sequences whose token loss is a record run's
// eval_loss: the responses (SFT) or the chosen continuations (DPO).
func heldOutSeqs(kind string, set []recExample) []seqExample {
	out := make([]seqExample, len(set))
	for i, e := range set {
		if kind == KindSFT {
			out[i] = e.resp
		} else {
			out[i] = e.chosen
		}
	}
	return out
}

// recordEvalLoss is the mean token loss of the held-out continuations.
func recordEvalLoss(p *model.Params, a *model.Adapter, kind string, set []recExample, seqLen, workers int) (float64, int, error) {
	seqs := heldOutSeqs(kind, set)
	ls, err := scoreSeqs(p, a, seqs, seqLen, workers)
	if err != nil {
		return 0, 0, err
	}
	var sum float64
	n := 0
	for i, l := range ls {
		sum += l
		n += seqs[i].scored
	}
	if n == 0 {
		return 0, 0, fmt.Errorf("train: no held-out tokens to evaluate")
	}
	return sum / float64(n), n, nil
}

// preferenceEval scores the held-out pairs with the trained parameters and
// adapter a (nil: the base, before training).
func (r *run) preferenceEval(a *model.Adapter) (PreferenceEval, error) {
	set := r.evalRecs
	ls, err := scoreSeqs(r.params, a, pairSeqs(set), r.spec.Hyper.SeqLen, r.nWorkers())
	if err != nil {
		return PreferenceEval{}, err
	}
	ev := PreferenceEval{Pairs: len(set)}
	var rewardWins, wins int
	for i, e := range set {
		loss, z, _ := dpoLoss(r.spec.Beta, ls[2*i], ls[2*i+1], e.refC, e.refR)
		m := ls[2*i+1] - ls[2*i]
		ev.DPOLoss += loss
		ev.RewardMargin += z
		ev.Margin += m
		if z > 0 {
			rewardWins++
		}
		if m > 0 {
			wins++
		}
	}
	n := float64(len(set))
	ev.DPOLoss, ev.RewardMargin, ev.Margin = ev.DPOLoss/n, ev.RewardMargin/n, ev.Margin/n
	ev.RewardAccuracy, ev.Accuracy = float64(rewardWins)/n, float64(wins)/n
	return ev, nil
}

// validKind checks the kind-specific parts of a spec.
func (s *Spec) validKind() error {
	if s.Parent != nil && (s.Base == nil || s.Parent.Manifest == "") {
		return fmt.Errorf("train: a parent evaluation needs the base checkpoint and the parent's manifest")
	}
	switch s.Kind {
	case KindText:
		if s.Beta != 0 {
			return fmt.Errorf("train: beta is for kind %q only", KindDPO)
		}
	case KindSFT, KindDPO:
		if s.Base == nil {
			return fmt.Errorf("train: kind %q fine-tunes a base model; name one", s.Kind)
		}
		if s.Kind == KindDPO && (!(s.Beta > 0) || s.Beta > 1000 || math.IsInf(s.Beta, 0)) {
			return fmt.Errorf("train: DPO beta %v must be in (0, 1000]", s.Beta)
		}
		if s.Kind == KindSFT && s.Beta != 0 {
			return fmt.Errorf("train: beta is for kind %q only", KindDPO)
		}
	default:
		return fmt.Errorf("train: unknown kind %q (want %q, %q or empty for text)", s.Kind, KindSFT, KindDPO)
	}
	return nil
}
