package train

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/tokenizer"
)

// BenchmarkFineTuneStep times one optimizer step of SFT and of DPO (full
// weights, and a rank-8 LoRA adapter) on the "tiny" preset with the byte
// tokenizer, batch 8, on the same synthetic records: an SFT record is the
// pair's prompt and chosen continuation, so a DPO step does the work of two
// SFT steps (chosen and rejected) plus the sigmoid; the reference
// log-probabilities are computed once before the first step and are not
// timed. Reports records (SFT examples or DPO pairs) and rows (tokens,
// prompt and continuation, before padding) per second, wall and CPU, and CPU
// milliseconds per step.
func BenchmarkFineTuneStep(b *testing.B) {
	cfg, err := model.Preset("tiny", 256)
	if err != nil {
		b.Fatal(err)
	}
	p, err := model.New(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	basePath := filepath.Join(dir, ModelFile)
	if _, err := checkpoint.SaveModel(basePath, p, tokenizer.NewByte()); err != nil {
		b.Fatal(err)
	}
	prefs := prefRecords(256, 9)
	sft := make([]any, len(prefs))
	for i, r := range prefs {
		m := r.(map[string]string)
		sft[i] = map[string]string{"prompt": m["prompt"], "response": m["chosen"]}
	}
	files := map[string]string{KindSFT: writeJSONL(b, dir, "sft.jsonl", sft), KindDPO: writeJSONL(b, dir, "dpo.jsonl", prefs)}
	for _, c := range []struct {
		name, kind string
		lora       bool
	}{{"sft", KindSFT, false}, {"dpo", KindDPO, false}, {"sft-lora8", KindSFT, true}, {"dpo-lora8", KindDPO, true}} {
		b.Run(c.name, func(b *testing.B) {
			h := DefaultHyper()
			h.Steps, h.BatchSize, h.SeqLen, h.EvalWindows, h.EvalFraction = b.N, 8, 64, 1, 0.1
			spec := Spec{Inputs: []Input{{Path: files[c.kind]}}, Base: &Base{Path: basePath}, Hyper: h, Seed: 1, Kind: c.kind}
			if c.kind == KindDPO {
				spec.Beta = DefaultBeta
			}
			if c.lora {
				spec.LoRA = &model.AdapterConfig{Rank: 8, Alpha: 16, Targets: model.DefaultTargets}
			}
			r := &run{spec: spec, opt: Options{OutDir: b.TempDir()}}
			if err := r.setup(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			cpu0 := cpuSeconds()
			if err := r.loop(context.Background(), 0); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*h.BatchSize)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(r.seen)/b.Elapsed().Seconds(), "rows/s")
			if cpu := cpuSeconds() - cpu0; cpu > 0 {
				b.ReportMetric(float64(r.seen)/cpu, "rows/cpu-s")
				b.ReportMetric(1000*cpu/float64(b.N), "cpu-ms/step")
			}
			b.ReportMetric(float64(r.seen)/float64(b.N), "rows/step")
		})
	}
}
