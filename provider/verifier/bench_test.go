package verifier

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/ipfs/boxo/files"

	"github.com/openledger/openledger/provider/executor"
	"github.com/openledger/openledger/provider/openai"
	"github.com/openledger/openledger/provider/verifier/verifiertest"
	"github.com/openledger/openledger/storage"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// BenchmarkAudit is the cost of a committee member's audit against the
// original inference, both warm (artifacts cached, weights and index
// resident), for the tiny model with its span index and 64 new tokens:
//
//   - reexecute: Verify of its receipt on the built-in engine: re-execution,
//     attribution recomputed, summary, CIDs and counts compared.
//   - score: Verify of the same receipt claimed by an external engine: the
//     output fetched and scored teacher-forced, recounted, attributed.
//
// Each is interleaved with the provider's original Execute of the job, its
// output and record added and pinned on the on-disk repo (repo) or on an
// in-memory node (memory: no disk syncs competing for the CPU); orig-engine-ns/op is
// that execution's engine time, audit-ns/op the audit's whole time and
// x-engine their ratio (target ≤ 1.1 per committee member); x-own-engine is
// the audit's whole time over its own engine time (the re-execution or
// scoring), which does not depend on how loaded the machine was during the
// other run. ns/op counts both runs.
//
//	go test ./provider/verifier -run '^$' -bench Audit -benchtime 50x
func BenchmarkAudit(b *testing.B) {
	w := getWorld(b)
	ctx := context.Background()
	provCache := b.TempDir()
	prov := w.NewPoolOn(b, w.St, provCache)
	j := w.Job(vSpan)
	j.MaxTokens = 29 + 64
	j.Params = inferencetypes.GenerationParams{TemperatureMilli: 800, TopK: 40, TopPPpm: 950_000, Seed: 1}
	res, err := prov.Execute(ctx, execJob(j)) // fetch into the cache
	if err != nil {
		b.Fatal(err)
	}
	r := receiptOf(j, res)
	v, err := New(w.NewPool(b), fakeChain(j, r), w.St, Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	if vd, err := v.Verify(ctx, j, r); err != nil || !vd.OK() { // load into memory
		b.Fatal(vd.String(), err)
	}
	ext := r
	ext.EngineName, ext.EngineVersion = "vllm", "0.6.3"

	// The provider's pool on an in-memory IPFS node (its cache warm): its
	// Execute without the disk syncs of pinning.
	mem, err := storage.NewMemoryNode(ctx, storage.DefaultConfig(), storage.OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer mem.Close()
	if _, err := mem.Add(ctx, files.NewBytesFile(w.Prompt), storage.AddOptions{}); err != nil {
		b.Fatal(err)
	}
	memProv := w.NewPoolOn(b, mem, provCache)
	if _, err := memProv.Execute(ctx, execJob(j)); err != nil {
		b.Fatal(err)
	}

	// Each iteration runs the original inference and then its audit, so that
	// the load of a shared machine weighs on both alike.
	audit := func(name string, prov *executor.Pool, rc inferencetypes.Receipt, method string) {
		b.Run(name, func(b *testing.B) {
			var orig, spent, inEngine time.Duration
			for i := 0; i < b.N; i++ {
				before := prov.Stats().Engine
				if _, err := prov.Execute(ctx, execJob(j)); err != nil {
					b.Fatal(err)
				}
				orig += prov.Stats().Engine - before
				vd, err := v.Verify(ctx, j, rc)
				if err != nil || !vd.OK() || vd.Method != method {
					b.Fatal(vd.String(), err)
				}
				spent += vd.Total
				inEngine += vd.Engine
			}
			n := time.Duration(b.N)
			b.ReportMetric(float64((orig / n).Nanoseconds()), "orig-engine-ns/op")
			b.ReportMetric(float64((spent / n).Nanoseconds()), "audit-ns/op")
			b.ReportMetric(float64((inEngine / n).Nanoseconds()), "audit-engine-ns/op")
			b.ReportMetric(float64(spent)/float64(orig), "x-engine")
			b.ReportMetric(float64(spent)/float64(inEngine), "x-own-engine")
		})
	}
	audit("reexecute/repo", prov, r, MethodReexecute)
	audit("reexecute/memory", memProv, r, MethodReexecute)
	audit("score/repo", prov, ext, MethodScore)
	audit("score/memory", memProv, ext, MethodScore)
}

// BenchmarkSettlementAudit is the cost of a committee member's verification
// of a session settlement (VerifySettlement: the batch record fetched and
// checked, every covered request replayed, re-executed on the built-in
// engine, recounted and re-attributed, the merge compared) against the
// provider's original serving of the same requests (Pool.Generate of each:
// generation, output and record added and pinned, attribution), per request,
// both warm. The fixture's session: 3 covered requests (chat and completions,
// 24–30 new tokens, temperature 0.8–1), span-attributed. Each iteration serves
// the requests again and then verifies the settlement; serve-ns/request is the
// original serving's wall time, verify-ns/request the verification's,
// verify-engine-ns/request its engine time, x-serve their ratio and
// x-own-engine the verification's wall time over its own engine time.
//
//	go test ./provider/verifier -run '^$' -bench SettlementAudit -benchtime 50x
func BenchmarkSettlementAudit(b *testing.B) {
	w := getWorld(b)
	ctx := context.Background()
	s := w.Serve(b, 3)
	rec := s.Record(b)
	st := w.Settle(b, rec, verifiertest.Encode(b, rec))
	prov := w.NewPool(b)
	serve := func() time.Duration {
		t0 := time.Now()
		for _, q := range s.Requests {
			g, err := openai.ReplayGeneration(q.Endpoint, q.Body, q.MaxTokens)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := prov.Generate(ctx, g); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	serve() // fetch into the provider's cache
	v, err := New(w.NewPool(b), s.SessionChain(st), w.St, Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	if sv, err := v.VerifySettlement(ctx, st.Id); err != nil || !sv.OK() { // load into memory
		b.Fatal(sv.String(), err)
	}
	b.ResetTimer()
	var orig, spent, inEngine time.Duration
	for i := 0; i < b.N; i++ {
		orig += serve()
		sv, err := v.VerifySettlement(ctx, st.Id)
		if err != nil || !sv.OK() {
			b.Fatal(sv.String(), err)
		}
		spent += sv.Total
		inEngine += sv.Engine
	}
	n := time.Duration(b.N * len(s.Requests))
	b.ReportMetric(float64((orig / n).Nanoseconds()), "serve-ns/request")
	b.ReportMetric(float64((spent / n).Nanoseconds()), "verify-ns/request")
	b.ReportMetric(float64((inEngine / n).Nanoseconds()), "verify-engine-ns/request")
	b.ReportMetric(float64(spent)/float64(orig), "x-serve")
	b.ReportMetric(float64(spent)/float64(inEngine), "x-own-engine")
}
