package train

import (
	"math"
	"os"
	"testing"

	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/tokenizer"
)

// Training on the committed corpus lowers the held-out loss by at least
// 2.0 nats/token (from ~ln 256 = 5.55 for the untrained byte-level model)
// within 150 steps of 8 x 64 tokens.
func TestTrainingLowersHeldOutLoss(t *testing.T) {
	cfg := model.Config{ContextLen: 64, DModel: 64, NLayers: 2, NHeads: 4, DFF: 256, Positions: model.PositionsLearned, LNEps: 1e-5}
	h := DefaultHyper()
	h.Steps, h.BatchSize, h.SeqLen, h.WarmupSteps, h.LR, h.MinLR = 150, 8, 64, 10, 5e-3, 5e-4
	spec := Spec{Inputs: corpusInputs(), Tokenizer: TokenizerSpec{Kind: "byte", VocabSize: 256}, Model: cfg, Hyper: h, Seed: 7}
	res := mustRun(t, spec, Options{OutDir: t.TempDir()})

	var data []byte
	for _, in := range spec.Inputs {
		b, err := os.ReadFile(in.Path)
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, b...)
	}
	_, heldOut := splitHeldOut(data, h.EvalFraction)
	cfg.VocabSize = 256
	init, err := model.New(cfg, spec.Seed)
	if err != nil {
		t.Fatal(err)
	}
	before, _, err := Evaluate(init, nil, tokenizer.NewByte().Encode(heldOut), h.SeqLen, h.EvalWindows, 2)
	if err != nil {
		t.Fatal(err)
	}
	after := res.Manifest.EvalLoss
	t.Logf("held-out loss %.4f -> %.4f (perplexity %.1f -> %.1f)", before, after, math.Exp(before), math.Exp(after))
	if before-after < 2.0 {
		t.Fatalf("held-out loss fell only %.3f nats (from %.4f to %.4f); want >= 2.0", before-after, before, after)
	}
	if res.Losses[len(res.Losses)-1] >= res.Losses[0] {
		t.Fatal("training loss did not fall")
	}
}
