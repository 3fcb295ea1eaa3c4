package gateway_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/gateway"
	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/openai"
	"github.com/openledger/openledger/provider/openai/openaitest"
	"github.com/openledger/openledger/provider/p2pinfer"
)

// inferAcknowledged runs Infer calls on one session and checks that after
// each the provider holds a voucher naming every receipt served (the last
// one included), the session still open, and that it settles that voucher.
func inferAcknowledged(t *testing.T, w *world, g *gateway.Gateway, p *openaitest.Provider, calls int) {
	t.Helper()
	var acc voucher.Accumulator
	for i := range calls {
		res, err := g.Infer(context.Background(), gateway.InferRequest{Model: "tiny", Prompt: "one two three", MaxTokens: 3}, nil)
		if err != nil {
			t.Fatalf("infer %d: %v", i, err)
		}
		acc.Append(res.Receipt.LeafHash())
		root := acc.Root()
		st, err := p.Sessions.State(res.SessionID)
		if err != nil || st.ReceiptCount != uint64(i+1) || st.ReceiptsRoot != hex.EncodeToString(root[:]) || st.Final {
			t.Fatalf("after infer %d the provider holds %+v (%v): no voucher naming receipt %d", i, st, err, res.Receipt.RequestSeq)
		}
	}
	if n := p.Sessions.SettleDue(context.Background(), true); n != 1 || len(w.chain.Settled) != 1 {
		t.Fatalf("%d settlements, %d txs", n, len(w.chain.Settled))
	}
	if v := w.chain.Settled[0].Voucher; v.ReceiptCount != uint64(calls) {
		t.Fatalf("settled %+v, want a voucher naming the %d receipts", v, calls)
	}
}

// TestInferAcknowledgesTheReceipt: a one-off Infer leaves the provider a
// voucher naming the receipt it just served (not only the voucher sent with
// the request, which names the receipts before it), so the provider can
// settle that request at once; a refused or out-of-sync acknowledgement
// never fails the request.
func TestInferAcknowledgesTheReceipt(t *testing.T) {
	for _, tc := range []struct {
		name string
		// status and code, when set, answer the first acknowledgement in
		// the provider's place.
		status int
		code   string
		calls  int
		acks   int64 // acknowledgements that reach the handler
	}{
		{name: "accepted", calls: 2, acks: 2},
		{name: "out of sync once", status: http.StatusConflict, code: "receipts_out_of_sync", calls: 1, acks: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			var acks atomic.Int64
			wrap := func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
					if strings.HasSuffix(r.URL.Path, "/voucher") && acks.Add(1) == 1 && tc.status != 0 {
						writeOpenAIError(rw, tc.status, tc.code)
						return
					}
					h.ServeHTTP(rw, r)
				})
			}
			p := w.addProvider("open1p", 1000, nil, wrap)
			g, _ := w.gateway(t.TempDir())
			inferAcknowledged(t, w, g, p, tc.calls)
			if n := acks.Load(); n != tc.acks {
				t.Fatalf("%d acknowledgements sent, want %d", n, tc.acks)
			}
		})
	}
}

// TestInferAcknowledgementRefused: a provider that refuses the
// acknowledgement (here, busy) still answers the request: Infer succeeds and
// the next call's voucher names the receipt.
func TestInferAcknowledgementRefused(t *testing.T) {
	w := newWorld(t)
	var acks atomic.Int64
	p := w.addProvider("open1p", 1000, nil, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/voucher") {
				acks.Add(1)
				writeOpenAIError(rw, http.StatusTooManyRequests, "too_many_requests")
				return
			}
			h.ServeHTTP(rw, r)
		})
	})
	g, _ := w.gateway(t.TempDir())
	for i := range 2 {
		if _, err := g.Infer(context.Background(), gateway.InferRequest{Model: "tiny", Prompt: "a b", MaxTokens: 2}, nil); err != nil {
			t.Fatalf("infer %d with the acknowledgement refused: %v", i, err)
		}
	}
	// Vouchers 1 and 3 paid the requests (3 naming receipt 1), 2 and 4 were
	// the refused acknowledgements.
	st, err := p.Sessions.State(1)
	if err != nil || st.ReceiptCount != 2 || st.LastSequence != 3 || acks.Load() != 2 {
		t.Fatalf("provider state %+v (%v), %d acknowledgements tried (one try each)", st, err, acks.Load())
	}
}

// TestInferAcknowledgesOverLibp2p: the acknowledgement reaches a provider
// served only over /openledger/inference/1.0.0.
func TestInferAcknowledgesOverLibp2p(t *testing.T) {
	w := newWorld(t)
	p := openaitest.StartProvider(t, w.chain, "open1p2p", 1000, &openaitest.Engine{IDs: []uint64{deployment}}, "")
	ph := loopbackHost(t, p.Key)
	(&p2pinfer.Server{Handler: p.Server.Handler()}).Register(t.Context(), ph)
	var addrs []string
	for _, a := range ph.Addrs() {
		addrs = append(addrs, a.String()+"/p2p/"+p.PeerID)
	}
	w.gc.offers = append(w.gc.offers, gateway.Offer{Operator: p.Operator, PeerID: p.PeerID, Multiaddrs: addrs,
		Compute: sdk.NewInt64Coin(openaitest.Denom, 1000), Royalty: sdk.NewInt64Coin(openaitest.Denom, royalty)})
	p.HTTP.Close() // nothing over HTTP
	g, err := gateway.New(gateway.Config{Home: t.TempDir(), Budget: sdk.NewInt64Coin(openaitest.Denom, 100_000_000), Deposit: sdkmath.NewInt(1_000_000),
		Aliases: map[string]uint64{"tiny": deployment}, P2P: loopbackHost(t, nil)}, w.gc, nil)
	if err != nil {
		t.Fatal(err)
	}
	inferAcknowledged(t, w, g, p, 1)
}

func writeOpenAIError(rw http.ResponseWriter, status int, code string) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	_ = json.NewEncoder(rw).Encode(openai.ErrorBody{Error: openai.ErrorDetail{Message: "refused by the test", Type: "invalid_request_error", Code: &code}})
}
