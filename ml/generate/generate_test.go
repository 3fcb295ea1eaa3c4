package generate

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/tokenizer"
)

// referenceModel is the fixed tiny model of the determinism regression test.
func referenceModel(t *testing.T) *model.Params {
	cfg := model.Config{VocabSize: 256, ContextLen: 48, DModel: 32, NLayers: 2, NHeads: 4, DFF: 96, Positions: model.PositionsLearned, LNEps: 1e-5}
	p, err := model.New(cfg, 20260101)
	if err != nil {
		t.Fatal(err)
	}
	// Spread the weights so the logits are far from uniform.
	for i := range p.Data {
		p.Data[i] = float32(p.Data[i] * 4)
	}
	return p
}

func logitDigest(t *testing.T, p *model.Params, params Params) (string, []int) {
	h := sha256.New()
	var b [4]byte
	toks, _, err := Tokens(context.Background(), p, nil, tokenizer.NewByte().EncodeString("The quick brown fox"), params, Options{
		OnLogits: func(_ int, logits []float32) {
			for _, v := range logits {
				binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
				h.Write(b[:])
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil)), toks
}

// Reference digests of the logits of a fixed tiny model. They change only
// when the engine's arithmetic changes, which requires an EngineVersion
// bump (ml/checkpoint) and new references here.
const (
	refGreedyLogits  = "f972b8ae19597a84ad6567fc8f1cdab508e32152fa25b82e81afcf738cb8e762"
	refSampledLogits = "e79e616bda3f54a8314271e09fc17ae9ee65ff0b89953a3ce718e0821690ccf8"
)

func TestReferenceLogitDigests(t *testing.T) {
	p := referenceModel(t)
	g1, toks := logitDigest(t, p, Params{MaxTokens: 24})
	g2, toks2 := logitDigest(t, p, Params{MaxTokens: 24})
	if g1 != g2 || !equal(toks, toks2) {
		t.Fatal("two greedy runs differ")
	}
	s1, stoks := logitDigest(t, p, Params{MaxTokens: 24, Temperature: 0.9, TopK: 40, TopP: 0.95, Seed: 7})
	if g1 != refGreedyLogits || s1 != refSampledLogits {
		t.Fatalf("logit digests changed:\n greedy  %s (tokens %v)\n sampled %s (tokens %v)", g1, toks, s1, stoks)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSeedsAndSampling(t *testing.T) {
	p := referenceModel(t)
	prompt := []int{72, 101, 108}
	run := func(params Params) []int {
		out, _, err := Tokens(context.Background(), p, nil, prompt, params, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a := run(Params{MaxTokens: 30, Temperature: 1, Seed: 1})
	b := run(Params{MaxTokens: 30, Temperature: 1, Seed: 1})
	c := run(Params{MaxTokens: 30, Temperature: 1, Seed: 2})
	if !equal(a, b) {
		t.Fatal("same seed, different tokens")
	}
	if equal(a, c) {
		t.Fatal("different seeds gave identical 30-token samples")
	}
	greedy := run(Params{MaxTokens: 30})
	if !equal(run(Params{MaxTokens: 30, Temperature: 1, TopK: 1, Seed: 5}), greedy) {
		t.Fatal("top-k 1 differs from greedy")
	}
	if !equal(run(Params{MaxTokens: 30, Temperature: 0.5, TopP: 1e-9, Seed: 5}), greedy) {
		t.Fatal("top-p ~0 differs from greedy")
	}
}

// Sampled frequencies follow the softmax of the scaled logits.
func TestSamplerDistribution(t *testing.T) {
	logits := []float32{1, 2, 0, -1}
	s := NewSampler(Params{MaxTokens: 1, Temperature: 0.7, Seed: 3})
	counts := make([]int, 4)
	const n = 40000
	for i := 0; i < n; i++ {
		counts[s.Next(logits)]++
	}
	var z float64
	for _, l := range logits {
		z += math.Exp(float64(l) / 0.7)
	}
	for i, l := range logits {
		want := math.Exp(float64(l)/0.7) / z
		got := float64(counts[i]) / n
		if math.Abs(got-want) > 0.01 {
			t.Errorf("token %d frequency %.4f, want %.4f", i, got, want)
		}
	}
	s = NewSampler(Params{MaxTokens: 1, Temperature: 1, TopK: 2, Seed: 3})
	for i := 0; i < 1000; i++ {
		if tok := s.Next(logits); tok != 0 && tok != 1 {
			t.Fatalf("top-k 2 sampled token %d", tok)
		}
	}
}

func TestStopSequencesAndCounts(t *testing.T) {
	p := referenceModel(t)
	tok := tokenizer.NewByte()
	full, err := Text(context.Background(), p, nil, tok, "Once", Params{MaxTokens: 20}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if full.PromptTokens != 4 || full.CompletionTokens != 20 || full.FinishReason != FinishLength || len(full.Tokens) != 20 {
		t.Fatalf("counts: %+v", full)
	}
	var streamed []byte
	again, err := Text(context.Background(), p, nil, tok, "Once", Params{MaxTokens: 20}, Options{OnToken: func(_ int, piece []byte) {
		streamed = append(streamed, piece...)
	}})
	if err != nil || string(streamed) != full.Text || again.Text != full.Text {
		t.Fatalf("streamed %q, want %q", streamed, full.Text)
	}
	stop := full.Text[6:8]
	cut := strings.Index(full.Text, stop)
	res, err := Text(context.Background(), p, nil, tok, "Once", Params{MaxTokens: 20, Stop: []string{"\x00never", stop}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.FinishReason != FinishStop || res.Text != full.Text[:cut] || res.CompletionTokens != cut+len(stop) {
		t.Fatalf("stop %q: got %+v from %q", stop, res, full.Text)
	}
	// Generation ends at the context length.
	long := strings.Repeat("a", 40)
	res, err = Text(context.Background(), p, nil, tok, long, Params{MaxTokens: 100}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.CompletionTokens != 48-40+1 || res.FinishReason != FinishLength {
		t.Fatalf("context-limited completion: %d tokens, %s", res.CompletionTokens, res.FinishReason)
	}
}

func TestBadRequests(t *testing.T) {
	p := referenceModel(t)
	tok := tokenizer.NewByte()
	bad := []Params{
		{MaxTokens: 0}, {MaxTokens: 5, Temperature: -1}, {MaxTokens: 5, Temperature: math.NaN()},
		{MaxTokens: 5, TopK: -1}, {MaxTokens: 5, TopP: 1.5}, {MaxTokens: 5, Stop: []string{""}},
	}
	for i, params := range bad {
		if _, err := Text(context.Background(), p, nil, tok, "x", params, Options{}); err == nil {
			t.Errorf("params %d accepted", i)
		}
	}
	if _, err := Text(context.Background(), p, nil, tok, "", Params{MaxTokens: 1}, Options{}); err == nil {
		t.Error("empty prompt accepted")
	}
	if _, err := Text(context.Background(), p, nil, tok, strings.Repeat("x", 48), Params{MaxTokens: 1}, Options{}); err == nil ||
		!strings.Contains(err.Error(), "context") {
		t.Errorf("over-long prompt: %v", err)
	}
	if _, _, err := Tokens(context.Background(), p, nil, []int{300}, Params{MaxTokens: 1}, Options{}); err == nil {
		t.Error("out-of-vocabulary prompt token accepted")
	}
	bpe, _ := tokenizer.NewBPE([][2]int{{1, 2}})
	if _, err := Text(context.Background(), p, nil, bpe, "x", Params{MaxTokens: 1}, Options{}); err == nil {
		t.Error("mismatched tokenizer accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Text(ctx, p, nil, tok, "x", Params{MaxTokens: 5}, Options{}); err == nil {
		t.Error("cancelled context ignored")
	}
}

func TestStreamerHoldsBack(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stop   []string
		pieces []string
		cut    []int // the cut after each piece (-1: none)
		want   []string
	}{
		{"plain", nil, []string{"ab", "c", "de"}, []int{-1, -1, -1}, []string{"ab", "c", "de"}},
		{"stop prefix held then released", []string{"\n<|"}, []string{"ab", "c\n", "<", "x"}, []int{-1, -1, -1, -1}, []string{"ab", "c", "\n<x"}},
		{"stop found", []string{"\n<|"}, []string{"ab\n", "<|u"}, []int{-1, 2}, []string{"ab"}},
		{"split character", nil, []string{"a\xc3", "\xa9b"}, []int{-1, -1}, []string{"a", "éb"}},
		{"invalid byte stalls", nil, []string{"a\xff", "bc"}, []int{-1, -1}, []string{"a"}},
		{"two stops, longest prefix held", []string{"xy", "abc"}, []string{"1ab", "c"}, []int{-1, 1}, []string{"1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			s := streamer{stop: tc.stop, emit: func(p string) { got = append(got, p) }}
			var text []byte
			for i, p := range tc.pieces {
				text = append(text, p...)
				s.advance(text, tc.cut[i])
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("pieces %q, want %q", got, tc.want)
			}
		})
	}
}

// The streamed text is a prefix of the result (whole when the output is
// UTF-8 and no stop sequence is pending), for many seeds, with and without
// stop sequences, and streaming changes nothing in the result.
func TestOnTextIsAPrefixOfTheResult(t *testing.T) {
	p := referenceModel(t)
	tok := tokenizer.NewByte()
	multi := false
	for seed := range uint64(40) {
		for _, stop := range [][]string{nil, {"e"}, {"\x00\x01", "ab"}} {
			params := Params{MaxTokens: 16, Temperature: 1.2, Seed: seed, Stop: stop}
			plain, err := Text(context.Background(), p, nil, tok, "The quick", params, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var pieces []string
			res, err := Text(context.Background(), p, nil, tok, "The quick", params, Options{OnText: func(s string) { pieces = append(pieces, s) }})
			if err != nil {
				t.Fatal(err)
			}
			if res.Text != plain.Text || !equal(res.Tokens, plain.Tokens) {
				t.Fatalf("seed %d: streaming changed the result", seed)
			}
			got := strings.Join(pieces, "")
			if !strings.HasPrefix(res.Text, got) || !utf8.ValidString(got) {
				t.Fatalf("seed %d stop %q: streamed %q is not a valid prefix of %q", seed, stop, got, res.Text)
			}
			if stop == nil && utf8.ValidString(res.Text) && got != res.Text {
				t.Fatalf("seed %d: streamed %q, result %q", seed, got, res.Text)
			}
			multi = multi || len(pieces) > 1
		}
	}
	if !multi {
		t.Fatal("no run streamed more than one piece")
	}
}
