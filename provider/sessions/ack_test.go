package sessions_test

import (
	"context"
	"errors"
	"testing"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/sessions"
)

// TestAcknowledge: the requester's acknowledgement names every receipt
// issued and pays for no new request; it passes the checks of any voucher,
// is persisted, and leaves the session open.
func TestAcknowledge(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// setup serves what the case needs and returns the acknowledgement.
		setup func(e *env) voucher.Voucher
		want  error
	}{
		{name: "accepted", setup: func(e *env) voucher.Voucher {
			e.request(100, 10, 50)
			return e.client.next(0)
		}},
		{name: "accepted within the expiry margin", setup: func(e *env) voucher.Voucher {
			e.request(100, 10, 50)
			e.m.SetHeight(990) // requests are refused from here; what was served is still paid
			return e.client.next(0)
		}},
		{name: "replayed sequence", want: sessions.ErrReplayed, setup: func(e *env) voucher.Voucher {
			e.request(100, 10, 50)
			v := e.client.next(0)
			if err := e.m.Acknowledge(ctx, v); err != nil {
				e.t.Fatal(err)
			}
			return v
		}},
		{name: "wrong root", want: sessions.ErrOutOfSync, setup: func(e *env) voucher.Voucher {
			tk, err := e.m.Accept(ctx, e.client.next(100), sessions.Request{DeploymentID: 7, MaxTokens: 100})
			if err != nil {
				e.t.Fatal(err)
			}
			if _, err := tk.Complete(served("lost", 10, 50)); err != nil { // the client never sees the receipt
				e.t.Fatal(err)
			}
			return e.client.next(0)
		}},
		{name: "after the final voucher", want: sessions.ErrFinalised, setup: func(e *env) voucher.Voucher {
			e.request(100, 10, 50)
			if err := e.m.Final(ctx, e.client.next(0)); err != nil {
				e.t.Fatal(err)
			}
			return e.client.next(0)
		}},
		{name: "request in flight", want: sessions.ErrSessionBusy, setup: func(e *env) voucher.Voucher {
			e.request(100, 10, 50)
			if _, err := e.m.Accept(ctx, e.client.next(100), sessions.Request{DeploymentID: 7, MaxTokens: 100}); err != nil {
				e.t.Fatal(err)
			}
			return e.client.next(0)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			v := tc.setup(e)
			before, _ := e.m.State(1)
			err := e.m.Acknowledge(ctx, v)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("acknowledgement: %v, want %v", err, tc.want)
				}
				if st, _ := e.m.State(1); st != before {
					t.Fatalf("a refused acknowledgement changed the state: %+v, was %+v", st, before)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			e.reopen() // persisted before it returned
			st, err := e.m.State(1)
			// The request's voucher covered 100 tokens, 60 were served: the
			// acknowledgement reserves nothing more and keeps the amount.
			if err != nil || st.LastSequence != v.Sequence || st.ReceiptCount != 1 || st.ServedTokens != 60 ||
				st.VoucherTokens != before.VoucherTokens || st.VoucherAmount != before.VoucherAmount || st.Final {
				t.Fatalf("state after the acknowledgement %+v (%v), before %+v", st, err, before)
			}
			e.m.SetHeight(100)
			e.request(100, 10, 50) // the session is not finalised
		})
	}
}

// TestAcknowledgedRequestSettles: a one-off request's receipt, named by the
// requester's acknowledgement, is settled at once with its attribution
// (without one the provider waits, TestSettleNeverAttributesBeyondTheVoucher).
func TestAcknowledgedRequestSettles(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.serve(attributed("hello", 3))
	if n := e.m.SettleDue(ctx, true); n != 0 || len(e.chain.settled) != 0 {
		t.Fatalf("settled %d before the acknowledgement", n)
	}
	ack := e.client.next(0)
	if err := e.m.Acknowledge(ctx, ack); err != nil {
		t.Fatal(err)
	}
	msg, rec, rs := e.settleOne()
	if len(rs) != 1 || rs[0].RequestSeq != 1 || rec.FromRequest != 1 || msg.Voucher.Sequence != ack.Sequence ||
		len(msg.Summary.Pools) != 1 || msg.Summary.Pools[0].DatanetId != 3 || msg.Summary.RecordSha256 == "" {
		t.Fatalf("settlement of the acknowledged request %+v, record of %d requests", msg, len(rs))
	}
}
