package gateway_test

import (
	"context"
	"crypto/rand"
	"net/http/httptest"
	"testing"

	sdkmath "cosmossdk.io/math"
	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/gateway"
	"github.com/openledger/openledger/p2p"
	"github.com/openledger/openledger/provider/openai/openaitest"
	"github.com/openledger/openledger/provider/p2pinfer"
)

func loopbackHost(t *testing.T, key libp2pcrypto.PrivKey) host.Host {
	t.Helper()
	if key == nil {
		var err error
		if key, _, err = libp2pcrypto.GenerateEd25519Key(rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	h, err := p2p.New(key, p2p.LoopbackConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// A provider that publishes no api_url is reached over
// /openledger/inference/1.0.0 by its peer id and multiaddrs: requests
// (streamed and not), receipts checked, the final voucher delivered and one
// settlement.
func TestGatewayOverLibp2p(t *testing.T) {
	w := newWorld(t)
	p := openaitest.StartProvider(t, w.chain, "open1p2p", 1000, &openaitest.Engine{IDs: []uint64{deployment}}, "")
	ph := loopbackHost(t, p.Key) // the provider's libp2p identity is its receipt key
	(&p2pinfer.Server{Handler: p.Server.Handler()}).Register(t.Context(), ph)
	var addrs []string
	for _, a := range ph.Addrs() {
		addrs = append(addrs, a.String()+"/p2p/"+p.PeerID)
	}
	w.gc.offers = append(w.gc.offers, gateway.Offer{Operator: p.Operator, PeerID: p.PeerID, Multiaddrs: addrs,
		Compute: sdk.NewInt64Coin(openaitest.Denom, 1000), Royalty: sdk.NewInt64Coin(openaitest.Denom, royalty)})
	p.HTTP.Close() // nothing over HTTP

	cfg := gateway.Config{Home: t.TempDir(), Budget: sdk.NewInt64Coin(openaitest.Denom, 100_000_000), Deposit: sdkmath.NewInt(1_000_000),
		Aliases: map[string]uint64{"tiny": deployment}}
	// Without a libp2p host there is no usable provider.
	g0, err := gateway.New(cfg, w.gc, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs0 := httptest.NewServer(g0.Handler())
	defer hs0.Close()
	if st, _, raw := call(t, hs0.URL, "/v1/completions", `{"model":"tiny","prompt":"a b"}`); st != 502 {
		t.Fatalf("without libp2p: %d %s", st, raw)
	}

	cfg.Home = t.TempDir()
	cfg.P2P = loopbackHost(t, nil)
	g, err := gateway.New(cfg, w.gc, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(g.Handler())
	defer hs.Close()
	reqs := []struct{ path, body, want string }{
		{"/v1/completions", `{"model":"tiny","prompt":"one two three","max_tokens":3}`, "one two three "},
		{"/v1/chat/completions", `{"model":"7","stream":true,"messages":[{"role":"user","content":"x y z"}]}`, "x y z "},
		{"/v1/completions", `{"model":"tiny","stream":true,"prompt":"p q","max_tokens":5}`, "p q "},
		{"/v1/chat/completions", `{"model":"tiny","messages":[{"role":"user","content":"alpha"}]}`, "alpha "},
	}
	for i, r := range reqs {
		st, text, raw := call(t, hs.URL, r.path, r.body)
		if st != 200 || text != r.want {
			t.Fatalf("request %d: %d %q %s", i, st, text, raw)
		}
	}
	if why := g.Dropped(p.Operator); why != "" {
		t.Fatalf("provider dropped: %s", why)
	}
	state, err := p.Sessions.State(1)
	if err != nil || state.ReceiptCount != uint64(len(reqs)) {
		t.Fatalf("provider state %+v %v", state, err)
	}
	g.FinaliseIdle(true) // the final voucher goes over libp2p too
	if k := p.Sessions.SettleDue(context.Background(), false); k != 1 || len(w.chain.Settled) != 1 {
		t.Fatalf("%d settlements, %d txs", k, len(w.chain.Settled))
	}
	if v := w.chain.Settled[0].Voucher; v.ReceiptCount != uint64(len(reqs)) || v.CumulativeTokens < state.ServedTokens {
		t.Fatalf("settled %+v for %d served", v, state.ServedTokens)
	}
}

// A session opened over HTTP continues over libp2p when the gateway (same
// home) is restarted preferring libp2p: the voucher state carries over.
func TestSessionMovesToLibp2p(t *testing.T) {
	w := newWorld(t)
	p := w.addProvider("open1both", 1000, nil, nil)
	ph := loopbackHost(t, p.Key)
	(&p2pinfer.Server{Handler: p.Server.Handler()}).Register(t.Context(), ph)
	var addrs []string
	for _, a := range ph.Addrs() {
		addrs = append(addrs, a.String())
	}
	w.gc.mu.Lock()
	w.gc.offers[0].Multiaddrs = addrs
	w.gc.mu.Unlock()
	home := t.TempDir()
	_, hs1 := w.gateway(home)
	if st, text, raw := call(t, hs1.URL, "/v1/completions", `{"model":"tiny","prompt":"a b","max_tokens":2}`); st != 200 || text != "a b " {
		t.Fatalf("over HTTP: %d %q %s", st, text, raw)
	}
	hs1.Close()
	p.HTTP.Close() // from now on only libp2p reaches the provider

	g2, err := gateway.New(gateway.Config{Home: home, Budget: sdk.NewInt64Coin(openaitest.Denom, 100_000_000), Deposit: sdkmath.NewInt(1_000_000),
		Aliases: map[string]uint64{"tiny": deployment}, P2P: loopbackHost(t, nil), PreferP2P: true}, w.gc, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs2 := httptest.NewServer(g2.Handler())
	defer hs2.Close()
	if st, text, raw := call(t, hs2.URL, "/v1/chat/completions", `{"model":"tiny","stream":true,"messages":[{"role":"user","content":"c d"}]}`); st != 200 || text != "c d " {
		t.Fatalf("over libp2p: %d %q %s", st, text, raw)
	}
	state, err := p.Sessions.State(1)
	if err != nil || state.ReceiptCount != 2 || w.gc.opened != 1 {
		t.Fatalf("provider state %+v (%v), %d sessions opened", state, err, w.gc.opened)
	}
}
