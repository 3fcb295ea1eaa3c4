package keeper_test

import (
	"bytes"
	"fmt"
	"testing"

	sdk "github.com/cosmos/cosmos-sdk/types"

	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/inference/types"
)

// marketState drives the market into jobs of every status reachable by msgs and
// EndBlock (OPEN with bids, AWARDED, PENDING, FINALIZED, EXPIRED, FAILED,
// CANCELLED, and one AWARDED in its second auction), unbonding entries, a jailed
// and an unbonded provider.
func marketState(t *testing.T, m *market) sdk.Context {
	t.Helper()
	ctx := tk.Branch(m.ctx)
	m.setParams(ctx, func(p *types.Params) { p.MaxReauctions = 0; p.JailAfterMisses = 0 })
	// FAILED: no re-auction allowed.
	failed, ctx := m.awardTo(ctx, mktProvC, 300)
	ctx = m.f.AdvanceTo(ctx, m.job(ctx, failed).DeadlineHeight+1)
	m.setParams(ctx, func(p *types.Params) { p.MaxReauctions = 1 })
	// FINALIZED.
	fin, ctx := m.awardTo(ctx, mktProvA, 500)
	r, err := m.f.Msg.SubmitReceipt(ctx, m.receiptMsg(ctx, mktProvA, fin, 10, 20, mktProvA))
	if err != nil {
		t.Fatal(err)
	}
	ctx = m.f.AdvanceTo(ctx, r.ChallengeEndHeight+1)
	// EXPIRED.
	exp := m.createJob(ctx, mktRequester)
	ctx = m.f.AdvanceTo(ctx, m.job(ctx, exp).BidCloseHeight+1)
	// CANCELLED.
	can := m.createJob(ctx, mktRequester)
	if _, err := m.f.Msg.CancelJob(ctx, &types.MsgCancelJob{Requester: m.addr(mktRequester), JobId: can}); err != nil {
		t.Fatal(err)
	}
	// Re-auctioned: B misses, the job is OPEN again with B excluded, then A wins it.
	re, ctx := m.awardTo(ctx, mktProvB, 400)
	ctx = m.f.AdvanceTo(ctx, m.job(ctx, re).DeadlineHeight+1)
	m.mustBid(ctx, mktProvA, re, 800) // A wins the second auction
	// PENDING and AWARDED, then OPEN with bids.
	pend, ctx := m.awardTo(ctx, mktProvA, 600)
	if _, err := m.f.Msg.SubmitReceipt(ctx, m.receiptMsg(ctx, mktProvA, pend, 5, 5, mktProvA)); err != nil {
		t.Fatal(err)
	}
	awd, ctx := m.awardTo(ctx, mktProvA, 700)
	_ = awd
	open := m.createJob(ctx, mktStranger)
	m.mustBid(ctx, mktProvA, open, 100)
	m.mustBid(ctx, mktProvC, open, 200)
	// Unbonding entries; C falls below the minimum (UNBONDED); B is jailed.
	for _, a := range []int64{1_000, 1_500_000} {
		if _, err := m.f.Msg.UnbondStake(ctx, &types.MsgUnbondStake{Operator: m.addr(mktProvC), Amount: mktCoin(a)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.f.K.Jail(ctx, m.acc(mktProvB), "test"); err != nil {
		t.Fatal(err)
	}
	want := map[types.JobStatus]uint64{
		types.JOB_STATUS_FAILED: failed, types.JOB_STATUS_FINALIZED: fin, types.JOB_STATUS_EXPIRED: exp,
		types.JOB_STATUS_CANCELLED: can, types.JOB_STATUS_PENDING: pend, types.JOB_STATUS_AWARDED: awd, types.JOB_STATUS_OPEN: open,
	}
	for st, id := range want {
		if got := m.job(ctx, id).Status; got != st {
			t.Fatalf("job %d is %s, want %s", id, got, st)
		}
	}
	if j := m.job(ctx, re); j.Status != types.JOB_STATUS_AWARDED || j.Auctions != 2 || j.Winner != m.addr(mktProvA) {
		t.Fatalf("re-auctioned job %+v", j)
	}
	m.invariants(ctx)
	return ctx
}

// storeDump lists every key and value of the inference store.
func storeDump(ctx sdk.Context, m *market) []string {
	var out []string
	it := ctx.KVStore(m.f.App.GetKey(types.StoreKey)).Iterator(nil, nil)
	defer it.Close()
	for ; it.Valid(); it.Next() {
		out = append(out, fmt.Sprintf("%x=%x", it.Key(), it.Value()))
	}
	return out
}

// TestGenesisRoundTrip exports the market, wipes the inference store, imports the
// export and checks that the store is rebuilt byte for byte (objects, sequences,
// indexes and the EndBlock queues) and exports the same genesis again; the market
// then goes on running from the imported state.
func TestGenesisRoundTrip(t *testing.T) {
	m := newMarket(t)
	ctx := marketState(t, m)
	gs, err := m.f.K.ExportGenesis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := gs.Validate(); err != nil {
		t.Fatalf("export does not validate: %v", err)
	}
	before := storeDump(ctx, m)

	imported := tk.Branch(ctx)
	store := imported.KVStore(m.f.App.GetKey(types.StoreKey))
	var keys [][]byte
	it := store.Iterator(nil, nil)
	for ; it.Valid(); it.Next() {
		keys = append(keys, bytes.Clone(it.Key()))
	}
	it.Close()
	for _, k := range keys {
		store.Delete(k)
	}
	if err := m.f.K.InitGenesis(imported, *gs); err != nil {
		t.Fatalf("import: %v", err)
	}
	after := storeDump(imported, m)
	// Everything comes back byte for byte, including the provider index of winners
	// that defaulted (they are in the job's excluded list).
	if len(after) != len(before) {
		t.Errorf("store has %d entries after import, %d before", len(after), len(before))
	}
	seen := make(map[string]bool, len(after))
	for _, kv := range after {
		seen[kv] = true
	}
	for _, kv := range before {
		if !seen[kv] {
			t.Errorf("lost on import: %s", kv)
		}
	}
	gs2, err := m.f.K.ExportGenesis(imported)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := m.f.App.AppCodec().MarshalJSON(gs)
	b, _ := m.f.App.AppCodec().MarshalJSON(gs2)
	if !bytes.Equal(a, b) {
		t.Fatalf("export after import differs:\n%s\n%s", a, b)
	}
	m.invariants(imported)

	// The imported queues run: everything reaches a final status.
	imported = m.f.AdvanceTo(imported, imported.BlockHeight()+mktWindow+mktExec+int64(gs.Params.ChallengeWindowBlocks)+2*(mktWindow+mktExec))
	res, err := m.f.Query.Jobs(imported, &types.QueryJobsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range res.Jobs {
		if !types.JobIsFinal(j.Status) {
			t.Errorf("job %d still %s after the imported queues ran", j.Id, j.Status)
		}
	}
	m.invariants(imported)
	// The module then holds nothing but stakes.
	owed, err := m.f.K.Owed(imported)
	if err != nil {
		t.Fatal(err)
	}
	var stakes int64
	for _, p := range gs.Providers {
		stakes += p.Stake.Amount.Int64()
	}
	for _, u := range gs.Unbondings {
		stakes += u.Amount.Amount.Int64()
	}
	if owed.AmountOf(tk.Denom).Int64() > stakes {
		t.Fatalf("owes %s after every job closed, stakes %d", owed, stakes)
	}
}
