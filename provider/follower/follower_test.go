package follower_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cosmos/gogoproto/proto"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/provider/follower"
	"github.com/openledger/openledger/provider/internal/chaintest"
	"github.com/openledger/openledger/provider/store"
	"github.com/openledger/openledger/testutil/e2e"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// recorder counts deliveries per event key; it acks inside its own store
// transaction, the exactly-once pattern handlers are meant to use.
type recorder struct {
	st     *store.Store
	mu     sync.Mutex
	counts map[store.EventKey]int
	stakes map[string]int // tx hash → EventStakeChanged deliveries
	mints  map[int64]int  // height → BeginBlock "mint" deliveries
	typed  int
}

func (r *recorder) handle(_ context.Context, ev follower.Event) error {
	return r.st.Update(func(tx *store.Tx) error {
		if !tx.HasEvent(ev.Key) {
			return nil
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.counts[ev.Key]++
		switch m := ev.Msg.(type) {
		case *inferencetypes.EventStakeChanged:
			if ev.TxHash == "" || m.Operator == "" {
				return fmt.Errorf("stake event without tx hash or operator: %+v", ev)
			}
			r.stakes[ev.TxHash]++
			r.typed++
		case *inferencetypes.EventProviderRegistered:
			r.typed++
		case nil:
			if ev.Type == "mint" {
				if ev.Key.TxIndex != store.TxIndexBeginBlock {
					return fmt.Errorf("mint event not at BeginBlock: %s", ev.Key)
				}
				r.mints[ev.Key.Height]++
			}
		}
		return tx.AckEvent(ev.Key)
	})
}

func TestFollowerExactlyOnceAcrossRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real chain")
	}
	c := e2e.StartChain(t)
	cl := chaintest.Client(t, c, "bob", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	dir := t.TempDir()
	st, err := store.Open(dir, nil, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { st.Close() }()
	rec := &recorder{st: st, counts: map[store.EventKey]int{}, stakes: map[string]int{}, mints: map[int64]int{}}
	start, err := cl.LatestHeight(ctx)
	if err != nil {
		t.Fatal(err)
	}
	types := []string{
		proto.MessageName(&inferencetypes.EventStakeChanged{}),
		proto.MessageName(&inferencetypes.EventProviderRegistered{}),
		"mint",
	}
	run := func(pollOnly bool) (stop func()) {
		f, err := follower.New(follower.Config{
			RPCAddr: chaintest.RPCAddr(c), Types: types, StartHeight: start,
			PollInterval: 200 * time.Millisecond, StallTimeout: 2 * time.Second, PollOnly: pollOnly,
		}, st, rec.handle, nil)
		if err != nil {
			t.Fatal(err)
		}
		fctx, fcancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- f.Run(fctx) }()
		return func() {
			fcancel()
			if err := <-done; err != nil {
				t.Errorf("follower: %v", err)
			}
		}
	}

	// Register a provider, then add stake repeatedly: each tx emits one
	// EventStakeChanged. The follower is stopped and restarted mid-stream, once
	// over the websocket, once polling only.
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(false)
	reg := &inferencetypes.MsgRegisterProvider{
		Operator: cl.Address(), PeerId: pid.String(), Multiaddrs: []string{"/ip4/127.0.0.1/tcp/4001"},
		Engines: []string{"openledger-ml"}, Moniker: "follower-test",
		Hardware: inferencetypes.Hardware{Accelerator: "cpu", MemoryMib: 1024, Count: 1}, Stake: sdk.NewInt64Coin(e2e.Denom, 1_000_000),
	}
	var hashes []string
	res, err := cl.SubmitAndWait(ctx, "register", reg)
	if err != nil {
		t.Fatal(err)
	}
	hashes = append(hashes, res.TxHash)
	const adds = 12
	for i := 0; i < adds; i++ {
		switch i {
		case 4:
			stop() // restart over the websocket
			stop = run(false)
		case 8:
			stop() // down for a few blocks, then back polling only
			c.WaitForHeight(res.Height+3, 30*time.Second)
			stop = run(true)
		}
		res, err = cl.SubmitAndWait(ctx, fmt.Sprintf("add stake %d", i),
			&inferencetypes.MsgAddStake{Operator: cl.Address(), Amount: sdk.NewInt64Coin(e2e.Denom, int64(1000+i))})
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, res.TxHash)
	}
	end := res.Height + 2
	c.WaitForHeight(end+1, 30*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		h, _ := st.Height()
		var inbox int
		_ = st.View(func(tx *store.Tx) error { evs, err := tx.Events(0); inbox = len(evs); return err })
		if h >= end && inbox == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("follower stuck at height %d (want %d), inbox %d", h, end, inbox)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()

	rec.mu.Lock()
	defer rec.mu.Unlock()
	for k, n := range rec.counts {
		if n != 1 {
			t.Errorf("event %s delivered %d times", k, n)
		}
	}
	for i, h := range hashes {
		if rec.stakes[h] != 1 {
			t.Errorf("tx %d (%s): EventStakeChanged delivered %d times, want 1", i, h, rec.stakes[h])
		}
	}
	if rec.typed != len(hashes)+1 {
		t.Errorf("%d typed events delivered, want %d", rec.typed, len(hashes)+1)
	}
	// BeginBlock events: one mint event per block, every block, once.
	for h := start; h <= end; h++ {
		if rec.mints[h] != 1 {
			t.Errorf("height %d: mint event delivered %d times", h, rec.mints[h])
		}
	}
	t.Logf("heights %d..%d: %d events delivered once each, across 2 restarts", start, end, len(rec.counts))
}
