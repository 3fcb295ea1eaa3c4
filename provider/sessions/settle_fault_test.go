package sessions_test

import (
	"context"
	"testing"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/sessions"
)

// TestSettleNeverAttributesBeyondTheVoucher: a one-request session whose
// requester has not sent another voucher (a one-off call): the last voucher
// pays for the request but names none of its receipts. A record can cover no
// request (a receipt not under the voucher's root cannot be checked against
// it), so its summary would be empty: the provider waits for a voucher naming
// the receipt while the session is not near expiry. The requester's final
// voucher names the receipt, and its settlement attributes it.
func TestSettleNeverAttributesBeyondTheVoucher(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tk, err := e.m.Accept(ctx, e.client.next(100), sessions.Request{DeploymentID: 7, MaxTokens: 100})
	if err != nil {
		t.Fatal(err)
	}
	r, err := tk.Complete(attributed("hello", 3))
	if err != nil {
		t.Fatal(err)
	}
	if n := e.m.SettleDue(ctx, true); n != 0 || len(e.chain.settled) != 0 || e.m.Stats().SettleFailures.Load() != 1 {
		t.Fatalf("settled %d (%d on chain) a voucher naming no attributed receipt", n, len(e.chain.settled))
	}
	e.client.take(r)
	c := e.client
	c.seq++
	fin, _ := voucher.Sign(voucher.Voucher{ChainID: chainID, SessionID: 1, Sequence: c.seq, Denom: denom,
		CumulativeAmount: c.price.Cost(c.tokens), CumulativeTokens: c.tokens, ReceiptCount: c.acc.Len(), ReceiptsRoot: c.acc.Root()}, c.sk)
	if err := e.m.Final(ctx, fin); err != nil {
		t.Fatal(err)
	}
	msg, rec, rs := e.settleOne()
	if len(rs) != 1 || rec.FromRequest != 1 || len(msg.Summary.Pools) != 1 || msg.Summary.Pools[0].DatanetId != 3 || msg.Summary.RecordSha256 == "" {
		t.Fatalf("final settlement summary %+v, record of %d requests", msg.Summary, len(rs))
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

// TestSettleUnattributedNearExpiry: the same one-off session whose requester
// never sends its final voucher (the gateway died): near expiry the provider
// settles the voucher it holds with an empty summary and a record of no
// requests, so it is paid for what it served and the chain pays the royalty
// to the deployment's dataset pools.
func TestSettleUnattributedNearExpiry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tk, err := e.m.Accept(ctx, e.client.next(100), sessions.Request{DeploymentID: 7, MaxTokens: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Complete(attributed("hello", 3)); err != nil {
		t.Fatal(err)
	}
	if n := e.m.SettleDue(ctx, true); n != 0 {
		t.Fatalf("settled %d before the expiry margin", n)
	}
	e.m.SetHeight(990) // within the expiry margin
	msg, rec, rs := e.settleOne()
	if len(rs) != 0 || rec.ReceiptCount != 0 || len(msg.Summary.Top)+len(msg.Summary.Pools) != 0 || msg.Summary.RecordSha256 != "" ||
		!msg.Voucher.CumulativeAmount.IsPositive() {
		t.Fatalf("near-expiry settlement %+v, record of %d requests", msg, len(rs))
	}
}
