package keeper_test

import (
	"errors"
	"testing"

	sdkmath "cosmossdk.io/math"

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
