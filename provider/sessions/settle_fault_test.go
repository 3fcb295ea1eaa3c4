package sessions_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/sessions"
)

// TestSettleAttributesUnnamedRequests: a one-request session whose requester
// never sent another voucher (a one-off call, the gateway killed): the last
// voucher pays for the request but names none of its receipts. The chain needs
// an attribution for a positive amount, so the settlement's summary follows
// the receipts this provider issued, not the (empty) named increment.
func TestSettleAttributesUnnamedRequests(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tk, err := e.m.Accept(ctx, e.client.next(100), sessions.Request{DeploymentID: 7, MaxTokens: 100})
	if err != nil {
		t.Fatal(err)
	}
	s := served("hello", 10, 50)
	s.RecordCID = sessions.RawCID([]byte("record"))
	sum := sha256.Sum256([]byte("record"))
	s.Summary = voucher.Summary{RecordSha256: hex.EncodeToString(sum[:]), Pools: []voucher.PoolEntry{{DatanetID: 3, Version: 1, Ppm: voucher.PpmScale}}}
	if _, err := tk.Complete(s); err != nil {
		t.Fatal(err)
	}
	if n := e.m.SettleDue(ctx, true); n != 1 {
		t.Fatalf("settled %d", n)
	}
	got := e.chain.settled[0]
	if got.Voucher.ReceiptCount != 0 || got.Voucher.CumulativeTokens != 100 || len(got.Summary.Pools) != 1 ||
		got.Summary.Pools[0].DatanetId != 3 || got.Summary.Pools[0].Ppm != voucher.PpmScale || got.Summary.RecordSha256 == "" {
		t.Fatalf("settlement voucher %+v summary %+v", got.Voucher, got.Summary)
	}
}

// TestNothingServedNotSettled: a session whose only request was interrupted
// before its receipt served nothing and has nothing to attribute: it is not
// settled (the deposit goes back at the close), and no pass tries.
func TestNothingServedNotSettled(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tk, err := e.m.Accept(ctx, e.client.next(100), sessions.Request{DeploymentID: 7, MaxTokens: 100})
	if err != nil {
		t.Fatal(err)
	}
	tk.Abort()
	e.m.SetHeight(990) // within the expiry margin
	if n := e.m.SettleDue(ctx, true); n != 0 || len(e.chain.settled) != 0 || e.m.Stats().SettleFailures.Load() != 0 {
		t.Fatalf("settled %d (%d on chain, %d failures) for a session that served nothing", n, len(e.chain.settled), e.m.Stats().SettleFailures.Load())
	}
	if st, err := e.m.State(1); err != nil || st.LastSequence != 1 {
		t.Fatalf("the accepted voucher is not kept: %+v %v", st, err)
	}
}
