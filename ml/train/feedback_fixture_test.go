package train

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/rng"
)

var (
	baseOnce sync.Once
	baseDir  string
	baseErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if baseDir != "" {
		os.RemoveAll(baseDir)
	}
	os.Exit(code)
}

// feedbackBase trains (once per test binary) a tiny byte-level base model
// on the committed corpus and returns its output directory.
func feedbackBase(t testing.TB) string {
	t.Helper()
	baseOnce.Do(func() {
		if baseDir, baseErr = os.MkdirTemp("", "ml-feedback-base-"); baseErr != nil {
			return
		}
		h := DefaultHyper()
		h.Steps, h.BatchSize, h.SeqLen, h.WarmupSteps, h.EvalWindows = 40, 4, 32, 4, 8
		cfg := model.Config{ContextLen: 48, DModel: 32, NLayers: 2, NHeads: 2, DFF: 64, Positions: model.PositionsLearned, LNEps: 1e-5}
		spec := Spec{Inputs: corpusInputs(), Tokenizer: TokenizerSpec{Kind: "byte", VocabSize: 256}, Model: cfg, Hyper: h, Seed: 7}
		_, baseErr = Run(context.Background(), spec, Options{OutDir: baseDir})
	})
	if baseErr != nil {
		t.Fatal(baseErr)
	}
	return baseDir
}

// word returns a random lowercase word of 3..5 letters that is not a
// palindrome.
func word(r *rng.SplitMix64) string {
	for {
		b := make([]byte, 3+r.Intn(3))
		for i := range b {
			b[i] = byte('a' + r.Intn(8))
		}
		if s := string(b); s != reverse(s) {
			return s
		}
	}
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// writeJSONL writes one JSON value per line into dir/name.
func writeJSONL(t testing.TB, dir, name string, recs []any) string {
	t.Helper()
	var sb strings.Builder
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		sb.Write(b)
		sb.WriteByte('\n')
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// sftRecords are instruction records: "say W:" answered " W W.".
func sftRecords(n int, seed uint64) []any {
	r := rng.New(seed)
	out := make([]any, n)
	for i := range out {
		w := word(r)
		out[i] = map[string]string{"prompt": "say " + w + ":", "response": " " + w + " " + w + "."}
	}
	return out
}

// prefRecords are preference pairs: chosen repeats the word, rejected is
// its corruption (the repeat garbled: reversed, letters moved from a-h to
// q-x).
func prefRecords(n int, seed uint64) []any {
	r := rng.New(seed)
	out := make([]any, n)
	for i := range out {
		w := word(r)
		out[i] = map[string]string{"prompt": "say " + w + ":", "chosen": " " + w + " " + w + ".", "rejected": " " + w + " " + garble(w) + "."}
	}
	return out
}

func garble(s string) string {
	b := []byte(reverse(s))
	for i := range b {
		b[i] += 'q' - 'a'
	}
	return string(b)
}

// fineTuneSpec is a record fine-tune of the feedback base.
func fineTuneSpec(t testing.TB, kind string, data string, steps int) Spec {
	h := DefaultHyper()
	h.Steps, h.BatchSize, h.SeqLen, h.WarmupSteps, h.EvalWindows = steps, 8, 32, 2, 64
	h.EvalFraction, h.LR, h.MinLR = 0.25, 3e-3, 3e-4
	spec := Spec{Inputs: []Input{{Path: data}}, Base: &Base{Path: filepath.Join(feedbackBase(t), ModelFile)}, Hyper: h, Seed: 11, Kind: kind}
	if kind == KindDPO {
		spec.Beta = 0.5
	}
	return spec
}
