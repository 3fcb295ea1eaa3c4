package checkpoint

import (
	"testing"

	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/tokenizer"
)

// FuzzParseModel feeds arbitrary bytes to the model, adapter and GPT-2
// loaders: they must return an error or a usable model, never panic.
func FuzzParseModel(f *testing.F) {
	cfg := model.Config{VocabSize: 256, ContextLen: 4, DModel: 4, NLayers: 1, NHeads: 1, DFF: 4, Positions: model.PositionsLearned, LNEps: 1e-5}
	p, _ := model.New(cfg, 1)
	good, _ := MarshalModel(p, tokenizer.NewByte())
	f.Add(good)
	a, _ := model.NewAdapter(cfg, model.AdapterConfig{Rank: 1, Alpha: 1, Targets: []string{"o"}})
	ab, _ := MarshalAdapter(a, "x")
	f.Add(ab)
	g, _ := MarshalGPT2(p)
	f.Add(g)
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := ParseModel(b); err == nil {
			logits := make([]float32, m.Params.Cfg.VocabSize)
			if err := model.Forward(m.Params, nil, model.NewCache(m.Params.Cfg, 0), []int{0}, logits); err != nil {
				t.Fatalf("parsed model cannot run: %v", err)
			}
		}
		_, _ = ParseAdapter(b, cfg)
		_, _ = ParseGPT2(b, 1)
	})
}
