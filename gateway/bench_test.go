package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/openledger/openledger/provider/openai"
	"github.com/openledger/openledger/provider/openai/openaitest"
	"github.com/openledger/openledger/provider/sessions"
)

// TestInteractiveBenchmark measures requests/s and latency through gateway →
// provider (real vouchers, receipts and fsynced stores, a fake engine of a
// fixed per-token time) against calling the engine directly. Run with
//
//	OPENLEDGER_BENCH=1 go test ./gateway/ -run TestInteractiveBenchmark -v -count 1
//
// OPENLEDGER_BENCH_TOKEN_MS sets the engine's time per token (default 2 ms).
func TestInteractiveBenchmark(t *testing.T) {
	if os.Getenv("OPENLEDGER_BENCH") == "" {
		t.Skip("set OPENLEDGER_BENCH=1")
	}
	perToken := 2 * time.Millisecond
	if v := os.Getenv("OPENLEDGER_BENCH_TOKEN_MS"); v != "" {
		var ms float64
		fmt.Sscan(v, &ms)
		perToken = time.Duration(ms * float64(time.Millisecond))
	}
	const n, words = 300, 16
	prompt := strings.Repeat("tok ", words)
	eng := &openaitest.Engine{IDs: []uint64{deployment}, Delay: perToken}
	w := newWorld(t)
	// fsync on (OPENLEDGER_BENCH_NOSYNC=1: off on the provider, to see its cost)
	p := openaitest.StartProviderWith(t, w.chain, "open1bench", 1000, eng, "", sessions.Config{NoSync: os.Getenv("OPENLEDGER_BENCH_NOSYNC") != ""})
	w.gc.offers = append(w.gc.offers, offerOf(p, 1000))
	_, hs := w.gateway(t.TempDir())
	body := fmt.Sprintf(`{"model":"tiny","prompt":%q,"max_tokens":%d}`, prompt, words)

	direct := make([]time.Duration, n)
	for i := range direct {
		start := time.Now()
		if _, err := eng.Generate(context.Background(), openai.GenRequest{Prompt: prompt, MaxTokens: words}, func(string) error { return nil }); err != nil {
			t.Fatal(err)
		}
		direct[i] = time.Since(start)
	}
	// Warm up (session opening) outside the measurement.
	if st, _, raw := call(t, hs.URL, "/v1/completions", body); st != 200 {
		t.Fatalf("%d %s", st, raw)
	}
	via := make([]time.Duration, n)
	t0 := time.Now()
	for i := range via {
		start := time.Now()
		resp, err := http.Post(hs.URL+"/v1/completions", "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("request %d: %v %v", i, err, resp)
		}
		_, _ = io_Discard(resp)
		via[i] = time.Since(start)
	}
	elapsed := time.Since(t0)
	pct := func(d []time.Duration, q float64) time.Duration {
		s := append([]time.Duration(nil), d...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[int(q*float64(len(s)-1))]
	}
	d50, v50, v99 := pct(direct, .5), pct(via, .5), pct(via, .99)
	t.Logf("engine: %d tokens × %s", words, perToken)
	t.Logf("direct engine call:     p50 %s  p99 %s", d50, pct(direct, .99))
	t.Logf("gateway → provider:     p50 %s  p99 %s  %.1f req/s (sequential, one session)", v50, v99, float64(n)/elapsed.Seconds())
	t.Logf("overhead per request:   p50 %s (%.1f %%)", v50-d50, 100*float64(v50-d50)/float64(d50))
}
