package sessions_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/openledger/openledger/provider/sessions"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// settledSession serves two attributed requests and settles voucher 2 (it
// names receipt 1); it returns the published record's CID.
func (e *env) settledSession() string {
	e.t.Helper()
	e.serve(attributed("one", 3))
	e.serve(attributed("two", 4))
	msg, _, _ := e.settleOne()
	return msg.RecordCid
}

// kept checks that session 1's receipts, transcripts and record are all there
// (want) or all gone.
func (e *env) kept(cid string, want bool) {
	e.t.Helper()
	rs, err := e.m.Receipts(1, 0, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	_, terr := e.m.Transcript(1, 1)
	_, pinned := e.records.get(cid)
	if want && (len(rs) != 2 || terr != nil || !pinned) {
		e.t.Fatalf("want everything kept: %d receipts, transcript err %v, record pinned %v", len(rs), terr, pinned)
	}
	if !want && (len(rs) != 0 || !errors.Is(terr, sessions.ErrNoTranscript) || pinned) {
		e.t.Fatalf("want everything pruned: %d receipts, transcript err %v, record pinned %v", len(rs), terr, pinned)
	}
	st, err := e.m.State(1)
	if err != nil || st.ReceiptCount != 2 || st.SettledSeq != 2 {
		e.t.Fatalf("state %+v, %v", st, err)
	}
}

// TestPruneRetention: a session is pruned only once the chain has closed it
// and none of its settlements can still be disputed.
func TestPruneRetention(t *testing.T) {
	const (
		pending    = inferencetypes.SETTLEMENT_STATUS_PENDING
		challenged = inferencetypes.SETTLEMENT_STATUS_CHALLENGED
		finalized  = inferencetypes.SETTLEMENT_STATUS_FINALIZED
		voided     = inferencetypes.SETTLEMENT_STATUS_VOIDED
	)
	for _, tc := range []struct {
		name   string
		open   bool
		status inferencetypes.SettlementStatus
		pruned bool
	}{
		{"open, finalized", true, finalized, false},
		{"closed, pending", false, pending, false},
		{"closed, challenged", false, challenged, false},
		{"closed, finalized", false, finalized, true},
		{"closed, voided", false, voided, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			cid := e.settledSession()
			e.chain.setOpen(1, tc.open)
			e.chain.decide(1, tc.status)
			res := e.m.Prune(context.Background())
			want := sessions.PruneResult{}
			if tc.pruned {
				want = sessions.PruneResult{Pruned: 1, Unpinned: 1}
			}
			if res != want {
				t.Fatalf("pass %+v, want %+v", res, want)
			}
			e.kept(cid, !tc.pruned)
			if tc.pruned && !slices.Equal(e.records.unpinned, []string{cid}) {
				t.Fatalf("unpinned %v, want %s", e.records.unpinned, cid)
			}
			// A second pass does nothing more.
			if res := e.m.Prune(context.Background()); res != (sessions.PruneResult{}) {
				t.Fatalf("second pass %+v", res)
			}
			if tc.pruned && len(e.records.unpinned) != 1 {
				t.Fatalf("unpinned again: %v", e.records.unpinned)
			}
		})
	}
}

// TestPruneChallengedWaitsForDecision: a challenged settlement keeps the
// session until the dispute is decided; the pruned session survives a
// restart and rejects vouchers.
func TestPruneChallengedWaitsForDecision(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cid := e.settledSession()
	e.chain.setOpen(1, false)
	e.chain.decide(1, inferencetypes.SETTLEMENT_STATUS_CHALLENGED)
	for range 2 {
		if res := e.m.Prune(ctx); res.Pruned != 0 {
			t.Fatalf("pruned a challenged session: %+v", res)
		}
	}
	e.kept(cid, true)
	e.chain.decide(1, inferencetypes.SETTLEMENT_STATUS_FINALIZED)
	if res := e.m.Prune(ctx); res.Pruned != 1 || res.Unpinned != 1 {
		t.Fatalf("after the decision: %+v", res)
	}
	e.kept(cid, false)
	e.reopen()
	e.kept(cid, false)
	if res := e.m.Prune(ctx); res != (sessions.PruneResult{}) {
		t.Fatalf("pass after restart %+v", res)
	}
	e.chain.setOpen(1, true) // even a stale open view: the pruned record refuses
	if _, err := e.m.Accept(ctx, e.client.next(100), sessions.Request{DeploymentID: 7, MaxTokens: 100}); !errors.Is(err, sessions.ErrSessionClosed) {
		t.Fatalf("voucher on a pruned session: %v", err)
	}
}

// TestPruneUnsettledWaitsForSettlement: a session the chain closed while the
// provider held an unsettled voucher is left to the settlement loop, which
// marks it closed; the next pass prunes it.
func TestPruneUnsettledWaitsForSettlement(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.serve(attributed("one", 3))
	e.serve(attributed("two", 4))
	e.chain.setOpen(1, false)
	if res := e.m.Prune(ctx); res.Pruned != 0 {
		t.Fatalf("pruned with an unsettled voucher: %+v", res)
	}
	if rs, _ := e.m.Receipts(1, 0, 100); len(rs) != 2 {
		t.Fatalf("%d receipts", len(rs))
	}
	e.m.SettleDue(ctx, true) // the chain has closed it: marked closed, nothing submitted
	if len(e.chain.settled) != 0 {
		t.Fatalf("settled a closed session")
	}
	if res := e.m.Prune(ctx); res.Pruned != 1 || res.Unpinned != 0 {
		t.Fatalf("after the settlement loop: %+v", res)
	}
	if rs, _ := e.m.Receipts(1, 0, 100); len(rs) != 0 {
		t.Fatalf("%d receipts left", len(rs))
	}
}

// TestPruneUnpinRetried: the receipts go and the session is marked pruned in
// one transaction; an unpin that fails, or a crash before it, leaves the
// record pending, and a later pass (after a restart) unpins it.
func TestPruneUnpinRetried(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cid := e.settledSession()
	e.chain.setOpen(1, false)
	e.chain.decide(1, inferencetypes.SETTLEMENT_STATUS_FINALIZED)
	e.records.unpinFail = errors.New("ipfs node down")
	if res := e.m.Prune(ctx); res.Pruned != 1 || res.Unpinned != 0 {
		t.Fatalf("pass %+v", res)
	}
	if n, err := e.m.PendingUnpins(); err != nil || n != 1 {
		t.Fatalf("pending unpins %d, %v", n, err)
	}
	if _, pinned := e.records.get(cid); !pinned {
		t.Fatal("record unpinned by a failing unpin")
	}
	e.reopen() // as after a crash between the transaction and the unpin
	e.records.unpinFail = nil
	if res := e.m.Prune(ctx); res.Pruned != 0 || res.Unpinned != 1 {
		t.Fatalf("retry pass %+v", res)
	}
	e.kept(cid, false)
	if n, _ := e.m.PendingUnpins(); n != 0 {
		t.Fatalf("pending unpins %d", n)
	}
	if res := e.m.Prune(ctx); res != (sessions.PruneResult{}) {
		t.Fatalf("third pass %+v", res)
	}
}
