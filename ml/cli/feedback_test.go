package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openledger/openledger/ml/train"
)

// writeRecords writes n JSON lines made by line(i).
func writeRecords(t *testing.T, path string, n int, line func(i int) string) {
	t.Helper()
	var sb strings.Builder
	for i := 0; i < n; i++ {
		sb.WriteString(line(i) + "\n")
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The real command fine-tunes a trained base with SFT (full) and DPO
// (LoRA), records the kind, β, the preference report and the evaluation on
// the base's held-out set, and refuses contradictory flags.
func TestFeedbackFineTunes(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cfg.json")
	os.WriteFile(cfg, []byte(`{"context_len":48,"d_model":32,"n_layers":1,"n_heads":2,"d_ff":64}`), 0o644)
	base := filepath.Join(dir, "base")
	mustRun(t, "train", "--data", corpus, "--out", base, "--config", cfg, "--tokenizer", "byte", "--steps", "6", "--batch", "2", "--seq", "32")
	sft := filepath.Join(dir, "sft.jsonl")
	writeRecords(t, sft, 12, func(i int) string {
		return fmt.Sprintf(`{"messages":[{"role":"user","content":"count to %d"},{"role":"assistant","content":"%d"}]}`, i, i)
	})
	prefs := filepath.Join(dir, "prefs.jsonl")
	writeRecords(t, prefs, 12, func(i int) string {
		return fmt.Sprintf(`{"prompt":"%d+1=","chosen":"%d","rejected":"%d"}`, i, i+1, i+2)
	})
	var out TrainOutput
	o := mustRun(t, "train", "--kind", "sft", "--base", base, "--data", sft, "--cid", "bafkreifeedback", "--out", filepath.Join(dir, "s"),
		"--steps", "3", "--batch", "2", "--seq", "32", "--eval-fraction", "0.25", "--json")
	if err := json.Unmarshal([]byte(o), &out); err != nil || out.Kind != "sft" || out.ParentEval == nil || out.Preference != nil {
		t.Fatalf("sft --json: %v\n%s", err, o)
	}
	man, err := train.ReadManifest(filepath.Join(dir, "s", train.ManifestFile))
	if err != nil || man.Kind != "sft" || man.Inputs[0].CID != "bafkreifeedback" || man.EvalRecords != 3 || man.ParentEval.BaseEvalLoss != mustManifest(t, base).EvalLoss {
		t.Fatalf("sft manifest: %v %+v", err, man)
	}
	o = mustRun(t, "train", "--kind", "dpo", "--beta", "0.2", "--base", base, "--data", prefs, "--lora-rank", "2", "--out", filepath.Join(dir, "d"),
		"--steps", "3", "--batch", "2", "--seq", "32", "--eval-fraction", "0.25")
	for _, want := range []string{"preference     base", "preference     trained", "parent set ", "records        9 trained on, 3 held out"} {
		if !strings.Contains(o, want) {
			t.Fatalf("dpo output lacks %q:\n%s", want, o)
		}
	}
	man, err = train.ReadManifest(filepath.Join(dir, "d", train.ManifestFile))
	if err != nil || man.Kind != "dpo" || man.Beta != 0.2 || man.LoRA == nil || man.Preference == nil || man.Preference.After.Pairs != 3 {
		t.Fatalf("dpo manifest: %v %+v", err, man)
	}
	// model eval --held-out-of reproduces the parent evaluations.
	heldOut := func(args ...string) HeldOutOutput {
		var h HeldOutOutput
		o := mustRun(t, append([]string{"eval", "--held-out-of", filepath.Join(base, train.ManifestFile), "--json"}, args...)...)
		if err := json.Unmarshal([]byte(o), &h); err != nil {
			t.Fatalf("%v: %s", err, o)
		}
		return h
	}
	if h := heldOut("--model", base); h.Loss != h.RunEvalLoss || !h.NoWorse || h.Tokens == 0 {
		t.Fatalf("the base on its own held-out set: %+v", h)
	}
	sm := mustManifest(t, filepath.Join(dir, "s"))
	if h := heldOut("--model", filepath.Join(dir, "s")); h.Loss != sm.ParentEval.EvalLoss || h.Tokens != sm.ParentEval.EvalTokens {
		t.Fatalf("SFT version on the base's held-out set: %+v, manifest %+v", h, sm.ParentEval)
	}
	if h := heldOut("--model", base, "--adapter", filepath.Join(dir, "d", train.AdapterFile)); h.Loss != man.ParentEval.EvalLoss {
		t.Fatalf("DPO adapter on the base's held-out set: %+v, manifest %+v", h, man.ParentEval)
	}
	if e := mustRun(t, "eval", "--model", filepath.Join(dir, "s"), "--held-out-of", filepath.Join(dir, "s", train.ManifestFile)); !strings.Contains(e, "no worse than") {
		t.Fatalf("eval --held-out-of: %s", e)
	}
	if _, err := run(t, "eval", "--model", base, "--held-out-of", filepath.Join(base, train.ManifestFile), "--data", prefs); err == nil {
		t.Fatal("--held-out-of with the wrong data accepted")
	}
	// verify-training re-runs the DPO fine-tune bit for bit.
	if v := mustRun(t, "verify-training", filepath.Join(dir, "d", train.ManifestFile)); !strings.Contains(v, "verification OK") {
		t.Fatalf("verify: %s", v)
	}
	o = mustRun(t, "train", "--kind", "sft", "--base", base, "--data", sft, "--out", filepath.Join(dir, "s2"), "--steps", "1", "--batch", "2", "--seq", "32", "--no-parent-eval", "--json")
	var out2 TrainOutput
	if err := json.Unmarshal([]byte(o), &out2); err != nil || out2.ParentEval != nil || out2.Kind != "sft" {
		t.Fatalf("--no-parent-eval: %v %s", err, o)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--kind", "dpo", "--data", prefs}, "needs --base"},
		{[]string{"--kind", "rlhf", "--base", base, "--data", prefs}, "want text, sft or dpo"},
		{[]string{"--kind", "sft", "--beta", "0.3", "--base", base, "--data", sft}, "--beta is for --kind dpo"},
		{[]string{"--kind", "dpo", "--beta", "0", "--base", base, "--data", prefs}, "beta"},
		{[]string{"--kind", "dpo", "--base", base, "--data", sft}, "no dpo records"},
		{[]string{"--kind", "sft", "--base", filepath.Join(base, train.ModelFile), "--parent-data", sft, "--data", sft}, "--parent-data needs a parent manifest"},
		{[]string{"--kind", "sft", "--base", base, "--no-parent-eval", "--parent-manifest", "x", "--data", sft}, "contradicts"},
		{[]string{"--kind", "sft", "--base", base, "--parent-data", prefs, "--data", sft}, "the parent's data"},
	} {
		args := append([]string{"train", "--out", filepath.Join(dir, "bad"), "--steps", "1", "--batch", "2", "--seq", "32"}, c.args...)
		if _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
}

func mustManifest(t *testing.T, dir string) *train.Manifest {
	t.Helper()
	m, err := train.ReadManifest(filepath.Join(dir, train.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
