package executor

import (
	"context"
	"log/slog"
	"testing"

	"github.com/ipfs/boxo/files"

	"github.com/openledger/openledger/attribution"
	"github.com/openledger/openledger/provider/backend"
	"github.com/openledger/openledger/storage"
)

// BenchmarkExecute runs a cached job of the tiny model with the span index end
// to end (input from IPFS, 64 new tokens, output and record added and pinned,
// attribution, summary) and reports the daemon's time beyond the engine's own
// (Backend.Generate) as overhead-% of the engine time.
//
//   - repo: the provider's real on-disk IPFS repo (each pin is a durable,
//     synced write: this part depends on the disk).
//
//   - memory: an in-memory IPFS node, the same pool otherwise: the daemon's own
//     work without disk syncs.
//
//     go test ./provider/executor -run '^$' -bench Execute -benchtime 50x
func BenchmarkExecute(b *testing.B) {
	w := getWorld(b)
	warm := newPool(b, w, Config{}, nil)
	job := w.job(vSpan)
	job.MaxTokens = 29 + 64                                            // the prompt and 64 new tokens
	if _, err := warm.Execute(context.Background(), job); err != nil { // fetch into the cache
		b.Fatal(err)
	}
	b.Run("repo", func(b *testing.B) { benchExecute(b, warm, job) })
	b.Run("memory", func(b *testing.B) {
		mem, err := storage.NewMemoryNode(context.Background(), storage.DefaultConfig(), storage.OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer mem.Close()
		if _, err := mem.Add(context.Background(), files.NewBytesFile(w.prompt), storage.AddOptions{}); err != nil {
			b.Fatal(err)
		}
		p, err := New(Config{CacheDir: warm.cfg.CacheDir, Span: attribution.SpanParams{MinSpanTokens: 3, MaxOccurrences: 64}},
			Deps{Storage: mem, Models: w.chain, Backends: []backend.Backend{backend.NewBuiltin("")}}, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		if _, err := p.Execute(context.Background(), job); err != nil { // load into memory
			b.Fatal(err)
		}
		benchExecute(b, p, job)
	})
}

func benchExecute(b *testing.B, p *Pool, job Job) {
	ctx := context.Background()
	before := p.Stats()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		job.Params.Seed = uint64(i)
		if _, err := p.Execute(ctx, job); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	after := p.Stats()
	if after.Fetches != before.Fetches || after.Loads != before.Loads {
		b.Fatalf("refetched or reloaded: %+v then %+v", before, after)
	}
	total, engine := after.Total-before.Total, after.Engine-before.Engine
	b.ReportMetric(float64(engine.Nanoseconds())/float64(b.N), "engine-ns/op")
	b.ReportMetric(100*float64(total-engine)/float64(engine), "overhead-%")
}
