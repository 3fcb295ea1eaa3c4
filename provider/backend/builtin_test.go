package backend

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/tokenizer"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// randomModel is a small byte-level model with seeded random weights: enough to
// check determinism without training.
func randomModel(t *testing.T) *checkpoint.Model {
	t.Helper()
	cfg := model.Config{VocabSize: 256, ContextLen: 64, DModel: 32, NLayers: 2, NHeads: 2, DFF: 64, Positions: model.PositionsLearned, LNEps: 1e-5}
	p, err := model.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := checkpoint.MarshalModel(p, tokenizer.NewByte())
	if err != nil {
		t.Fatal(err)
	}
	m, err := checkpoint.ParseModel(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBuiltinDeterministic(t *testing.T) {
	m := randomModel(t)
	b := NewBuiltin("")
	if info := b.Info(); !info.Local || info.Name != checkpoint.EngineName {
		t.Fatalf("info %+v", info)
	}
	req := Request{Prompt: "Hello", Weights: &Weights{Base: m}, MaxNewTokens: 20,
		Params: ParamsFromChain(inferencetypes.GenerationParams{TemperatureMilli: 900, TopK: 50, TopPPpm: 950_000, Seed: 42})}
	a, err := b.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if a.PromptTokens != 5 || a.CompletionTokens != 20 || a.FinishReason != "length" {
		t.Fatalf("%+v", a)
	}
	if a.EngineName != "openledger-ml" || a.EngineVersion != checkpoint.EngineVersion {
		t.Fatalf("engine %s %s", a.EngineName, a.EngineVersion)
	}
	again, err := b.Generate(context.Background(), req)
	if err != nil || !bytes.Equal(a.Output, again.Output) {
		t.Fatalf("same seed gave %q then %q (%v)", a.Output, again.Output, err)
	}
	req.Params.Seed = 43
	other, err := b.Generate(context.Background(), req)
	if err != nil || bytes.Equal(a.Output, other.Output) {
		t.Fatalf("seeds 42 and 43 gave the same %q (%v)", a.Output, err)
	}
}

func TestParamsFromChain(t *testing.T) {
	p := ParamsFromChain(inferencetypes.GenerationParams{TemperatureMilli: 750, TopK: 3, TopPPpm: 900_000, Seed: 9, Stop: []string{"."}})
	if p.Temperature != 0.75 || p.TopK != 3 || p.TopP != 0.9 || p.Seed != 9 || len(p.Stop) != 1 {
		t.Fatalf("%+v", p)
	}
}

func TestBuiltinFailures(t *testing.T) {
	b := NewBuiltin("")
	if _, err := b.Generate(context.Background(), Request{Prompt: "x", MaxNewTokens: 1}); !errors.Is(err, ErrBackend) {
		t.Fatalf("no weights: %v", err)
	}
	m := randomModel(t)
	req := Request{Prompt: "x", Weights: &Weights{Base: m}, MaxNewTokens: 1, Params: Params{Temperature: 1000}}
	if _, err := b.Generate(context.Background(), req); !errors.Is(err, ErrBackend) {
		t.Fatalf("bad temperature: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	time.Sleep(time.Millisecond)
	req = Request{Prompt: "x", Weights: &Weights{Base: m}, MaxNewTokens: 10}
	if _, err := b.Generate(ctx, req); !errors.Is(err, ErrBackend) || !errors.Is(err, ErrBackend) {
		t.Fatalf("expired context: %v", err)
	}
}
