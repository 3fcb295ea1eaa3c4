package model

import (
	"testing"
)

func benchParams(b *testing.B, preset string) *Params {
	cfg, err := Preset(preset, 512)
	if err != nil {
		b.Fatal(err)
	}
	p, err := New(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func benchTokens(n, vocab int) []int {
	toks := make([]int, n)
	for i := range toks {
		toks[i] = (i*131 + 7) % vocab
	}
	return toks
}

// BenchmarkPrefill reports prompt tokens per second on one core.
func BenchmarkPrefill(b *testing.B) {
	for _, preset := range []string{"1m", "10m"} {
		b.Run(preset, func(b *testing.B) {
			p := benchParams(b, preset)
			n := p.Cfg.ContextLen / 2
			toks := benchTokens(n, p.Cfg.VocabSize)
			logits := make([]float32, p.Cfg.VocabSize)
			c := NewCache(p.Cfg, 0)
			b.ResetTimer()
			cpu0 := cpuSeconds()
			for i := 0; i < b.N; i++ {
				c.Reset()
				if err := Forward(p, nil, c, toks, logits); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tok/s")
			if cpu := cpuSeconds() - cpu0; cpu > 0 {
				b.ReportMetric(float64(n*b.N)/cpu, "tok/cpu-s")
			}
		})
	}
}

// BenchmarkDecode reports KV-cached decode tokens per second on one core,
// averaged over a full context.
func BenchmarkDecode(b *testing.B) {
	for _, preset := range []string{"1m", "10m"} {
		b.Run(preset, func(b *testing.B) {
			p := benchParams(b, preset)
			n := p.Cfg.ContextLen
			toks := benchTokens(n, p.Cfg.VocabSize)
			logits := make([]float32, p.Cfg.VocabSize)
			c := NewCache(p.Cfg, 0)
			b.ResetTimer()
			cpu0 := cpuSeconds()
			for i := 0; i < b.N; i++ {
				c.Reset()
				for _, tok := range toks {
					if err := Forward(p, nil, c, []int{tok}, logits); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tok/s")
			if cpu := cpuSeconds() - cpu0; cpu > 0 {
				b.ReportMetric(float64(n*b.N)/cpu, "tok/cpu-s")
			}
		})
	}
}

// BenchmarkGrad reports forward+backward tokens per second on one core.
func BenchmarkGrad(b *testing.B) {
	for _, preset := range []string{"1m", "10m"} {
		b.Run(preset, func(b *testing.B) {
			p := benchParams(b, preset)
			n := p.Cfg.ContextLen
			toks := benchTokens(n+1, p.Cfg.VocabSize)
			ws := NewWorkspace(p.Cfg, n, 0)
			g := NewParams(p.Cfg)
			b.ResetTimer()
			cpu0 := cpuSeconds()
			for i := 0; i < b.N; i++ {
				if _, _, err := Grad(p, nil, ws, toks, g, nil, 1); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tok/s")
			if cpu := cpuSeconds() - cpu0; cpu > 0 {
				b.ReportMetric(float64(n*b.N)/cpu, "tok/cpu-s")
			}
		})
	}
}
