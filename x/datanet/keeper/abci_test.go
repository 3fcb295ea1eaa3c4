package keeper_test

import (
	"testing"

	"cosmossdk.io/collections"

	sdk "github.com/cosmos/cosmos-sdk/types"

	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/datanet/types"
)

// queued counts the expiry queue's entries.
func queued(t *testing.T, e *env, ctx sdk.Context) int {
	t.Helper()
	n := 0
	if err := e.K.ExpiryQueue.Walk(ctx, nil, func(collections.Pair[int64, uint64]) (bool, error) { n++; return false, nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func setMaxExpiries(t *testing.T, e *env, ctx sdk.Context, n uint32) {
	t.Helper()
	p := types.DefaultParams()
	p.MaxExpiriesPerBlock = n
	if _, err := e.Msg.UpdateParams(ctx, &types.MsgUpdateParams{Authority: e.Authority, Params: p}); err != nil {
		t.Fatal(err)
	}
}

func TestEndBlockerExpiresBoundedPerBlock(t *testing.T) {
	e := newEnv(t)
	ctx := tk.Branch(e.Ctx)
	setMaxExpiries(t, e, ctx, 3)
	id := e.CreateDatanet(ctx, e.collecting())
	contributors := []string{e.alice, e.bob, e.outsider, e.alice, e.bob}
	var ids []uint64
	for i, c := range contributors {
		ids = append(ids, e.Submit(ctx, c, id, string(rune('a'+i))+" proverb"))
	}
	// One is reviewed (but not decided), one accepted before the deadline.
	e.Review(ctx, e.curA, ids[0], types.REVIEW_DECISION_APPROVE)
	accepted := e.accept(ctx, e.alice, id, "accepted in time")
	balances := map[string]int64{}
	for _, c := range []string{e.alice, e.bob, e.outsider} {
		balances[c] = e.Balance(ctx, c).Int64()
	}
	escrow := e.Escrow(ctx).Int64()
	deadline := int64(2 + window)

	// Through the deadline block nothing expires.
	for h := int64(3); h <= deadline; h++ {
		if err := e.K.EndBlocker(ctx.WithBlockHeight(h)); err != nil {
			t.Fatal(err)
		}
	}
	if n := queued(t, e, ctx); n != 5 {
		t.Fatalf("%d queued after the deadline block, want 5", n)
	}
	// The first block past the deadline expires max_expiries_per_block = 3, in queue order.
	if err := e.K.EndBlocker(ctx.WithBlockHeight(deadline + 1)); err != nil {
		t.Fatal(err)
	}
	e.CheckInvariants(ctx)
	for i, cid := range ids {
		want := types.CONTRIBUTION_STATUS_PENDING
		if i < 3 {
			want = types.CONTRIBUTION_STATUS_EXPIRED
		}
		if c := e.Contribution(ctx, cid); c.Status != want {
			t.Fatalf("after one block: contribution %d is %s, want %s", cid, c.Status, want)
		}
	}
	if n := queued(t, e, ctx); n != 2 {
		t.Fatalf("%d queued, want 2", n)
	}
	// The next block takes the rest.
	if err := e.K.EndBlocker(ctx.WithBlockHeight(deadline + 2)); err != nil {
		t.Fatal(err)
	}
	e.CheckInvariants(ctx)
	for _, cid := range ids {
		c := e.Contribution(ctx, cid)
		if c.Status != types.CONTRIBUTION_STATUS_EXPIRED || c.DecidedHeight < deadline+1 {
			t.Fatalf("contribution %d is %s decided at %d", cid, c.Status, c.DecidedHeight)
		}
	}
	if c := e.Contribution(ctx, accepted); c.Status != types.CONTRIBUTION_STATUS_ACCEPTED {
		t.Fatalf("accepted contribution became %s", c.Status)
	}
	if n := queued(t, e, ctx); n != 0 {
		t.Fatalf("%d still queued", n)
	}
	// Every deposit came back; nothing went to the community pool.
	for c, before := range balances {
		n := int64(0)
		for _, who := range contributors {
			if who == c {
				n++
			}
		}
		if got := e.Balance(ctx, c).Int64() - before; got != n*deposit {
			t.Fatalf("%s refunded %d, want %d", c, got, n*deposit)
		}
	}
	if got := escrow - e.Escrow(ctx).Int64(); got != 5*deposit || !e.Escrow(ctx).IsZero() {
		t.Fatalf("escrow released %d, holds %s", got, e.Escrow(ctx))
	}
	if !e.CommunityPool(ctx).Equal(e.CommunityPool(e.Ctx)) {
		t.Fatal("community pool changed")
	}
	d := e.Datanet(ctx, id)
	if d.Stats.PendingContributions != 0 || d.Stats.RejectedContributions != 0 || d.Stats.AcceptedContributions != 1 {
		t.Fatalf("stats %+v", d.Stats)
	}
	// Expired content may be submitted again.
	e.Submit(ctx.WithBlockHeight(deadline+2), e.alice, id, "a proverb")
	// An expired contribution can neither be reviewed nor withdrawn.
	if _, err := e.Msg.WithdrawContribution(ctx, &types.MsgWithdrawContribution{Contributor: contributors[1], ContributionId: ids[1]}); !errorsIs(err, types.ErrWrongStatus) {
		t.Fatalf("withdraw expired: %v", err)
	}
}

func TestEndBlockerFailingItemDoesNotHaltOthers(t *testing.T) {
	e := newEnv(t)
	ctx := tk.Branch(e.Ctx)
	dear := e.collecting()
	dear.ContributionDeposit = tk.Deposit(5 * deposit)
	dearID := e.CreateDatanet(ctx, dear)
	cheap := e.CreateDatanet(ctx, e.collecting())
	// The expensive item comes first in the queue (same deadline, lower id).
	first := e.Submit(ctx, e.alice, dearID, "dear")
	second := e.Submit(ctx, e.bob, cheap, "cheap 1")
	third := e.Submit(ctx, e.outsider, cheap, "cheap 2")
	// Drain the escrow so that the first refund (5000) cannot be paid but the others (1000 each) can.
	drain := sdk.NewCoins(tk.Deposit(5 * deposit))
	if err := e.App.BankKeeper.SendCoinsFromModuleToAccount(ctx, types.ModuleName, e.Accounts[7].Addr, drain); err != nil {
		t.Fatal(err)
	}
	before := e.Balance(ctx, e.alice)
	h := int64(2 + window + 1)
	if err := e.K.EndBlocker(ctx.WithBlockHeight(h)); err != nil {
		t.Fatalf("EndBlocker halted: %v", err)
	}
	if c := e.Contribution(ctx, first); c.Status != types.CONTRIBUTION_STATUS_PENDING {
		t.Fatalf("failing item is %s", c.Status)
	}
	if has, _ := e.K.ExpiryQueue.Has(ctx, collections.Join(e.Contribution(ctx, first).ReviewDeadline, first)); !has {
		t.Fatal("failing item left the queue")
	}
	if !e.Balance(ctx, e.alice).Equal(before) {
		t.Fatal("failing item paid out")
	}
	if d := e.Datanet(ctx, dearID); d.Stats.PendingContributions != 1 {
		t.Fatalf("failing item's datanet stats changed: %+v", d.Stats)
	}
	for _, id := range []uint64{second, third} {
		if c := e.Contribution(ctx, id); c.Status != types.CONTRIBUTION_STATUS_EXPIRED {
			t.Fatalf("contribution %d is %s", id, c.Status)
		}
	}
	// Once the escrow is whole again the item expires on the next block.
	if err := e.App.BankKeeper.SendCoinsFromAccountToModule(ctx, e.Accounts[7].Addr, types.ModuleName, drain); err != nil {
		t.Fatal(err)
	}
	if err := e.K.EndBlocker(ctx.WithBlockHeight(h + 1)); err != nil {
		t.Fatal(err)
	}
	if c := e.Contribution(ctx, first); c.Status != types.CONTRIBUTION_STATUS_EXPIRED {
		t.Fatalf("retried item is %s", c.Status)
	}
	if got := e.Balance(ctx, e.alice).Sub(before); got.Int64() != 5*deposit {
		t.Fatalf("refund %s", got)
	}
	e.CheckInvariants(ctx)
}

// TestEndBlockerThroughBlocks runs expiry through real FinalizeBlock/Commit (the
// module's EndBlock as wired in the app).
func TestEndBlockerThroughBlocks(t *testing.T) {
	e := newEnv(t)
	id := e.CreateDatanet(e.Ctx, e.collecting())
	cid := e.Submit(e.Ctx, e.alice, id, "expires")
	deadline := e.Contribution(e.Ctx, cid).ReviewDeadline
	for h := int64(2); h <= deadline+1; h++ {
		if _, err := e.App.FinalizeBlock(finalizeReq(h)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.App.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	ctx := e.App.NewUncachedContext(false, e.Ctx.BlockHeader())
	if c := e.Contribution(ctx, cid); c.Status != types.CONTRIBUTION_STATUS_EXPIRED || c.DecidedHeight != deadline+1 {
		t.Fatalf("contribution %s decided at %d", c.Status, c.DecidedHeight)
	}
	e.CheckInvariants(ctx)
}
