package lora

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/tokenizer"
)

func demoBase(b *testing.B) *checkpoint.Model {
	cfg, err := model.Preset("1m", 256)
	if err != nil {
		b.Fatal(err)
	}
	p, err := model.New(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	return &checkpoint.Model{Params: p, Tok: tokenizer.NewByte()}
}

// BenchmarkAdapterSwitch loads 1,000 rank-8 adapters (attention q/k/v and
// output projections) over the ~1M-parameter base and measures selecting one
// per request, then runs one decode step with it (the first token of a
// request after a switch).
func BenchmarkAdapterSwitch(b *testing.B) {
	m := demoBase(b)
	cfg := m.Params.Cfg
	reg := NewRegistry(m, 0)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const n = 1000
	for i := 0; i < n; i++ {
		a, err := model.NewAdapter(cfg, model.AdapterConfig{Rank: 8, Alpha: 16, Targets: model.DefaultTargets})
		if err != nil {
			b.Fatal(err)
		}
		a.Init(uint64(i))
		if err := reg.Add(fmt.Sprintf("adapter-%04d", i), a); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heapPer := float64(after.HeapAlloc-before.HeapAlloc) / n
	paramPer := float64(reg.ResidentBytes()) / n
	b.Run("lookup", func(b *testing.B) {
		b.ReportMetric(heapPer, "heap-B/adapter")
		b.ReportMetric(paramPer, "param-B/adapter")
		for i := 0; i < b.N; i++ {
			if _, err := reg.Get(fmt.Sprintf("adapter-%04d", i%n)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("lookup+decode-step", func(b *testing.B) {
		c := model.NewCache(cfg, 8)
		logits := make([]float32, cfg.VocabSize)
		for i := 0; i < b.N; i++ {
			a, err := reg.Get(fmt.Sprintf("adapter-%04d", i%n))
			if err != nil {
				b.Fatal(err)
			}
			c.Reset()
			if err := model.Forward(m.Params, a, c, []int{65}, logits); err != nil {
				b.Fatal(err)
			}
		}
	})
}
