package generate

import (
	"context"
	"math"
	"testing"

	"github.com/openledger/openledger/ml/rng"
)

// The teacher-forced score of a generated completion uses exactly the
// logits the generation drew each token from.
func TestScoreMatchesGenerationLogits(t *testing.T) {
	p := referenceModel(t)
	prompt := []int{72, 101, 108, 108, 111}
	for _, temp := range []float64{0, 0.7, 1, 1.5} {
		var want, wantH float64
		var logits [][]float32
		out, _, err := Tokens(context.Background(), p, nil, prompt, Params{MaxTokens: 30, Temperature: temp, Seed: 3}, Options{
			OnLogits: func(_ int, l []float32) { logits = append(logits, append([]float32(nil), l...)) },
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(logits) != len(out) {
			t.Fatalf("%d logits for %d tokens", len(logits), len(out))
		}
		st := temp
		if st == 0 {
			st = 1
		}
		for i, tok := range out {
			lq, h, _ := surprisal(logits[i], tok, st)
			want += lq
			wantH += h
		}
		s, err := ScoreTokens(context.Background(), p, nil, prompt, out, temp)
		if err != nil {
			t.Fatal(err)
		}
		if s.Tokens != len(out) || s.PromptTokens != len(prompt) || s.Truncated != 0 {
			t.Fatalf("T=%v: counts %+v for %d tokens", temp, s, len(out))
		}
		if s.LogLik != want || s.Entropy != wantH {
			t.Fatalf("T=%v: score %v/%v, generation logits give %v/%v", temp, s.LogLik, s.Entropy, want, wantH)
		}
	}
}

// A sampled completion scores near its entropy; a uniformly random one far
// beyond it; greedy decoding below it.
func TestScoreSeparatesSamplesFromGarbage(t *testing.T) {
	p := referenceModel(t)
	prompt := []int{84, 104, 101, 32}
	ctx := context.Background()
	var sampled, garbage, sampledZ, garbageZ float64
	const runs = 8
	r := rng.New(99)
	for seed := uint64(0); seed < runs; seed++ {
		out, _, err := Tokens(ctx, p, nil, prompt, Params{MaxTokens: 40, Temperature: 1, Seed: seed}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := ScoreTokens(ctx, p, nil, prompt, out, 1)
		if err != nil {
			t.Fatal(err)
		}
		sampled += s.Excess() / runs
		sampledZ = max(sampledZ, math.Abs(s.Z()))
		junk := make([]int, len(out))
		for i := range junk {
			junk[i] = int(r.Uint64() % uint64(p.Cfg.VocabSize))
		}
		g, err := ScoreTokens(ctx, p, nil, prompt, junk, 1)
		if err != nil {
			t.Fatal(err)
		}
		garbage += g.Excess() / runs
		garbageZ = min(garbageZ, g.Z())
		if seed == 0 {
			garbageZ = g.Z()
		}
	}
	greedy, _, err := Tokens(ctx, p, nil, prompt, Params{MaxTokens: 40}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	gs, err := ScoreTokens(ctx, p, nil, prompt, greedy, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("mean excess: sampled %.3f, garbage %.3f, greedy %.3f nats/token; largest |z| of a sample %.2f, smallest z of garbage %.2f",
		sampled, garbage, gs.Excess(), sampledZ, garbageZ)
	if math.Abs(sampled) > 0.5 || garbage < 2 || gs.Excess() > 0 || gs.Z() > 0 {
		t.Fatalf("excess: sampled %.3f (want ~0), garbage %.3f (want > 2), greedy %.3f (want < 0)", sampled, garbage, gs.Excess())
	}
	if sampledZ > 4 || garbageZ < 8 {
		t.Fatalf("z: samples reach %.2f (want within 4), garbage as low as %.2f (want above 8)", sampledZ, garbageZ)
	}
}

func TestScoreTruncatesAtContextAndRejectsBadInput(t *testing.T) {
	p := referenceModel(t) // context 48
	ctx := context.Background()
	prompt := make([]int, 40)
	comp := make([]int, 20)
	for i := range prompt {
		prompt[i] = 65 + i%20
	}
	for i := range comp {
		comp[i] = 97 + i%20
	}
	s, err := ScoreTokens(ctx, p, nil, prompt, comp, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Positions 40..47 hold completion tokens 0..7; the logits after the last
	// one score token 8: 9 scored, 11 left.
	if s.Tokens != 9 || s.Truncated != 11 {
		t.Fatalf("scored %d, truncated %d; want 9 and 11", s.Tokens, s.Truncated)
	}
	for _, c := range []struct {
		name         string
		prompt, comp []int
		temp         float64
	}{
		{"empty prompt", nil, []int{1}, 1},
		{"prompt fills the context", make([]int, 48), []int{1}, 1},
		{"token outside vocabulary", []int{1}, []int{256}, 1},
		{"negative token", []int{1}, []int{-1}, 1},
		{"negative temperature", []int{1}, []int{1}, -1},
		{"NaN temperature", []int{1}, []int{1}, math.NaN()},
	} {
		if _, err := ScoreTokens(ctx, p, nil, c.prompt, c.comp, c.temp); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}
