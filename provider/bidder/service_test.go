package bidder

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/provider/chainclient"
	"github.com/openledger/openledger/provider/follower"
	"github.com/openledger/openledger/provider/store"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

const self = "open1self"

// fakeChain stands in at the process boundary.
type fakeChain struct {
	mu     sync.Mutex
	height int64
	bids   []*inferencetypes.MsgBid
	fail   error
}

func (f *fakeChain) Address() string { return self }
func (f *fakeChain) LatestHeight(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.height, nil
}
func (f *fakeChain) Submit(_ context.Context, _ string, msgs ...sdk.Msg) (chainclient.Submitted, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return chainclient.Submitted{}, f.fail
	}
	f.bids = append(f.bids, msgs[0].(*inferencetypes.MsgBid))
	return chainclient.Submitted{Hash: fmt.Sprintf("H%d", len(f.bids))}, nil
}

func newService(t *testing.T) (*Service, *store.Store, *fakeChain) {
	t.Helper()
	st, err := store.Open(t.TempDir(), nil, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	chain := &fakeChain{height: 100}
	p := Policy{MarkupBPSPerLoad: 10000, MaxConcurrency: 2, RefuseWhenSaturated: true, MarginBlocks: 1,
		Deployments: map[uint64]Offer{5: {Base: coin(10), Floor: coin(10)}}}
	return NewService(p, st, chain, nil), st, chain
}

var evIndex int32

func ev(h int64, m any) follower.Event {
	evIndex++
	e := follower.Event{Key: store.EventKey{Height: h, TxIndex: 0, EventIndex: evIndex}}
	switch v := m.(type) {
	case *inferencetypes.EventJobCreated:
		e.Msg = v
	case *inferencetypes.EventJobAwarded:
		e.Msg = v
	case *inferencetypes.EventJobClosed:
		e.Msg = v
	}
	return e
}

func created(id, dep uint64, max int64) *inferencetypes.EventJobCreated {
	return &inferencetypes.EventJobCreated{JobId: id, DeploymentId: dep, Requester: "open1req", MaxTokens: 100,
		MaxComputePricePerThousandTokens: coin(max), BidCloseHeight: 110}
}

func TestServiceBidsRecordsFirstAndOnlyOnce(t *testing.T) {
	s, st, chain := newService(t)
	ctx := context.Background()
	e := ev(100, created(1, 5, 50))
	if err := s.Handle(ctx, e); err != nil {
		t.Fatal(err)
	}
	j, err := st.Job(1)
	if err != nil || j.State != store.StateBid || j.BidPrice != "10uopen" || j.BidTxHash != "H1" {
		t.Fatalf("job %+v, %v", j, err)
	}
	if len(chain.bids) != 1 || chain.bids[0].Provider != self || !chain.bids[0].Price.Equal(coin(10)) {
		t.Fatalf("bids %+v", chain.bids)
	}
	// Redelivery (or a duplicate event) does not bid again.
	if err := s.Handle(ctx, e); err != nil {
		t.Fatal(err)
	}
	if len(chain.bids) != 1 {
		t.Fatalf("bid twice: %+v", chain.bids)
	}
	// Second job: one slot busy → +50%.
	if err := s.Handle(ctx, ev(100, created(2, 5, 50))); err != nil {
		t.Fatal(err)
	}
	if got := chain.bids[1].Price; !got.Equal(coin(15)) {
		t.Fatalf("second bid %s, want 15uopen", got)
	}
	// Saturated: third job refused and recorded as given up.
	if err := s.Handle(ctx, ev(100, created(3, 5, 50))); err != nil {
		t.Fatal(err)
	}
	if j, _ := st.Job(3); j.State != store.StateGivenUp || j.Reason != ReasonSaturated {
		t.Fatalf("job 3: %+v", j)
	}
	// Other deployments are ignored entirely.
	if err := s.Handle(ctx, ev(100, created(4, 6, 50))); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Job(4); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("job of another deployment recorded: %v", err)
	}
	// Awards: ours → awarded; someone else's → given up, freeing the slot.
	if err := s.Handle(ctx, ev(111, &inferencetypes.EventJobAwarded{JobId: 1, Winner: self, Price: coin(10), DeadlineHeight: 150})); err != nil {
		t.Fatal(err)
	}
	if err := s.Handle(ctx, ev(111, &inferencetypes.EventJobAwarded{JobId: 2, Winner: "open1other", Price: coin(9)})); err != nil {
		t.Fatal(err)
	}
	if j, _ := st.Job(1); j.State != store.StateAwarded || j.DeadlineHeight != 150 {
		t.Fatalf("job 1: %+v", j)
	}
	if j, _ := st.Job(2); j.State != store.StateGivenUp {
		t.Fatalf("job 2: %+v", j)
	}
	if l, _ := s.Load(); l.Running != 1 {
		t.Fatalf("load %+v, want 1 running", l)
	}
}

func TestServiceRetriesUnsentBids(t *testing.T) {
	s, st, chain := newService(t)
	ctx := context.Background()
	chain.fail = errors.New("connection refused")
	if err := s.Handle(ctx, ev(100, created(1, 5, 50))); err != nil {
		t.Fatal(err)
	}
	if j, _ := st.Job(1); j.State != store.StateBid || j.BidTxHash != "" || j.Attempts != 1 {
		t.Fatalf("after failed send: %+v", j)
	}
	chain.fail = nil
	if err := s.retryUnsent(ctx); err != nil {
		t.Fatal(err)
	}
	if j, _ := st.Job(1); j.BidTxHash != "H1" || len(chain.bids) != 1 {
		t.Fatalf("after retry: %+v, %d bids", j, len(chain.bids))
	}
	// An unsent bid whose auction closed meanwhile is given up, not sent.
	chain.fail = errors.New("down")
	if err := s.Handle(ctx, ev(100, created(2, 5, 50))); err != nil {
		t.Fatal(err)
	}
	chain.fail, chain.height = nil, 200
	if err := s.retryUnsent(ctx); err != nil {
		t.Fatal(err)
	}
	if j, _ := st.Job(2); j.State != store.StateGivenUp || len(chain.bids) != 1 {
		t.Fatalf("closed auction: %+v, %d bids", j, len(chain.bids))
	}
}

func TestServiceRefusedBidGivesUp(t *testing.T) {
	s, st, chain := newService(t)
	chain.fail = &chainclient.TxError{Codespace: "inference", Code: 9, Log: "bid window closed"}
	if err := s.Handle(context.Background(), ev(100, created(1, 5, 50))); err != nil {
		t.Fatal(err)
	}
	if j, _ := st.Job(1); j.State != store.StateGivenUp {
		t.Fatalf("refused bid: %+v", j)
	}
}

func TestServiceClosedJob(t *testing.T) {
	s, st, _ := newService(t)
	ctx := context.Background()
	if err := s.Handle(ctx, ev(100, created(1, 5, 50))); err != nil {
		t.Fatal(err)
	}
	if err := s.Handle(ctx, ev(101, &inferencetypes.EventJobClosed{JobId: 1, Status: inferencetypes.JOB_STATUS_CANCELLED})); err != nil {
		t.Fatal(err)
	}
	if j, _ := st.Job(1); j.State != store.StateGivenUp {
		t.Fatalf("closed job: %+v", j)
	}
}

// TestServiceForgetsDecidedBids: a sent bid stays in the chain client's journal
// (here written as the client would) only until its auction is decided; other
// journaled txs are kept.
func TestServiceForgetsDecidedBids(t *testing.T) {
	s, st, _ := newService(t)
	ctx := context.Background()
	for _, id := range []uint64{1, 2} {
		if err := s.Handle(ctx, ev(100, created(id, 5, 50))); err != nil {
			t.Fatal(err)
		}
		if err := st.SavePendingTx(fmt.Sprintf("B%d", id), id, []byte("bid"), BidNote(id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SavePendingTx("R9", 9, []byte("receipt"), "receipt job 9"); err != nil {
		t.Fatal(err)
	}
	notes := func() []string {
		txs, err := st.PendingTxs()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range txs {
			out = append(out, p.Note)
		}
		return out
	}
	if err := s.Handle(ctx, ev(111, &inferencetypes.EventJobAwarded{JobId: 1, Winner: self, Price: coin(10), DeadlineHeight: 150})); err != nil {
		t.Fatal(err)
	}
	if got := notes(); len(got) != 2 || got[0] != BidNote(2) || got[1] != "receipt job 9" {
		t.Fatalf("after the award of job 1: pending %v", got)
	}
	if err := s.Handle(ctx, ev(112, &inferencetypes.EventJobClosed{JobId: 2, Status: inferencetypes.JOB_STATUS_CANCELLED})); err != nil {
		t.Fatal(err)
	}
	if got := notes(); len(got) != 1 || got[0] != "receipt job 9" {
		t.Fatalf("after job 2 closed: pending %v", got)
	}
	if j, _ := st.Job(1); j.State != store.StateAwarded {
		t.Fatalf("job 1: %+v", j)
	}
}
