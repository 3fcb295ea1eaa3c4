package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/train"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewModelCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := run(t, args...)
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return out
}

const corpus = "../testdata/corpus/riddles.txt"

func TestCommandTree(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "cfg.json")
	os.WriteFile(cfg, []byte(`{"context_len":32,"d_model":32,"n_layers":1,"n_heads":2,"d_ff":64}`), 0o644)
	out := filepath.Join(t.TempDir(), "m")
	o := mustRun(t, "train", "--data", corpus, "--cid", "bafkreiexample", "--out", out, "--config", cfg,
		"--steps", "8", "--batch", "2", "--seq", "32", "--vocab", "300", "--seed", "3", "--save-every", "4")
	for _, want := range []string{"sha256", "held-out loss", "loss.png"} {
		if !strings.Contains(o, want) {
			t.Fatalf("train output lacks %q:\n%s", want, o)
		}
	}
	for _, f := range []string{train.ModelFile, train.ManifestFile, train.StateFile, LossCurveFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Fatalf("missing %s: %v", f, err)
		}
	}
	var m train.Manifest
	b, _ := os.ReadFile(filepath.Join(out, train.ManifestFile))
	if err := json.Unmarshal(b, &m); err != nil || m.Inputs[0].CID != "bafkreiexample" || m.Hyper.Steps != 8 {
		t.Fatalf("manifest: %v %+v", err, m.Inputs)
	}

	g := mustRun(t, "generate", "--model", out, "--prompt", "What", "--max-tokens", "10", "--json")
	var res struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	}
	if err := json.Unmarshal([]byte(g), &res); err != nil || res.PromptTokens == 0 || res.CompletionTokens != 10 {
		t.Fatalf("generate --json: %v: %s", err, g)
	}
	g2 := mustRun(t, "generate", "--model", out, "--prompt", "What", "--max-tokens", "10", "--json")
	if g != g2 {
		t.Fatal("greedy generation is not reproducible")
	}
	if e := mustRun(t, "eval", "--model", out, "--data", corpus); !strings.Contains(e, "perplexity") {
		t.Fatalf("eval: %s", e)
	}
	var ev struct {
		Tokens int     `json:"tokens"`
		Loss   float64 `json:"loss"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, "eval", "--model", out, "--data", corpus, "--json")), &ev); err != nil || ev.Tokens == 0 || ev.Loss <= 0 {
		t.Fatalf("eval --json: %v %+v", err, ev)
	}
	if i := mustRun(t, "inspect", out); !strings.Contains(i, "openledger-ml-model/1") || !strings.Contains(i, "h.0.attn.qkv.w") {
		t.Fatalf("inspect: %s", i)
	}
	if i := mustRun(t, "inspect", filepath.Join(out, train.ManifestFile)); !strings.Contains(i, "training manifest") {
		t.Fatalf("inspect manifest: %s", i)
	}
	v := mustRun(t, "verify-training", filepath.Join(out, train.ManifestFile))
	if !strings.Contains(v, "verification OK") {
		t.Fatalf("verify: %s", v)
	}

	// LoRA adapter on the trained base, then generate with it.
	ad := filepath.Join(t.TempDir(), "a")
	var to TrainOutput
	tj := mustRun(t, "train", "--data", "../testdata/corpus/fortunes.txt", "--base", out, "--lora-rank", "2", "--out", ad,
		"--steps", "3", "--batch", "2", "--seq", "16", "--json")
	if err := json.Unmarshal([]byte(tj), &to); err != nil || len(to.CheckpointSHA256) != 64 || !strings.HasSuffix(to.Checkpoint, train.AdapterFile) {
		t.Fatalf("train --json: %v %s", err, tj)
	}
	mustRun(t, "generate", "--model", out, "--adapter", filepath.Join(ad, train.AdapterFile), "--prompt", "Why", "--max-tokens", "5")
	if v := mustRun(t, "verify-training", filepath.Join(ad, train.ManifestFile)); !strings.Contains(v, "verification OK") {
		t.Fatalf("verify LoRA: %s", v)
	}

	merged := filepath.Join(t.TempDir(), "merged.safetensors")
	mustRun(t, "merge", "--model", out, "--adapter", filepath.Join(ad, train.AdapterFile), "--out", merged)
	mustRun(t, "generate", "--model", merged, "--prompt", "Why", "--max-tokens", "5")
	if _, err := run(t, "merge", "--model", out, "--out", merged); err == nil {
		t.Fatal("merge without --adapter accepted")
	}

	// GPT-2-layout weights (a random byte-vocabulary model) can be served.
	p, err := model.New(model.Config{VocabSize: 256, ContextLen: 16, DModel: 16, NLayers: 1, NHeads: 2, DFF: 32,
		Positions: model.PositionsLearned, LNEps: 1e-5}, 1)
	if err != nil {
		t.Fatal(err)
	}
	gb, _ := checkpoint.MarshalGPT2(p)
	gpt2 := filepath.Join(t.TempDir(), "model.safetensors")
	os.WriteFile(gpt2, gb, 0o644)
	mustRun(t, "generate", "--model", gpt2, "--heads", "2", "--prompt", "Hi", "--max-tokens", "4")
	if _, err := run(t, "generate", "--model", gpt2, "--prompt", "Hi"); err == nil {
		t.Fatal("GPT-2 weights with d_model 16 and default heads accepted")
	}

	// GPT-2 weights with GPT-2's own tokenizer files (vocab.json, merges.txt).
	p2, _ := model.New(model.Config{VocabSize: 258, ContextLen: 16, DModel: 16, NLayers: 1, NHeads: 2, DFF: 32,
		Positions: model.PositionsLearned, LNEps: 1e-5}, 2)
	gb2, _ := checkpoint.MarshalGPT2(p2)
	gdir := t.TempDir()
	os.WriteFile(filepath.Join(gdir, "model.safetensors"), gb2, 0o644)
	os.WriteFile(filepath.Join(gdir, "vocab.json"), gpt2Vocab(), 0o644)
	os.WriteFile(filepath.Join(gdir, "merges.txt"), []byte("#version: 0.2\nH i\n"), 0o644)
	mustRun(t, "generate", "--model", filepath.Join(gdir, "model.safetensors"), "--tokenizer", gdir, "--heads", "2",
		"--prompt", "Hi there", "--max-tokens", "4")

	// Tampered data fails verification.
	tampered := filepath.Join(t.TempDir(), "riddles.txt")
	os.WriteFile(tampered, []byte("not the same text at all, not the same text at all"), 0o644)
	if _, err := run(t, "verify-training", filepath.Join(out, train.ManifestFile), "--data", tampered); err == nil {
		t.Fatal("verification passed with different data")
	}

	tok := filepath.Join(t.TempDir(), "tok.json")
	if o := mustRun(t, "tokenizer", "train", "--data", corpus, "--vocab", "280", "--out", tok); !strings.Contains(o, "vocab 280") {
		t.Fatalf("tokenizer train: %s", o)
	}
	// A model trained with that tokenizer file, verified from its manifest.
	out2 := filepath.Join(t.TempDir(), "m2")
	mustRun(t, "train", "--data", corpus, "--out", out2, "--config", cfg, "--tokenizer", tok, "--steps", "2", "--batch", "2", "--seq", "16")
	if i := mustRun(t, "inspect", out2); !strings.Contains(i, "vocab 280") {
		t.Fatalf("model trained with a tokenizer file: %s", i)
	}
	if v := mustRun(t, "verify-training", filepath.Join(out2, train.ManifestFile)); !strings.Contains(v, "verification OK") {
		t.Fatalf("verify with tokenizer file: %s", v)
	}
	os.WriteFile(tok, []byte(`{"kind":"byte","vocab_size":256,"merges":[]}`), 0o644)
	if _, err := run(t, "verify-training", filepath.Join(out2, train.ManifestFile)); err == nil {
		t.Fatal("verification passed with a different tokenizer file")
	}
	if _, err := run(t, "train", "--data", corpus, "--out", out2, "--tokenizer", "/nonexistent.json"); err == nil {
		t.Fatal("missing tokenizer file accepted")
	}
}

func TestBadArguments(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.txt")
	os.WriteFile(empty, nil, 0o644)
	garbage := filepath.Join(dir, "garbage.safetensors")
	os.WriteFile(garbage, []byte("\x10\x00\x00\x00\x00\x00\x00\x00{not json at all"), 0o644)
	cases := map[string][]string{
		"train no data":      {"train", "--out", dir},
		"train no out":       {"train", "--data", corpus},
		"train empty data":   {"train", "--data", empty, "--out", filepath.Join(dir, "x")},
		"train lora no base": {"train", "--data", corpus, "--out", dir, "--lora-rank", "4"},
		"train bad preset":   {"train", "--data", corpus, "--out", dir, "--preset", "huge"},
		"train seq too long": {"train", "--data", corpus, "--out", dir, "--preset", "tiny", "--seq", "1000"},
		"train cid count":    {"train", "--data", corpus, "--out", dir, "--cid", "a", "--cid", "b"},
		"train positional":   {"train", "extra", "--data", corpus, "--out", dir},
		"generate no model":  {"generate", "--prompt", "x"},
		"generate no prompt": {"generate", "--model", garbage},
		"generate corrupt":   {"generate", "--model", garbage, "--prompt", "x"},
		"generate bad temp":  {"generate", "--model", garbage, "--prompt", "x", "--temperature", "-2"},
		"generate bad top-p": {"generate", "--model", garbage, "--prompt", "x", "--top-p", "2"},
		"inspect no args":    {"inspect"},
		"inspect corrupt":    {"inspect", garbage},
		"verify missing":     {"verify-training", filepath.Join(dir, "none.json")},
		"tokenizer small":    {"tokenizer", "train", "--data", corpus, "--vocab", "10", "--out", filepath.Join(dir, "t.json")},
		"eval missing":       {"eval", "--model", garbage},
	}
	for name, args := range cases {
		if _, err := run(t, args...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// gpt2Vocab is a vocab.json in GPT-2's byte alphabet: 256 byte tokens, one
// merge ("Hi") and <|endoftext|>.
func gpt2Vocab() []byte {
	vocab := map[string]int{}
	n := 0
	for b := 0; b < 256; b++ {
		r := rune(b)
		if !((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
			r = rune(256 + n)
			n++
		}
		vocab[string(r)] = b
	}
	vocab["Hi"] = 256
	vocab["<|endoftext|>"] = 257
	out, _ := json.Marshal(vocab)
	return out
}
