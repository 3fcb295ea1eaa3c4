package keeper_test

import (
	"testing"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/query"

	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/inference/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// TestJobMoneyStory: a requester creates a job, two providers bid, the cheaper
// wins and posts a receipt, the challenge window passes: the requester is
// refunded exactly escrow − price, the provider receives compute minus its fee
// part, x/rewards holds the royalty's credits and the community pool the fee; the
// invariants hold after every step and the supply never changes.
func TestJobMoneyStory(t *testing.T) {
	m := newMarket(t)
	ctx := tk.Branch(m.ctx)
	rewardsAddr := m.f.App.AccountKeeper.GetModuleAddress(rewardstypes.ModuleName)
	rewardsBal := func(ctx sdk.Context) sdkmath.Int {
		return m.f.App.BankKeeper.GetBalance(ctx, rewardsAddr, tk.Denom).Amount
	}
	supply := m.supply(ctx)
	step := func(ctx sdk.Context, what string) {
		t.Helper()
		m.invariants(ctx)
		if !m.supply(ctx).Equal(supply) {
			t.Fatalf("%s: supply changed", what)
		}
	}
	req0, a0, b0 := m.balance(ctx, mktRequester), m.balance(ctx, mktProvA), m.balance(ctx, mktProvB)
	pool0, rew0 := m.f.CommunityPool(ctx), rewardsBal(ctx)

	res, err := m.f.Msg.CreateJob(ctx, m.jobMsg(mktRequester))
	mktWantErr(t, err, nil)
	id, escrow := res.JobId, res.Escrow.Amount
	step(ctx, "create")
	m.mustBid(ctx, mktProvA, id, 700)
	step(ctx, "bid A")
	m.mustBid(ctx, mktProvB, id, 450) // cheaper
	step(ctx, "bid B")
	ctx = m.f.AdvanceTo(ctx, m.job(ctx, id).BidCloseHeight+1)
	step(ctx, "award")
	j := m.job(ctx, id)
	if j.Winner != m.addr(mktProvB) || j.WinningPrice.Amount.Int64() != 450 {
		t.Fatalf("winner %s at %s", j.Winner, j.WinningPrice)
	}
	const prompt, completion = 1_234, 3_333 // 4,567 tokens
	rres, err := m.f.Msg.SubmitReceipt(ctx, m.receiptMsg(ctx, mktProvB, id, prompt, completion, mktProvB))
	mktWantErr(t, err, nil)
	step(ctx, "receipt")
	// Nothing is paid before the challenge window ends.
	ctx = m.f.AdvanceTo(ctx, rres.ChallengeEndHeight)
	if m.job(ctx, id).Status != types.JOB_STATUS_PENDING {
		t.Fatal("finalised before the end of the challenge window")
	}
	ctx = m.f.EndBlock(ctx)
	step(ctx, "finalise")

	j = m.job(ctx, id)
	r, err := m.f.K.Receipts.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	tokens := int64(prompt + completion)
	compute := tokens * 450 / 1000
	royalty := tokens * tk.InferenceRoyalty / 1000
	price := compute + royalty
	rp, err := m.f.App.RewardsKeeper.Params.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fee := price * int64(rp.ProtocolFeeBps) / 10_000
	feeCompute := compute * int64(rp.ProtocolFeeBps) / 10_000
	if j.Status != types.JOB_STATUS_FINALIZED || j.Paid.Amount.Int64() != price || !j.Refunded.Amount.Equal(escrow.SubRaw(price)) ||
		r.Status != types.SETTLEMENT_STATUS_FINALIZED || r.SettlementId == 0 || r.Price.Amount.Int64() != price {
		t.Fatalf("job %+v receipt %+v", j, r)
	}
	if got := req0.Sub(m.balance(ctx, mktRequester)); got.Int64() != price {
		t.Fatalf("requester paid %s, want exactly the price %d (escrow %s refunded but the price)", got, price, escrow)
	}
	if got := m.balance(ctx, mktProvB).Sub(b0); got.Int64() != compute-feeCompute {
		t.Fatalf("provider B received %s, want compute %d − its fee part %d", got, compute, feeCompute)
	}
	if !m.balance(ctx, mktProvA).Equal(a0) {
		t.Fatal("the losing bidder's balance changed")
	}
	if got := m.f.CommunityPool(ctx).Sub(pool0); got.Int64() != fee {
		t.Fatalf("community pool +%s, want the fee %d", got, fee)
	}
	if got := rewardsBal(ctx).Sub(rew0); got.Int64() != royalty-(fee-feeCompute) {
		t.Fatalf("x/rewards holds +%s, want the royalty %d net of its fee part %d", got, royalty, fee-feeCompute)
	}
	if !m.moduleBalance(ctx).Equal(sdkmath.NewInt(3 * mktStake)) {
		t.Fatalf("inference module holds %s, want only the three stakes", m.moduleBalance(ctx))
	}
	if _, err := m.f.App.RewardsKeeper.Records.Get(ctx, collections.Join(types.ModuleName, r.SettlementId)); err != nil {
		t.Fatalf("x/rewards has no record of settlement %d: %v", r.SettlementId, err)
	}
	if n, _ := m.f.Query.Bids(ctx, &types.QueryBidsRequest{JobId: id}); len(n.Bids) != 0 {
		t.Fatal("bids kept after finalisation")
	}
}

// TestFinalizeFallback: x/rewards refuses the settlement at finalisation (its denom
// changed since the receipt was accepted); compute goes straight to the provider,
// the rest (royalty included) back to the requester, the escrow is never stranded.
func TestFinalizeFallback(t *testing.T) {
	m := newMarket(t)
	ctx := tk.Branch(m.ctx)
	supply := m.supply(ctx)
	req0, a0 := m.balance(ctx, mktRequester), m.balance(ctx, mktProvA)
	id, ctx := m.awardTo(ctx, mktProvA, 500)
	rres, err := m.f.Msg.SubmitReceipt(ctx, m.receiptMsg(ctx, mktProvA, id, 1_000, 1_000, mktProvA))
	mktWantErr(t, err, nil)
	rp, err := m.f.App.RewardsKeeper.Params.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rp.Denom = "uother"
	if err := m.f.App.RewardsKeeper.Params.Set(ctx, rp); err != nil {
		t.Fatal(err)
	}
	ctx = m.f.AdvanceTo(ctx, rres.ChallengeEndHeight)
	if err := m.f.K.EndBlocker(ctx); err != nil {
		t.Fatal(err)
	}
	if n := eventCount(ctx, "EventSettlementFallback"); n != 1 {
		t.Fatalf("%d EventSettlementFallback events, want 1", n)
	}
	ctx = m.f.EndBlock(ctx)
	j := m.job(ctx, id)
	compute := int64(2_000 * 500 / 1000)
	if j.Status != types.JOB_STATUS_FINALIZED || j.Paid.Amount.Int64() != compute || !j.Refunded.Amount.Equal(j.Escrow.Amount.SubRaw(compute)) {
		t.Fatalf("job %+v", j)
	}
	if r, _ := m.f.K.Receipts.Get(ctx, id); r.SettlementId != 0 || r.Status != types.SETTLEMENT_STATUS_FINALIZED {
		t.Fatalf("receipt %+v", r)
	}
	if got := m.balance(ctx, mktProvA).Sub(a0); got.Int64() != compute {
		t.Fatalf("provider got %s, want compute %d", got, compute)
	}
	if got := req0.Sub(m.balance(ctx, mktRequester)); got.Int64() != compute {
		t.Fatalf("requester paid %s, want %d", got, compute)
	}
	if !m.supply(ctx).Equal(supply) {
		t.Fatal("supply changed")
	}
	if err := m.f.K.AllInvariants(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestJobQueries(t *testing.T) {
	m := newMarket(t)
	ctx := tk.Branch(m.ctx)
	awarded, ctx := m.awardTo(ctx, mktProvA, 500)
	open := m.createJob(ctx, mktRequester)
	other := m.createJob(ctx, mktStranger)
	count := func(req *types.QueryJobsRequest) []uint64 {
		t.Helper()
		res, err := m.f.Query.Jobs(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		var ids []uint64
		for _, j := range res.Jobs {
			ids = append(ids, j.Id)
		}
		return ids
	}
	eq := func(got []uint64, want ...uint64) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("jobs %v, want %v", got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("jobs %v, want %v", got, want)
			}
		}
	}
	eq(count(&types.QueryJobsRequest{}), awarded, open, other)
	eq(count(&types.QueryJobsRequest{Requester: m.addr(mktRequester)}), awarded, open)
	eq(count(&types.QueryJobsRequest{Requester: m.addr(mktRequester), Status: types.JOB_STATUS_OPEN}), open)
	eq(count(&types.QueryJobsRequest{Provider: m.addr(mktProvA)}), awarded)
	eq(count(&types.QueryJobsRequest{Provider: m.addr(mktProvA), Requester: m.addr(mktStranger)}))
	eq(count(&types.QueryJobsRequest{Requester: m.addr(mktRequester), Provider: m.addr(mktProvA)}), awarded)
	eq(count(&types.QueryJobsRequest{DeploymentId: m.f.DeploymentID, Status: types.JOB_STATUS_OPEN}), open, other)
	eq(count(&types.QueryJobsRequest{Status: types.JOB_STATUS_AWARDED}), awarded)
	eq(count(&types.QueryJobsRequest{DeploymentId: 999}))
	res, err := m.f.Query.Jobs(ctx, &types.QueryJobsRequest{Status: types.JOB_STATUS_OPEN, Pagination: &query.PageRequest{Limit: 1}})
	if err != nil || len(res.Jobs) != 1 || res.Pagination.NextKey == nil {
		t.Fatalf("page %v %v", res, err)
	}
	if _, err := m.f.Query.Job(ctx, &types.QueryJobRequest{JobId: 999}); err == nil {
		t.Fatal("unknown job found")
	}
	if _, err := m.f.Query.Receipt(ctx, &types.QueryReceiptRequest{JobId: awarded}); err == nil {
		t.Fatal("receipt before submission")
	}
}
