package influence

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/openledger/openledger/attribution/record"
	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/rng"
	"github.com/openledger/openledger/ml/tokenizer"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkInfluenceQuery1000 times an influence query of a 256-token
// output against 1,000 contributions of 16 example windows each (16,000
// sketches, dimension 512, two checkpoints) over the tiny preset with a
// rank-4 LoRA on qkv and o:
//
//	go test ./attribution/influence -run XXX -bench InfluenceQuery -benchtime 10x
func BenchmarkInfluenceQuery1000(b *testing.B) {
	tok := tokenizer.NewByte()
	cfg, _ := model.Preset("tiny", tok.VocabSize())
	p, err := model.New(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	r := rng.New(3)
	var cks []Checkpoint
	for k := 0; k < 2; k++ {
		a, err := model.NewAdapter(cfg, model.AdapterConfig{Rank: 4, Alpha: 8, Targets: model.DefaultTargets})
		if err != nil {
			b.Fatal(err)
		}
		for i := range a.Data {
			a.Data[i] = float32(r.Float64()-0.5) * 0.02
		}
		cks = append(cks, Checkpoint{Adapter: a, Weight: 1000})
	}
	const contribs, per, dim = 1000, 16, 512
	s := &Sketches{TokenizerDigest: tok.Digest(), Params: Params{SketchDim: dim, Seed: 1, SeqLen: 32, Stride: 8}}
	for k := range cks {
		s.Checkpoints = append(s.Checkpoints, CheckpointRef{Weight: cks[k].Weight})
		s.mu = append(s.mu, make([]int32, dim))
		sk := make([]int16, contribs*per*dim)
		for i := range sk {
			sk[i] = int16(r.Intn(2048) - 1024)
		}
		s.sk = append(s.sk, sk)
	}
	for c := 0; c < contribs; c++ {
		s.ContribIDs = append(s.ContribIDs, uint64(c+1))
		s.contribFirst = append(s.contribFirst, uint32(c*per))
		s.contribCount = append(s.contribCount, per)
	}
	s.shared = make([]uint32, contribs*per)
	for i := range s.shared {
		s.shared[i] = 1
	}
	src := Source{Sketches: s, Base: &checkpoint.Model{Params: p, Tok: tok}, Checkpoints: cks,
		CheckpointArtifacts: make([]record.Artifact, len(cks))}
	out := make([]byte, 256) // 256 tokens with the byte tokenizer
	for i := range out {
		out[i] = byte('a' + r.Intn(26))
	}
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := Attribute(context.Background(), src, record.ModelRef{}, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/query")
	b.ReportMetric((cpuTime()-c0).Seconds()*1e3/float64(b.N), "cpu-ms/query")
}
