package openai_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdkmath "cosmossdk.io/math"
	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/tokenizer"
	"github.com/openledger/openledger/provider/backend"
	"github.com/openledger/openledger/provider/openai"
	"github.com/openledger/openledger/provider/openai/openaitest"
	"github.com/openledger/openledger/provider/sessions"
)

// asciiModel is a small byte-level model with seeded random weights whose
// output is pushed onto ASCII (the bytes ≥ 0x80 get logits far below), so
// that its completions are text a JSON API can carry unchanged.
func asciiModel(t *testing.T) *checkpoint.Model {
	t.Helper()
	cfg := model.Config{VocabSize: 256, ContextLen: 96, DModel: 32, NLayers: 2, NHeads: 2, DFF: 64, Positions: model.PositionsLearned, LNEps: 1e-5}
	p, err := model.New(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range p.Data {
		p.Data[i] *= 8 // logits far from uniform
	}
	for j := range p.LNFB {
		p.LNFG[j], p.LNFB[j] = 0.5, 1
	}
	for i := 128; i < cfg.VocabSize; i++ {
		for j := range cfg.DModel {
			p.Wte[i*cfg.DModel+j] -= 50
		}
	}
	b, err := checkpoint.MarshalModel(p, tokenizer.NewByte())
	if err != nil {
		t.Fatal(err)
	}
	m, err := checkpoint.ParseModel(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// builtinEngine serves deployment 7 with the built-in backend over resident
// weights, streaming as PoolEngine does (backend.WithStream).
type builtinEngine struct{ m *checkpoint.Model }

func (builtinEngine) Deployments(context.Context) ([]uint64, error) { return []uint64{7}, nil }

func (e builtinEngine) Generate(ctx context.Context, req openai.GenRequest, emit func(string) error) (openai.GenResult, error) {
	ctx = backend.WithStream(ctx, func(p string) { _ = emit(p) })
	r, err := backend.NewBuiltin("").Generate(ctx, backend.Request{Prompt: req.Prompt, Weights: &backend.Weights{Base: e.m},
		Params: req.Params, MaxNewTokens: int(req.MaxTokens)})
	if err != nil {
		return openai.GenResult{}, err
	}
	return openai.GenResult{Output: r.Output, PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens,
		FinishReason: r.FinishReason, EngineName: r.EngineName, EngineVersion: r.EngineVersion, ModelID: 1, ModelVersion: 1}, nil
}

type records struct{}

func (records) Add(_ context.Context, b []byte) (string, error) { return sessions.RawCID(b), nil }

// A streamed completion from the built-in engine arrives token by token: more
// than one content chunk, whose concatenation is the non-streamed output for
// the same seed (and the receipted output).
func TestBuiltinStreamsTokenByToken(t *testing.T) {
	chain := openaitest.NewChain()
	chain.SetCompute(operator, compute)
	key, _, err := libp2pcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sm, err := sessions.Open(t.TempDir(), sessions.Config{NoSync: true, ChainID: openaitest.ChainID, Operator: operator}, chain.For(operator), records{}, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	hs := httptest.NewServer(openai.New(openai.Config{Operator: operator}, builtinEngine{asciiModel(t)}, sm, nil).Handler())
	defer hs.Close()
	pub, sk, _ := ed25519.GenerateKey(rand.Reader)
	pay := &payer{id: chain.OpenSession("open1req", operator, 7, 10_000_000, royalty, pub), sk: sk,
		price: sessions.Price{Compute: sdkmath.NewInt(compute), Royalty: sdkmath.NewInt(royalty)}}
	prov := &openaitest.Provider{PeerID: peerID(t, key)}
	const maxTok = 24
	post := func(chat, stream bool) (*http.Response, uint64) {
		path, body := "/v1/completions", `{"model":"7","prompt":"Once upon a time","max_tokens":24,"seed":11,"temperature":1,"stream":`
		bound := openai.PromptBound(false, "Once upon a time", nil)
		if chat {
			path, body = "/v1/chat/completions", `{"model":"7","messages":[{"role":"user","content":"Once upon a time"}],"max_tokens":24,"seed":11,"temperature":1,"stream":`
			bound = openai.PromptBound(true, "", []openai.Message{{Role: "user", Content: "Once upon a time"}})
		}
		if stream {
			body += "true}"
		} else {
			body += "false}"
		}
		req, _ := http.NewRequest(http.MethodPost, hs.URL+path, strings.NewReader(body))
		req.Header.Set(openai.HeaderVoucher, pay.next(t, bound+maxTok))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		return resp, bound
	}
	for _, chat := range []bool{false, true} {
		resp, _ := post(chat, false)
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var whole struct {
			Choices []struct {
				Text    string
				Message struct{ Content string }
			}
		}
		if err := json.Unmarshal(raw, &whole); err != nil || len(whole.Choices) != 1 {
			t.Fatalf("body %s: %v", raw, err)
		}
		want := whole.Choices[0].Text + whole.Choices[0].Message.Content
		pay.take(t, prov, resp.Header.Get(openai.HeaderReceipt), []byte(want))

		resp, _ = post(chat, true)
		events := readSSE(t, resp.Body)
		resp.Body.Close()
		var pieces []string
		var receipt string
		for _, ev := range events {
			var c struct {
				Choices []struct {
					Text  string
					Delta *struct{ Content *string }
				}
				Openledger *openai.Extension
			}
			if err := json.Unmarshal(ev, &c); err != nil {
				t.Fatalf("event %s: %v", ev, err)
			}
			for _, ch := range c.Choices {
				piece := ch.Text
				if ch.Delta != nil && ch.Delta.Content != nil {
					piece = *ch.Delta.Content
				}
				if piece != "" {
					pieces = append(pieces, piece)
				}
			}
			if c.Openledger != nil {
				receipt = c.Openledger.Receipt
			}
		}
		got := strings.Join(pieces, "")
		if got != want || len(want) == 0 {
			t.Fatalf("chat %v: streamed %q, non-streamed %q", chat, got, want)
		}
		if len(pieces) < 2 {
			t.Fatalf("chat %v: %d content chunks for %q: the engine did not stream", chat, len(pieces), want)
		}
		pay.take(t, prov, receipt, []byte(got))
		t.Logf("chat %v: %d chunks, %q", chat, len(pieces), got)
	}
}

func peerID(t *testing.T, key libp2pcrypto.PrivKey) string {
	t.Helper()
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}
