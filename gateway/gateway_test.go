package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/gateway"
	"github.com/openledger/openledger/provider/openai"
	"github.com/openledger/openledger/provider/openai/openaitest"
	"github.com/openledger/openledger/provider/sessions"
)

const (
	deployment = 7
	royalty    = 500
	requester  = "open1requester"
)

// fakeChain is the gateway's view of openaitest.Chain.
type fakeChain struct {
	c      *openaitest.Chain
	mu     sync.Mutex
	offers []gateway.Offer
	opened int
	// more are deployments offered besides the offers' (GET /v1/models).
	more []uint64
}

func (f *fakeChain) ChainID() string { return openaitest.ChainID }

func (f *fakeChain) Offers(context.Context, uint64) ([]gateway.Offer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]gateway.Offer(nil), f.offers...), nil
}

func (f *fakeChain) Deployments(context.Context) ([]uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := append([]uint64(nil), f.more...)
	if len(f.offers) > 0 {
		out = append(out, deployment)
	}
	return out, nil
}

func (f *fakeChain) OpenSession(_ context.Context, provider string, dep uint64, deposit sdk.Coin, pub ed25519.PublicKey) (uint64, sdk.Coin, error) {
	f.mu.Lock()
	f.opened++
	f.mu.Unlock()
	return f.c.OpenSession(requester, provider, dep, deposit.Amount.Int64(), royalty, pub), sdk.NewInt64Coin(openaitest.Denom, royalty), nil
}

func (f *fakeChain) TopUp(_ context.Context, id uint64, amt sdk.Coin) error {
	f.c.TopUp(id, amt.Amount.Int64())
	return nil
}

type world struct {
	t     *testing.T
	chain *openaitest.Chain
	gc    *fakeChain
	provs map[string]*openaitest.Provider
}

func newWorld(t *testing.T) *world {
	c := openaitest.NewChain()
	return &world{t: t, chain: c, gc: &fakeChain{c: c}, provs: map[string]*openaitest.Provider{}}
}

// addProvider starts a provider; wrap, when set, sits between the gateway and
// its API (a lying or flaky network).
func (w *world) addProvider(op string, compute int64, eng *openaitest.Engine, wrap func(http.Handler) http.Handler) *openaitest.Provider {
	if eng == nil {
		eng = &openaitest.Engine{IDs: []uint64{deployment}}
	}
	p := openaitest.StartProvider(w.t, w.chain, op, compute, eng, "")
	url := p.HTTP.URL
	if wrap != nil {
		hs := httptest.NewServer(wrap(p.Server.Handler()))
		w.t.Cleanup(hs.Close)
		url = hs.URL
	}
	w.gc.mu.Lock()
	w.gc.offers = append(w.gc.offers, gateway.Offer{Operator: op, PeerID: p.PeerID, APIURL: url,
		Compute: sdk.NewInt64Coin(openaitest.Denom, compute), Royalty: sdk.NewInt64Coin(openaitest.Denom, royalty)})
	w.gc.mu.Unlock()
	w.provs[op] = p
	return p
}

func (w *world) gateway(home string) (*gateway.Gateway, *httptest.Server) {
	g, err := gateway.New(gateway.Config{
		Home: home, Budget: sdk.NewInt64Coin(openaitest.Denom, 100_000_000), Deposit: sdkmath.NewInt(1_000_000),
		Aliases: map[string]uint64{"tiny": deployment},
	}, w.gc, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	hs := httptest.NewServer(g.Handler())
	w.t.Cleanup(hs.Close)
	return g, hs
}

// call is a plain OpenAI-shaped HTTP call; it returns the status, the text
// and the raw body.
func call(t *testing.T, base, path, body string) (int, string, []byte) {
	t.Helper()
	resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return resp.StatusCode, "", raw
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		var text strings.Builder
		sc := bufio.NewScanner(bytes.NewReader(raw))
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok || data == "[DONE]" {
				continue
			}
			var ev struct {
				Choices []struct {
					Text  string `json:"text"`
					Delta struct {
						Content string `json:"content"`
					} `json:"delta"`
				} `json:"choices"`
			}
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Fatalf("bad event %q", data)
			}
			for _, c := range ev.Choices {
				text.WriteString(c.Text + c.Delta.Content)
			}
		}
		return 200, text.String(), raw
	}
	var out struct {
		Choices []struct {
			Text    string `json:"text"`
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out.Choices) != 1 {
		t.Fatalf("bad body %s", raw)
	}
	return 200, out.Choices[0].Text + out.Choices[0].Message.Content, raw
}

func TestGatewayServesAndSettlesExactly(t *testing.T) {
	w := newWorld(t)
	cheap := w.addProvider("open1cheap", 1000, nil, nil)
	w.addProvider("open1dear", 5000, nil, nil)
	g, hs := w.gateway(t.TempDir())
	const n = 20
	for i := range n {
		var st int
		var text string
		var raw []byte
		switch i % 3 {
		case 0:
			st, text, raw = call(t, hs.URL, "/v1/completions", `{"model":"tiny","prompt":"one two three four","max_tokens":3}`)
		case 1:
			st, text, raw = call(t, hs.URL, "/v1/chat/completions", `{"model":"7","messages":[{"role":"user","content":"alpha beta"}]}`)
		case 2:
			st, text, raw = call(t, hs.URL, "/v1/chat/completions", `{"model":"tiny","stream":true,"messages":[{"role":"user","content":"x y z"}]}`)
		}
		if st != 200 {
			t.Fatalf("request %d: %d %s", i, st, raw)
		}
		if bytes.Contains(raw, []byte("receipt")) || !bytes.Contains(raw, []byte(`"openledger":{"request":"session:1:`)) {
			t.Fatalf("the receipt reached the application, or no request id: %s", raw)
		}
		want := map[int]string{0: "one two three ", 1: "alpha beta ", 2: "x y z "}[i%3]
		if text != want {
			t.Fatalf("request %d: %q, want %q", i, text, want)
		}
	}
	st, err := cheap.Sessions.State(1)
	if err != nil || st.ReceiptCount != n {
		t.Fatalf("cheap provider state %+v %v", st, err)
	}
	if w.gc.opened != 1 {
		t.Fatalf("%d sessions opened", w.gc.opened)
	}
	// Closing: the final voucher, then one settlement.
	g.FinaliseIdle(true)
	if k := cheap.Sessions.SettleDue(context.Background(), false); k != 1 {
		t.Fatalf("%d settlements", k)
	}
	if len(w.chain.Settled) != 1 {
		t.Fatalf("%d settlement txs", len(w.chain.Settled))
	}
	s := w.chain.Settled[0]
	price := sessions.Price{Compute: sdkmath.NewInt(1000), Royalty: sdkmath.NewInt(royalty)}
	served := st.ServedTokens
	// The overpay is at most one request's unused reservation: max over the
	// request kinds of (bound + max_tokens − used) — here the chat default of 256
	// (the chat bound includes the 14-byte generation prompt).
	if s.Voucher.ReceiptCount != n || s.Voucher.CumulativeTokens < served || s.Voucher.CumulativeTokens-served > 22+14+256 {
		t.Fatalf("settled %d tokens for %d served (%d receipts)", s.Voucher.CumulativeTokens, served, s.Voucher.ReceiptCount)
	}
	if !s.Voucher.CumulativeAmount.Equal(price.Cost(s.Voucher.CumulativeTokens)) {
		t.Fatalf("amount %s for %d tokens", s.Voucher.CumulativeAmount, s.Voucher.CumulativeTokens)
	}
}

func TestOverchargingProviderDropped(t *testing.T) {
	w := newWorld(t)
	w.addProvider("open1greedy", 1000, &openaitest.Engine{IDs: []uint64{deployment}, ExtraPromptTokens: 500}, nil)
	w.addProvider("open1honest", 2000, nil, nil)
	g, hs := w.gateway(t.TempDir())
	st, text, raw := call(t, hs.URL, "/v1/completions", `{"model":"tiny","prompt":"a b","max_tokens":2}`)
	if st != 200 || text != "a b " {
		t.Fatalf("%d %q %s", st, text, raw)
	}
	if why := g.Dropped("open1greedy"); !strings.Contains(why, "over-charged") {
		t.Fatalf("greedy provider not dropped: %q", why)
	}
	if g.Dropped("open1honest") != "" {
		t.Fatal("honest provider dropped")
	}
	// Next requests go straight to the honest one.
	if st, _, raw := call(t, hs.URL, "/v1/completions", `{"model":"tiny","prompt":"c","max_tokens":2}`); st != 200 {
		t.Fatalf("%d %s", st, raw)
	}
}

func TestLyingProviderDropped(t *testing.T) {
	w := newWorld(t)
	// The liar's responses are altered after the receipt was signed.
	liar := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				rw.Header()[k] = v
			}
			rw.WriteHeader(rec.Code)
			_, _ = rw.Write(bytes.ReplaceAll(rec.Body.Bytes(), []byte("truth"), []byte("lies!")))
		})
	}
	w.addProvider("open1liar", 1000, nil, liar)
	w.addProvider("open1honest", 2000, nil, nil)
	g, hs := w.gateway(t.TempDir())
	for _, stream := range []bool{false, true} {
		body := fmt.Sprintf(`{"model":"tiny","prompt":"the truth","max_tokens":4,"stream":%v}`, stream)
		st, text, raw := call(t, hs.URL, "/v1/completions", body)
		if st != 200 || text != "the truth " {
			t.Fatalf("stream=%v: %d %q %s", stream, st, text, raw)
		}
	}
	if why := g.Dropped("open1liar"); !strings.Contains(why, "digest") {
		t.Fatalf("liar not dropped: %q", why)
	}
}

func TestReplayedVoucherRejected(t *testing.T) {
	w := newWorld(t)
	var mu sync.Mutex
	var seen []string
	tap := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r.Header.Get(openai.HeaderVoucher))
			mu.Unlock()
			h.ServeHTTP(rw, r)
		})
	}
	p := w.addProvider("open1p", 1000, nil, tap)
	_, hs := w.gateway(t.TempDir())
	for range 2 {
		if st, _, raw := call(t, hs.URL, "/v1/completions", `{"model":"tiny","prompt":"a b","max_tokens":2}`); st != 200 {
			t.Fatalf("%d %s", st, raw)
		}
	}
	// An eavesdropper replays the first voucher straight to the provider.
	req, _ := http.NewRequest(http.MethodPost, p.HTTP.URL+"/v1/completions", strings.NewReader(`{"model":"7","prompt":"a b","max_tokens":2}`))
	req.Header.Set(openai.HeaderVoucher, seen[0])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(b), "voucher_replayed") {
		t.Fatalf("replay: %d %s", resp.StatusCode, b)
	}
}

func TestGatewayRestartAndLostResponse(t *testing.T) {
	w := newWorld(t)
	var drop sync.Mutex
	dropNext := false
	// The network loses one response after the provider served it.
	flaky := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			drop.Lock()
			d := dropNext
			dropNext = false
			drop.Unlock()
			if d {
				h.ServeHTTP(httptest.NewRecorder(), r)
				panic(http.ErrAbortHandler)
			}
			h.ServeHTTP(rw, r)
		})
	}
	p := w.addProvider("open1p", 1000, nil, flaky)
	home := t.TempDir()
	g1, hs1 := w.gateway(home)
	for range 3 {
		if st, _, raw := call(t, hs1.URL, "/v1/completions", `{"model":"tiny","prompt":"a b c","max_tokens":3}`); st != 200 {
			t.Fatalf("%d %s", st, raw)
		}
	}
	spent := g1.Spent()
	drop.Lock()
	dropNext = true
	drop.Unlock()
	if st, _, _ := call(t, hs1.URL, "/v1/completions", `{"model":"tiny","prompt":"a b c","max_tokens":3}`); st == 200 {
		t.Fatal("the lost response was answered")
	}
	// kill -9 of the gateway: a new one on the same home, no final voucher sent.
	hs1.Close()
	g2, hs2 := w.gateway(home)
	if !g2.Spent().Equal(spent) {
		t.Fatalf("budget after restart %s, before %s", g2.Spent(), spent)
	}
	for range 2 {
		if st, _, raw := call(t, hs2.URL, "/v1/completions", `{"model":"tiny","prompt":"a b c","max_tokens":3}`); st != 200 {
			t.Fatalf("after restart: %d %s", st, raw)
		}
	}
	if w.gc.opened != 1 {
		t.Fatalf("%d sessions opened: the restart did not resume the session", w.gc.opened)
	}
	g2.FinaliseIdle(true)
	if k := p.Sessions.SettleDue(context.Background(), false); k != 1 {
		t.Fatalf("%d settlements", k)
	}
	s := w.chain.Settled[0]
	st, _ := p.Sessions.State(1)
	// 6 requests served (the lost one included, recovered by resync), 6 tokens
	// each, reserved 8 each (prompt bound 5 + 3): paid 36 + one request's
	// unused reservation (2).
	if s.Voucher.ReceiptCount != 6 || st.ServedTokens != 36 || s.Voucher.CumulativeTokens != 38 {
		t.Fatalf("settled %+v, provider %+v", s.Voucher, st)
	}
	// The gateway's receipt store holds all six (the lost one fetched back,
	// without its output) and proves each under the settled root.
	store, err := gateway.OpenReceipts(home)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := store.Session(1)
	if err != nil || len(recs) != 6 {
		t.Fatalf("%d stored receipts, %v", len(recs), err)
	}
	for i, r := range recs {
		if r.Known != (i != 3) {
			t.Fatalf("request %d: known %v (the 4th was recovered)", i+1, r.Known)
		}
		_, _, root, err := store.Proof(1, uint64(i+1), 6)
		if err != nil || !bytes.Equal(root[:], s.Voucher.ReceiptsRoot) {
			t.Fatalf("request %d: root %x, settled %x, %v", i+1, root, s.Voucher.ReceiptsRoot, err)
		}
	}
}

func offerOf(p *openaitest.Provider, compute int64) gateway.Offer {
	return gateway.Offer{Operator: p.Operator, PeerID: p.PeerID, APIURL: p.HTTP.URL,
		Compute: sdk.NewInt64Coin(openaitest.Denom, compute), Royalty: sdk.NewInt64Coin(openaitest.Denom, royalty)}
}

func io_Discard(resp *http.Response) (int64, error) {
	defer resp.Body.Close()
	return io.Copy(io.Discard, resp.Body)
}
