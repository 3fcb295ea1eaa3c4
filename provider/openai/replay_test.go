package openai_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	sdkmath "cosmossdk.io/math"
	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"

	"github.com/openledger/openledger/inference/batchrecord"
	"github.com/openledger/openledger/provider/executor"
	"github.com/openledger/openledger/provider/openai"
	"github.com/openledger/openledger/provider/openai/openaitest"
	"github.com/openledger/openledger/provider/sessions"
)

// capturing is a Generator that records what PoolEngine passes to the pool.
type capturing struct {
	mu   sync.Mutex
	seen []executor.Generation
}

func (c *capturing) Generate(_ context.Context, g executor.Generation) (executor.Generated, error) {
	c.mu.Lock()
	c.seen = append(c.seen, g)
	c.mu.Unlock()
	out := []byte("ok")
	return executor.Generated{Result: executor.Result{
		Output: out, OutputCID: sessions.RawCID(out), PromptTokens: 3, CompletionTokens: 1, EngineName: "fake", EngineVersion: "1",
	}, ModelID: 1, ModelVersion: 1, FinishReason: "stop"}, nil
}

func (c *capturing) last(t *testing.T) executor.Generation {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seen) == 0 {
		t.Fatal("the pool was not called")
	}
	return c.seen[len(c.seen)-1]
}

// TestReplayGenerationIsTheServedOne serves chat and completions bodies
// through the real HTTP handler and PoolEngine, and checks that
// ReplayGeneration of each body, endpoint and applied cap is the generation
// the pool received (but for the label and the queue wait).
func TestReplayGenerationIsTheServedOne(t *testing.T) {
	chain := openaitest.NewChain()
	chain.SetCompute(operator, compute)
	key, _, err := libp2pcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	m, err := sessions.Open(t.TempDir(), sessions.Config{ChainID: openaitest.ChainID, Operator: operator, NoSync: true},
		chain.For(operator), recordsFunc(func(b []byte) string { return sessions.RawCID(b) }), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	pool := &capturing{}
	const defMax = 40
	srv := openai.New(openai.Config{Operator: operator, DefaultMaxTokens: defMax}, &openai.PoolEngine{Pool: pool, Offered: []uint64{7}}, m, nil)
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	pub, sk, _ := ed25519.GenerateKey(rand.Reader)
	pay := &payer{id: chain.OpenSession("open1req", operator, 7, 10_000_000, royalty, pub), sk: sk,
		price: sessions.Price{Compute: sdkmath.NewInt(compute), Royalty: sdkmath.NewInt(royalty)}}

	cases := []struct {
		name, path, endpoint, body string
		applied                    uint64
	}{
		{"chat with params", "/v1/chat/completions", batchrecord.EndpointChat,
			`{"model":"7","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hello "},{"type":"text","text":"there"}]}],"max_tokens":12,"temperature":0.5,"top_p":0.9,"top_k":5,"seed":42,"stop":["END"],"stream":true}`, 12},
		{"chat defaults", "/v1/chat/completions", batchrecord.EndpointChat,
			`{"model":"7","messages":[{"role":"user","content":"hi"}]}`, defMax},
		{"completions", "/v1/completions", batchrecord.EndpointCompletions,
			`{"model":"7","prompt":["once upon a time"],"max_completion_tokens":9,"stop":"\n","temperature":0}`, 9},
		{"completions defaults", "/v1/completions", batchrecord.EndpointCompletions,
			`{"model":"7","prompt":"the end"}`, defMax},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, hs.URL+c.path, strings.NewReader(c.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(openai.HeaderVoucher, pay.next(t, 1000))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			rc := resp.Header.Get(openai.HeaderReceipt)
			if rc == "" {
				rc = lastReceipt(t, b)
			}
			r := pay.take(t, &openaitest.Provider{PeerID: peerID(t, key)}, rc, []byte("ok"))
			if r.RequestSHA256 != sha256.Sum256([]byte(c.body)) {
				t.Fatal("the receipt does not sign the body's sha256")
			}
			tr, err := m.Transcript(pay.id, r.RequestSeq)
			if err != nil {
				t.Fatal(err)
			}
			want := sessions.Transcript{Endpoint: c.endpoint, MaxTokens: c.applied, Body: []byte(c.body), Output: []byte("ok")}
			if !reflect.DeepEqual(tr, want) {
				t.Fatalf("transcript %+v, want %+v", tr, want)
			}
			served := pool.last(t)
			replay, err := openai.ReplayGeneration(c.endpoint, []byte(c.body), c.applied)
			if err != nil {
				t.Fatal(err)
			}
			if replay.Label != openai.ReplayLabel || replay.QueueWait != 0 {
				t.Fatalf("replay label %q queue wait %s", replay.Label, replay.QueueWait)
			}
			if served.QueueWait == 0 || !strings.HasPrefix(served.Label, "api request") {
				t.Fatalf("served label %q queue wait %s", served.Label, served.QueueWait)
			}
			served.Label, served.QueueWait = replay.Label, 0
			if !reflect.DeepEqual(served, replay) {
				t.Fatalf("replay differs from the served generation:\nserved %+v\nreplay %+v", served, replay)
			}
		})
	}
}

func TestReplayGenerationRejects(t *testing.T) {
	chat := `{"model":"7","messages":[{"role":"user","content":"hi"}],"max_tokens":12}`
	cases := []struct {
		name, endpoint, body string
		max                  uint64
	}{
		{"unknown endpoint", "embeddings", chat, 12},
		{"cap differs from the body's", batchrecord.EndpointChat, chat, 13},
		{"zero cap", batchrecord.EndpointChat, `{"model":"7","messages":[{"role":"user","content":"hi"}]}`, 0},
		{"chat body on completions", batchrecord.EndpointCompletions, chat, 12},
		{"completions body on chat", batchrecord.EndpointChat, `{"model":"7","prompt":"x"}`, 5},
		{"not json", batchrecord.EndpointChat, `{"model":`, 5},
		{"bad model", batchrecord.EndpointCompletions, `{"model":"gpt-4","prompt":"x"}`, 5},
		{"n=2", batchrecord.EndpointCompletions, `{"model":"7","prompt":"x","n":2}`, 5},
		{"temperature out of range", batchrecord.EndpointCompletions, `{"model":"7","prompt":"x","temperature":3}`, 5},
	}
	for _, c := range cases {
		if _, err := openai.ReplayGeneration(c.endpoint, []byte(c.body), c.max); !errors.Is(err, openai.ErrReplay) {
			t.Errorf("%s: err %v, want ErrReplay", c.name, err)
		}
	}
}

type recordsFunc func([]byte) string

func (f recordsFunc) Add(_ context.Context, b []byte) (string, error) { return f(b), nil }

// lastReceipt is the receipt of a streamed response's last chunk.
func lastReceipt(t *testing.T, sse []byte) string {
	t.Helper()
	for _, ev := range readSSE(t, bytes.NewReader(sse)) {
		var c struct{ Openledger *openai.Extension }
		if json.Unmarshal(ev, &c) == nil && c.Openledger != nil {
			return c.Openledger.Receipt
		}
	}
	t.Fatalf("no receipt in %s", sse)
	return ""
}
