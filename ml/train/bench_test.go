package train

import (
	"context"
	"testing"

	"github.com/openledger/openledger/ml/model"
)

// BenchmarkTrain reports end-to-end training tokens per second (all cores,
// batch 8 x seq 64 for 1m, batch 4 x seq 128 for 10m) over the committed
// corpus with a byte tokenizer.
func BenchmarkTrain(b *testing.B) {
	for _, c := range []struct {
		preset     string
		batch, seq int
	}{{"1m", 8, 64}, {"10m", 4, 128}} {
		b.Run(c.preset, func(b *testing.B) {
			cfg, err := model.Preset(c.preset, 256)
			if err != nil {
				b.Fatal(err)
			}
			h := DefaultHyper()
			h.Steps, h.BatchSize, h.SeqLen, h.EvalWindows = b.N, c.batch, c.seq, 1
			spec := Spec{Inputs: corpusInputs(), Tokenizer: TokenizerSpec{Kind: "byte", VocabSize: 256}, Model: cfg, Hyper: h, Seed: 1}
			b.ResetTimer()
			cpu0 := cpuSeconds()
			if _, err := Run(context.Background(), spec, Options{OutDir: b.TempDir()}); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N*c.batch*c.seq)/b.Elapsed().Seconds(), "tok/s")
			if cpu := cpuSeconds() - cpu0; cpu > 0 {
				b.ReportMetric(float64(b.N*c.batch*c.seq)/cpu, "tok/cpu-s")
			}
		})
	}
}
