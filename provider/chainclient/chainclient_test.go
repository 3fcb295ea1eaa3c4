package chainclient_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
	sdkerrors "github.com/cosmos/cosmos-sdk/types/errors"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"

	"github.com/openledger/openledger/provider/chainclient"
	"github.com/openledger/openledger/provider/internal/chaintest"
	"github.com/openledger/openledger/provider/store"
	"github.com/openledger/openledger/testutil/e2e"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// TestConcurrentTxsThroughOneClient fires 30 txs from 10 goroutines through one
// client against a real chain, while another signer (the CLI) uses the same
// account to force sequence mismatches: every tx is included and no sequence
// error surfaces.
func TestConcurrentTxsThroughOneClient(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real chain")
	}
	c := e2e.StartChain(t)
	st, err := store.Open(t.TempDir(), nil, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cl := chaintest.Client(t, c, "alice", st)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	if err := cl.CheckGasPrice(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Inference().Params(ctx, &inferencetypes.QueryParamsRequest{}); err != nil {
		t.Fatalf("x/inference params over gRPC: %v", err)
	}
	bob := c.Address("bob")
	before, err := cl.Balance(ctx, bob, e2e.Denom)
	if err != nil {
		t.Fatal(err)
	}

	const workers, perWorker, amount = 10, 3, 1000
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	hashes := make(chan string, workers*perWorker)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				msg := banktypes.NewMsgSend(cl.AccAddress(), sdk.MustAccAddressFromBech32(bob),
					sdk.NewCoins(sdk.NewInt64Coin(e2e.Denom, amount)))
				res, err := cl.SubmitAndWait(ctx, fmt.Sprintf("send %d/%d", w, i), msg)
				if err != nil {
					errs <- err
					continue
				}
				hashes <- res.TxHash
			}
		}(w)
	}
	// Meanwhile the same account signs elsewhere: the client's sequence goes stale.
	cliRes, cliErr := c.Tx("alice", "bank", "send", "alice", bob, "7uopen")
	wg.Wait()
	close(errs)
	close(hashes)
	for err := range errs {
		t.Errorf("tx failed: %v", err)
	}
	if cliErr != nil {
		// The CLI may itself lose the race for a sequence; that is the CLI's
		// business, not the client's.
		t.Logf("CLI send: %v", cliErr)
	}
	seen := map[string]bool{}
	for h := range hashes {
		seen[h] = true
	}
	if len(seen) != workers*perWorker {
		t.Fatalf("%d distinct included txs, want %d", len(seen), workers*perWorker)
	}
	after, err := cl.Balance(ctx, bob, e2e.Denom)
	if err != nil {
		t.Fatal(err)
	}
	want := before.Amount.AddRaw(workers * perWorker * amount)
	if cliErr == nil && cliRes.Code == 0 {
		want = want.AddRaw(7)
	}
	if !after.Amount.Equal(want) {
		t.Fatalf("bob has %s, want %s", after.Amount, want)
	}
	pending, err := st.PendingTxs()
	if err != nil || len(pending) != 0 {
		t.Fatalf("journal not emptied after inclusion: %d txs, %v", len(pending), err)
	}

	// Deterministic staleness: the CLI uses the account while the client idles, so
	// the client's next sequence is taken; it must correct itself silently.
	c.MustTx("alice", "bank", "send", "alice", bob, "3uopen")
	if _, err := cl.SubmitAndWait(ctx, "after stale sequence", banktypes.NewMsgSend(cl.AccAddress(),
		sdk.MustAccAddressFromBech32(bob), sdk.NewCoins(sdk.NewInt64Coin(e2e.Denom, 2)))); err != nil {
		t.Fatalf("tx after another signer used the account: %v", err)
	}

	// A tx the chain refuses is a typed error, and leaves the journal empty.
	huge := banktypes.NewMsgSend(cl.AccAddress(), sdk.MustAccAddressFromBech32(bob),
		sdk.NewCoins(sdk.NewCoin(e2e.Denom, sdkmath.NewInt(1).MulRaw(1_000_000_000_000_000))))
	_, err = cl.SubmitAndWait(ctx, "too much", huge)
	var txErr *chainclient.TxError
	if !errors.As(err, &txErr) || !errors.Is(err, sdkerrors.ErrInsufficientFunds) {
		t.Fatalf("overspend: %v, want a TxError matching ErrInsufficientFunds", err)
	}
	if pending, _ := st.PendingTxs(); len(pending) != 0 {
		t.Fatalf("refused tx left in the journal: %+v", pending)
	}
	// And the sequence still works after it.
	if _, err := cl.SubmitAndWait(ctx, "after refusal", banktypes.NewMsgSend(cl.AccAddress(),
		sdk.MustAccAddressFromBech32(bob), sdk.NewCoins(sdk.NewInt64Coin(e2e.Denom, 1)))); err != nil {
		t.Fatal(err)
	}
}

// TestResumeJournaledTx: a tx journaled and broadcast before a "crash" is found
// by hash after the restart; one never broadcast is broadcast by Resume.
func TestResumeJournaledTx(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real chain")
	}
	c := e2e.StartChain(t)
	dir := t.TempDir()
	st, err := store.Open(dir, nil, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cl := chaintest.Client(t, c, "bob", st)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	send := banktypes.NewMsgSend(cl.AccAddress(), sdk.MustAccAddressFromBech32(c.Address("carol")),
		sdk.NewCoins(sdk.NewInt64Coin(e2e.Denom, 5)))
	sub, err := cl.Submit(ctx, "before crash", send)
	if err != nil {
		t.Fatal(err)
	}
	pending, err := st.PendingTxs()
	if err != nil || len(pending) != 1 || pending[0].Hash != sub.Hash || pending[0].Sequence != sub.Sequence {
		t.Fatalf("journal %+v, %v; want the broadcast tx", pending, err)
	}
	// A new client (the restarted daemon) settles it from the journal alone.
	cl2 := chaintest.Client(t, c, "bob", st)
	res, err := cl2.Resume(ctx, pending[0].Hash, pending[0].Body)
	if err != nil || res.Code != 0 {
		t.Fatalf("resume: %+v, %v", res, err)
	}
	if pending, _ := st.PendingTxs(); len(pending) != 0 {
		t.Fatalf("journal not emptied: %+v", pending)
	}
	if _, err := cl2.Resume(ctx, "00", []byte("not a tx")); err == nil {
		t.Fatal("resume accepted a body that does not match its hash")
	}
}
