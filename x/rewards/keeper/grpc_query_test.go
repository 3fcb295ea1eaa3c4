package keeper_test

import (
	"errors"
	"testing"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/rewards/types"
)

func TestQueries(t *testing.T) {
	f := world(t)
	f.fund(11_000)
	if _, err := f.k.Settle(f.ctx, payer, 1, provider, coin(1_000), coin(10_000), 7, goodSummary()); err != nil {
		t.Fatal(err)
	}
	cr, err := f.query.ContributionRewards(f.ctx, &types.QueryContributionRewardsRequest{ContributionId: 1})
	if err != nil || !cr.Direct.Equal(sdkmath.NewInt(2_744)) || len(cr.Pools) != 1 || !cr.Pools[0].Amount.Equal(sdkmath.NewInt(343)) {
		t.Fatalf("contribution 1: %v %v", cr, err)
	}
	dt, err := f.query.DeploymentTotals(f.ctx, &types.QueryDeploymentTotalsRequest{DeploymentId: 7})
	if err != nil || dt.Totals.Settlements != 1 || !dt.Totals.Paid.Equal(sdkmath.NewInt(11_000)) ||
		!dt.Totals.Developer.Equal(sdkmath.NewInt(2_940)) || !dt.Totals.Data.Equal(sdkmath.NewInt(6_860)) {
		t.Fatalf("deployment totals: %v %v", dt, err)
	}
	nt, err := f.query.DatanetTotals(f.ctx, &types.QueryDatanetTotalsRequest{DatanetId: 1})
	if err != nil || !nt.Totals.Direct.Equal(sdkmath.NewInt(2_744)) || !nt.Totals.Pooled.Equal(sdkmath.NewInt(1_372)) {
		t.Fatalf("datanet totals: %v %v", nt, err)
	}
	pool, err := f.query.Pool(f.ctx, &types.QueryPoolRequest{DatanetId: 2, Version: 1})
	if err != nil || !pool.Pool.Balance.Equal(sdkmath.NewInt(2_744)) || pool.Pool.TotalShares != 1_000 {
		t.Fatalf("pool: %v %v", pool, err)
	}
	acc, err := f.query.Accruals(f.ctx, &types.QueryAccrualsRequest{Recipient: f.bech(dev)})
	if err != nil || len(acc.Accruals) != 1 || acc.Accruals[0].Kind != types.SOURCE_KIND_DEPLOYMENT {
		t.Fatalf("accruals: %v %v", acc, err)
	}
	if _, err := f.query.Pool(f.ctx, &types.QueryPoolRequest{DatanetId: 9, Version: 1}); !errors.Is(err, types.ErrPoolNotFound) {
		t.Fatalf("missing pool: %v", err)
	}
	if _, err := f.query.SettlementRecord(f.ctx, &types.QuerySettlementRecordRequest{PayerModule: payer, SettlementId: 2}); !errors.Is(err, types.ErrRecordNotFound) {
		t.Fatalf("missing record: %v", err)
	}
	if p, err := f.query.Params(f.ctx, &types.QueryParamsRequest{}); err != nil || p.Params.MaxTopK != 32 {
		t.Fatalf("params: %v %v", p, err)
	}
}

// TestPendingRewards: an address's claimable rewards by source sum to exactly what
// its claim then pays; the pool walk is bounded by limit and resumable.
func TestPendingRewards(t *testing.T) {
	f := world(t)
	f.fund(11_000)
	if _, err := f.k.Settle(f.ctx, payer, 1, provider, coin(1_000), coin(10_000), 7, goodSummary()); err != nil {
		t.Fatal(err)
	}
	more := f.version(3, 1, []sdk.AccAddress{alice, alice}, []uint64{10, 20}) // ids 4, 5: no pools yet
	cases := []struct {
		name              string
		who               sdk.AccAddress
		start             uint64
		limit             uint32
		developer, direct int
		pools             []types.PendingPoolShare
		total             int64
		next              uint64
		err               error
	}{
		{name: "alice: direct and pool", who: alice, direct: 1,
			pools: []types.PendingPoolShare{{DatanetId: 1, Version: 1, ContributionId: 1, Shares: 100, Amount: sdkmath.NewInt(343)}},
			total: 2_744 + 343},
		{name: "alice, one contribution per page", who: alice, limit: 1, direct: 1,
			pools: []types.PendingPoolShare{{DatanetId: 1, Version: 1, ContributionId: 1, Shares: 100, Amount: sdkmath.NewInt(343)}},
			total: 2_744 + 343, next: more[0]},
		{name: "alice, second page", who: alice, start: more[0], limit: 1, direct: 1, total: 2_744, next: more[1]},
		{name: "bob: pool only", who: bob,
			pools: []types.PendingPoolShare{{DatanetId: 1, Version: 1, ContributionId: 2, Shares: 300, Amount: sdkmath.NewInt(1_029)}},
			total: 1_029},
		{name: "dev: developer credit", who: dev, developer: 1, total: 2_940},
		{name: "provider: nothing", who: provider, total: 0},
		{name: "bad address", err: types.ErrInvalidAddress},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := &types.QueryPendingRewardsRequest{StartContributionId: tc.start, Limit: tc.limit}
			if tc.who != nil {
				req.Address = f.bech(tc.who)
			}
			res, err := f.query.PendingRewards(f.ctx, req)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("got %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Developer) != tc.developer || len(res.Direct) != tc.direct || len(res.Pools) != len(tc.pools) ||
				!res.Total.Equal(sdkmath.NewInt(tc.total)) || res.NextContributionId != tc.next || res.Denom != denom {
				t.Fatalf("got %v", res)
			}
			for i := range tc.pools {
				if res.Pools[i].String() != tc.pools[i].String() {
					t.Fatalf("pool %d: %v, want %v", i, res.Pools[i], tc.pools[i])
				}
			}
		})
	}
	// What the query shows is what the claim pays.
	for _, who := range []sdk.AccAddress{alice, bob, carol, dev} {
		res, err := f.query.PendingRewards(f.ctx, &types.QueryPendingRewardsRequest{Address: f.bech(who)})
		if err != nil {
			t.Fatal(err)
		}
		out, err := f.msg.ClaimRewards(f.ctx, &types.MsgClaimRewards{Claimant: f.bech(who)})
		if err != nil || !out.Amount.Amount.Equal(res.Total) {
			t.Fatalf("%s: pending %s, claimed %v (%v)", who, res.Total, out, err)
		}
	}
}
