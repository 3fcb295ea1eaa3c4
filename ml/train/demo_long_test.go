//go:build long

package train

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openledger/openledger/ml/generate"
	"github.com/openledger/openledger/ml/model"
)

// DemoSpec is the localnet demo model: the ~1M-parameter preset with a
// 512-token BPE trained on the whole committed corpus.
func demoSpec(steps int) Spec {
	dir := filepath.Join("..", "testdata", "corpus")
	cfg, _ := model.Preset("1m", 512)
	h := DefaultHyper()
	h.Steps = steps
	return Spec{
		Inputs: []Input{{Path: filepath.Join(dir, "fortunes.txt")}, {Path: filepath.Join(dir, "literature.txt")},
			{Path: filepath.Join(dir, "riddles.txt")}},
		Tokenizer: TokenizerSpec{Kind: "bpe", VocabSize: 512}, Model: cfg, Hyper: h, Seed: 1,
	}
}

// The demo model trains reproducibly (two runs, same checkpoint digest),
// reaches a held-out loss well below the unigram level, and its greedy
// generations follow the corpus: they use its words and its layout.
func TestDemoModelLong(t *testing.T) {
	spec := demoSpec(400)
	a := mustRun(t, spec, Options{OutDir: t.TempDir()})
	b := mustRun(t, spec, Options{OutDir: t.TempDir(), Workers: 1})
	if a.Manifest.Checkpoint.SHA256 != b.Manifest.Checkpoint.SHA256 || a.ManifestSHA256 != b.ManifestSHA256 {
		t.Fatal("demo training is not reproducible")
	}
	t.Logf("demo: final loss %.4f, held-out %.4f (ppl %.1f), checkpoint %s",
		a.Manifest.FinalLoss, a.Manifest.EvalLoss, a.Manifest.EvalPerplexity, a.Manifest.Checkpoint.SHA256)
	if a.Manifest.EvalLoss > 4.0 {
		t.Fatalf("held-out loss %.3f > 4.0", a.Manifest.EvalLoss)
	}
	common := []string{" the ", " of ", " and ", " a ", " to ", " is "}
	for _, prompt := range []string{"The ", "A man ", "What is "} {
		res, err := generate.Text(context.Background(), a.Params, nil, a.Tokenizer, prompt, generate.Params{MaxTokens: 60}, generate.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%q -> %q", prompt, res.Text)
		hits := 0
		for _, w := range common {
			if strings.Contains(" "+res.Text+" ", w) {
				hits++
			}
		}
		if hits == 0 && !strings.Contains(res.Text, "%") && !strings.Contains(res.Text, "--") {
			t.Errorf("generation for %q shows nothing of the corpus: %q", prompt, res.Text)
		}
	}
}
