package daemon_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	gwcmd "github.com/openledger/openledger/cmd/openledgerd/porcelain/gateway"
	"github.com/openledger/openledger/gateway"
	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/config"
	"github.com/openledger/openledger/provider/daemon"
	"github.com/openledger/openledger/provider/internal/chaintest"
	"github.com/openledger/openledger/provider/openai"
	"github.com/openledger/openledger/provider/receipts"
	"github.com/openledger/openledger/provider/sessions"
	"github.com/openledger/openledger/testutil/e2e"
)

// echoEngine answers with the prompt's words, one token each, and credits the
// deployment's dataset version pool.
type echoEngine struct {
	dep       uint64
	datanetID uint64
}

func (e echoEngine) Deployments(context.Context) ([]uint64, error) { return []uint64{e.dep}, nil }

func (e echoEngine) Generate(_ context.Context, req openai.GenRequest, emit func(string) error) (openai.GenResult, error) {
	src := req.Prompt
	if req.Chat {
		src = req.Messages[len(req.Messages)-1].Content
	}
	var out strings.Builder
	var n uint64
	for _, w := range strings.Fields(src) {
		if n == req.MaxTokens {
			break
		}
		out.WriteString(w + " ")
		_ = emit(w + " ")
		n++
	}
	rec := []byte("record: pool 100%")
	sum := sha256.Sum256(rec)
	return openai.GenResult{
		Output: []byte(out.String()), PromptTokens: uint64(len(strings.Fields(req.Prompt))), CompletionTokens: n,
		FinishReason: "stop", EngineName: config.EngineBuiltin, EngineVersion: "test", ModelID: 1, ModelVersion: 1,
		RecordCID: sessions.RawCID(rec),
		Summary: voucher.Summary{RecordSha256: hex.EncodeToString(sum[:]),
			Pools: []voucher.PoolEntry{{DatanetID: e.datanetID, Version: 1, Ppm: voucher.PpmScale}}},
	}, nil
}

// apiURLs fills in the API URL the test daemons do not register on chain.
type apiURLs struct {
	*gwcmd.Chain
	urls map[string]string
}

func (a apiURLs) Offers(ctx context.Context, dep uint64) ([]gateway.Offer, error) {
	os, err := a.Chain.Offers(ctx, dep)
	for i := range os {
		if os[i].APIURL == "" {
			os[i].APIURL = a.urls[os[i].Operator]
		}
	}
	return os, err
}

// TestGatewayOnChain: a provider daemon serves the OpenAI API; N requests go
// through the gateway with a plain HTTP client (streamed and not), the gateway
// opens one session, sends its final voucher, and the daemon settles it in
// one transaction; the session's accounting and the requester's balance are
// exact.
func TestGatewayOnChain(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts a chain")
	}
	const n = 1000
	m := newMarket(t)
	dep, _ := strconv.ParseUint(m.dep, 10, 64)
	path := m.providerConfig(t, "frank", "200uopen")
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(filepath.Dir(path), "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		logf.Close()
		if t.Failed() {
			t.Logf("daemon log:\n%s", tail(logf.Name()))
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan daemon.Info, 1)
	go func() {
		done <- daemon.Run(ctx, cfg, daemon.Deps{
			ConfigPath: path, Logger: slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Listen: "127.0.0.1:0", BlockTime: 200 * time.Millisecond, FollowerPollInterval: 200 * time.Millisecond,
			ScanInterval: 200 * time.Millisecond,
			NewExecutor: func(_ context.Context, env daemon.ExecEnv) (receipts.Executor, error) {
				return &fakeExecutor{env: env, datanetID: m.datanetID, calls: &atomic.Int64{}}, nil
			},
			API: "127.0.0.1:0",
			NewEngine: func(context.Context, daemon.ExecEnv) (openai.Engine, error) {
				return echoEngine{dep: dep, datanetID: m.datanetID}, nil
			},
			// Only the final voucher triggers a settlement.
			Sessions: sessions.Config{Threshold: sdkmath.NewInt(1 << 50), Interval: time.Hour, ScanInterval: 200 * time.Millisecond},
			OnReady:  func(i daemon.Info) { ready <- i },
		})
	}()
	var info daemon.Info
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatalf("daemon: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("daemon not ready")
	}
	t.Cleanup(func() { cancel(); <-done })
	if info.APIURL == "" {
		t.Fatal("no API URL")
	}

	gina := m.c.Address("gina")
	balance := func(addr string) sdkmath.Int {
		var b struct {
			Balance struct{ Amount string } `json:"balance"`
		}
		m.c.MustQuery(&b, "bank", "balance", addr, "uopen")
		v, _ := sdkmath.NewIntFromString(b.Balance.Amount)
		return v
	}
	before := balance(gina)
	cl := chaintest.Client(t, m.c, "gina", nil)
	chain := apiURLs{Chain: &gwcmd.Chain{Client: cl, ID: e2e.ChainID, ExpiryBlocks: 500}, urls: map[string]string{m.frank: info.APIURL}}
	const deposit = 2_000_000
	g, err := gateway.New(gateway.Config{Home: t.TempDir(), Budget: sdk.NewInt64Coin("uopen", 10_000_000), Deposit: sdkmath.NewInt(deposit),
		Aliases: map[string]uint64{"proverbs": dep}}, chain, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(g.Handler())
	defer hs.Close()

	start := time.Now()
	for i := range n {
		var body, path string
		stream := i%2 == 1
		if i%4 < 2 {
			path, body = "/v1/completions", `{"model":"proverbs","prompt":"still waters run deep","max_tokens":8,"stream":`+strconv.FormatBool(stream)+`}`
		} else {
			path, body = "/v1/chat/completions", `{"model":"proverbs","messages":[{"role":"user","content":"a stitch in time"}],"max_tokens":8,"stream":`+strconv.FormatBool(stream)+`}`
		}
		resp, err := http.Post(hs.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
		}
		if stream {
			sc := bufio.NewScanner(resp.Body)
			last := ""
			for sc.Scan() {
				if sc.Text() != "" {
					last = sc.Text()
				}
			}
			if last != "data: [DONE]" {
				t.Fatalf("request %d: stream ends with %q", i, last)
			}
		} else {
			var out map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatal(err)
			}
		}
		resp.Body.Close()
	}
	elapsed := time.Since(start)
	t.Logf("%d requests through the gateway in %s (%.0f req/s)", n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())

	g.FinaliseIdle(true)
	type sessionJSON struct {
		Session struct {
			Deposit         struct{ Amount string } `json:"deposit"`
			SettledAmount   string                  `json:"settled_amount"`
			SettledTokens   string                  `json:"settled_tokens"`
			SettledRequests string                  `json:"settled_requests"`
			Settlements     string                  `json:"settlements"`
			Paid            string                  `json:"paid"`
			Status          string                  `json:"status"`
		} `json:"session"`
	}
	var s sessionJSON
	deadline := time.Now().Add(60 * time.Second)
	for {
		m.c.MustQuery(&s, "inference", "session", "1")
		if s.Session.Paid != "" && s.Session.Paid != "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session not settled and paid: %+v", s.Session)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Requests: completions "still waters run deep" = 4 + 4 tokens (prompt bound
	// 21, max 8); chat = 6 + 4 tokens (the fake counts the rendered prompt's
	// words: "<|user|>", "a", "stitch", "in", "time", "<|assistant|>"), prompt
	// bound 4+16+8+14 = 42, max 8.
	if s.Session.SettledRequests != strconv.Itoa(n) || s.Session.Settlements != "1" {
		t.Fatalf("settlements %s for %s requests, want 1 for %d", s.Session.Settlements, s.Session.SettledRequests, n)
	}
	tokens, _ := strconv.ParseUint(s.Session.SettledTokens, 10, 64)
	served := uint64(n/2*(4+4) + n/2*(6+4))
	if tokens < served || tokens-served > 40 { // the largest unused reservation: chat, 42 + 8 − 10
		t.Fatalf("settled %d tokens for %d served (overpay above one reservation)", tokens, served)
	}
	price := sessions.Price{Compute: sdkmath.NewInt(200), Royalty: sdkmath.NewInt(100)}
	if want := price.Cost(tokens).String(); s.Session.SettledAmount != want || s.Session.Paid != want {
		t.Fatalf("settled %s paid %s, want %s for %d tokens", s.Session.SettledAmount, s.Session.Paid, want, tokens)
	}
	// The requester paid the deposit and the open tx's fee (400,000 gas × 0.0025).
	if got, want := before.Sub(balance(gina)), sdkmath.NewInt(deposit+1000); !got.Equal(want) {
		t.Fatalf("requester spent %s, want %s", got, want)
	}
	t.Logf("%d requests, 1 settlement tx: %s tokens (%d served), %suopen paid", n, s.Session.SettledTokens, served, s.Session.Paid)
}
