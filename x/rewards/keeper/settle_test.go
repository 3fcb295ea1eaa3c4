package keeper_test

import (
	"errors"
	"testing"

	errorsmod "cosmossdk.io/errors"
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"

	modelstypes "github.com/openledger/openledger/x/models/types"
	"github.com/openledger/openledger/x/rewards/types"
)

var (
	alice    = addr("alice")
	bob      = addr("bob")
	carol    = addr("carol")
	dev      = addr("dev")
	provider = addr("provider")
)

// world: datanet 1 v1 = {1: alice 100 B, 2: bob 300 B}; datanet 2 v1 = {3: carol 1000 B};
// deployment 7 (dev, 30% developer) pays 60% to (1,1) and 40% to (2,1).
func world(t testing.TB) *fixture {
	f := newFixture(t)
	f.version(1, 1, []sdk.AccAddress{alice, bob}, []uint64{100, 300})
	f.version(2, 1, []sdk.AccAddress{carol}, []uint64{1000})
	f.deployment(7, dev, 3000,
		modelstypes.DataShare{DatanetId: 1, Version: 1, Bps: 6000},
		modelstypes.DataShare{DatanetId: 2, Version: 1, Bps: 4000})
	return f
}

func goodSummary() types.AttributionSummary {
	return types.AttributionSummary{
		Top:   []types.ContributionWeight{{DatanetId: 1, Version: 1, ContributionId: 1, Ppm: 500_000}},
		Pools: []types.PoolWeight{{DatanetId: 1, Version: 1, Ppm: 250_000}, {DatanetId: 2, Version: 1, Ppm: 250_000}},
	}
}

func TestSettleSplitsExactly(t *testing.T) {
	f := world(t)
	f.fund(11_000)
	rec, err := f.k.Settle(f.ctx, payer, 1, provider, coin(1_000), coin(10_000), 7, goodSummary())
	if err != nil {
		t.Fatal(err)
	}
	// fee 2% of 11,000 = 220 (20 from compute, 200 from royalty); royalty net 9,800:
	// developer 2,940, data 6,860 = 4,116 to (1,1) + 2,744 to (2,1); in (1,1) alice's
	// 500,000 of 750,000 ppm = 2,744 direct, 1,372 to the pool.
	want := map[string]int64{"fee": 220, "compute": 980, "developer": 2_940, "direct": 2_744, "pooled": 1_372 + 2_744}
	got := map[string]sdk.Coin{"fee": rec.ProtocolFee, "compute": rec.Compute, "developer": rec.Developer, "direct": rec.Direct, "pooled": rec.Pooled}
	for _, name := range []string{"fee", "compute", "developer", "direct", "pooled"} {
		if !got[name].Amount.Equal(sdkmath.NewInt(want[name])) {
			t.Errorf("%s = %s, want %d", name, got[name], want[name])
		}
	}
	if !f.balance(communityPool).Equal(sdkmath.NewInt(220)) || !f.balance(provider).Equal(sdkmath.NewInt(980)) {
		t.Fatalf("community pool %s, provider %s", f.balance(communityPool), f.balance(provider))
	}
	f.invariant()

	// Claims: everyone gets exactly their share.
	claims := []struct {
		who  sdk.AccAddress
		want int64
	}{{alice, 2_744 + 343}, {bob, 1_029}, {carol, 2_744}, {dev, 2_940}}
	for _, c := range claims {
		res, err := f.msg.ClaimRewards(f.ctx, &types.MsgClaimRewards{Claimant: f.bech(c.who)})
		if err != nil {
			t.Fatalf("%s: %v", c.who, err)
		}
		if !res.Amount.Amount.Equal(sdkmath.NewInt(c.want)) || !f.balance(c.who).Equal(sdkmath.NewInt(c.want)) {
			t.Errorf("%s claimed %s, want %d", c.who, res.Amount, c.want)
		}
		f.invariant()
	}
	if _, err := f.msg.ClaimRewards(f.ctx, &types.MsgClaimRewards{Claimant: f.bech(alice)}); !errors.Is(err, types.ErrBelowMinClaim) {
		t.Fatalf("second claim: %v", err)
	}
	if bal := f.balance(authtypes.NewModuleAddress(types.ModuleName)); !bal.IsZero() {
		t.Fatalf("module keeps %s after every claim", bal)
	}
}

// TestSettleWithoutAttribution: an empty summary (a payment no output is
// attributed to) sends each version's data share to its pool, by the table.
func TestSettleWithoutAttribution(t *testing.T) {
	f := world(t)
	f.fund(11_000)
	rec, err := f.k.Settle(f.ctx, payer, 1, provider, coin(1_000), coin(10_000), 7, types.AttributionSummary{})
	if err != nil {
		t.Fatal(err)
	}
	// As TestSettleSplitsExactly, but the data share 6,860 goes to the pools whole:
	// 4,116 to (1,1) and 2,744 to (2,1).
	if !rec.Direct.IsZero() || !rec.Pooled.Amount.Equal(sdkmath.NewInt(6_860)) || !rec.Developer.Amount.Equal(sdkmath.NewInt(2_940)) {
		t.Fatalf("record %+v", rec)
	}
	f.invariant()
	// Pools pay by shares: alice 100 and bob 300 of (1,1)'s 4,116; carol all of (2,1).
	for _, c := range []struct {
		who  sdk.AccAddress
		want int64
	}{{alice, 1_029}, {bob, 3_087}, {carol, 2_744}} {
		res, err := f.msg.ClaimRewards(f.ctx, &types.MsgClaimRewards{Claimant: f.bech(c.who)})
		if err != nil {
			t.Fatalf("%s: %v", c.who, err)
		}
		if !res.Amount.Amount.Equal(sdkmath.NewInt(c.want)) {
			t.Errorf("%s claimed %s, want %d", c.who, res.Amount, c.want)
		}
	}
	f.invariant()
}

func TestSettleRejects(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(f *fixture, s *types.AttributionSummary)
		compute sdk.Coin
		royalty sdk.Coin
		deploy  uint64
		err     *errorsmod.Error
	}{
		{name: "weights sum short", edit: func(_ *fixture, s *types.AttributionSummary) { s.Pools[1].Ppm-- }, err: types.ErrWeightsSum},
		{name: "top longer than K", edit: func(f *fixture, s *types.AttributionSummary) {
			p, _ := f.k.Params.Get(f.ctx)
			p.MaxTopK = 1
			_ = f.k.Params.Set(f.ctx, p)
			s.Top = append(s.Top, types.ContributionWeight{DatanetId: 1, Version: 1, ContributionId: 2, Ppm: 1})
			s.Pools[0].Ppm--
		}, err: types.ErrTooManyContributions},
		{name: "duplicate top", edit: func(_ *fixture, s *types.AttributionSummary) {
			s.Top = append(s.Top, s.Top[0])
			s.Top[0].Ppm, s.Top[1].Ppm = 250_000, 250_000
		}, err: types.ErrDuplicateEntry},
		{name: "duplicate pool", edit: func(_ *fixture, s *types.AttributionSummary) {
			s.Pools[1] = s.Pools[0]
		}, err: types.ErrDuplicateEntry},
		{name: "contribution of another datanet", edit: func(_ *fixture, s *types.AttributionSummary) {
			s.Top[0].ContributionId = 3
		}, err: types.ErrContributionNotInVersion},
		{name: "unknown contribution", edit: func(_ *fixture, s *types.AttributionSummary) {
			s.Top[0].ContributionId = 99
		}, err: types.ErrContributionNotInVersion},
		{name: "not accepted", edit: func(f *fixture, _ *types.AttributionSummary) {
			f.dn.contribs[0].Status = 1
		}, err: types.ErrContributionNotInVersion},
		{name: "version outside the table", edit: func(_ *fixture, s *types.AttributionSummary) {
			s.Pools[1].DatanetId = 3
		}, err: types.ErrVersionNotInDeployment},
		{name: "zero ppm", edit: func(_ *fixture, s *types.AttributionSummary) {
			s.Pools = append(s.Pools, types.PoolWeight{DatanetId: 2, Version: 1, Ppm: 0})
		}, err: types.ErrInvalidSummary},
		{name: "wrong denom", compute: sdk.NewInt64Coin("uatom", 1_000), err: types.ErrInvalidAmount},
		{name: "zero total", compute: coin(0), royalty: coin(0), err: types.ErrInvalidAmount},
		{name: "unknown deployment", deploy: 8, err: modelstypes.ErrDeploymentNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := world(t)
			f.fund(11_000)
			s := goodSummary()
			if tc.edit != nil {
				tc.edit(f, &s)
			}
			compute, royalty, deploy := coin(1_000), coin(10_000), uint64(7)
			if tc.compute.Denom != "" {
				compute = tc.compute
			}
			if tc.royalty.Denom != "" {
				royalty = tc.royalty
			}
			if tc.deploy != 0 {
				deploy = tc.deploy
			}
			_, err := f.k.Settle(f.ctx, payer, 1, provider, compute, royalty, deploy, s)
			if !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
			if !f.balance(authtypes.NewModuleAddress(payer)).Equal(sdkmath.NewInt(11_000)) {
				t.Fatal("coins moved on error")
			}
			f.invariant()
		})
	}
}

func TestSettleAtomicAndOnce(t *testing.T) {
	f := world(t)
	f.fund(5_000) // short of 11,000: the bank refuses, nothing is booked
	if _, err := f.k.Settle(f.ctx, payer, 1, provider, coin(1_000), coin(10_000), 7, goodSummary()); err == nil {
		t.Fatal("underfunded payer settled")
	}
	if owed, _ := f.k.Owed(f.ctx); !owed.IsZero() {
		t.Fatalf("booked %s on a failed settlement", owed)
	}
	f.fund(6_000)
	if _, err := f.k.Settle(f.ctx, payer, 1, provider, coin(1_000), coin(10_000), 7, goodSummary()); err != nil {
		t.Fatal(err)
	}
	f.fund(11_000)
	if _, err := f.k.Settle(f.ctx, payer, 1, provider, coin(1_000), coin(10_000), 7, goodSummary()); !errors.Is(err, types.ErrDuplicateSettlement) {
		t.Fatalf("replay: %v", err)
	}
	res, err := f.query.SettlementRecord(f.ctx, &types.QuerySettlementRecordRequest{PayerModule: payer, SettlementId: 1})
	if err != nil || res.Record.DeploymentId != 7 {
		t.Fatalf("record: %v %v", res, err)
	}
	// Pruned after the retention, in EndBlock.
	p, _ := f.k.Params.Get(f.ctx)
	if err := f.k.EndBlocker(f.ctx.WithBlockHeight(f.ctx.BlockHeight() + int64(p.RecordRetentionBlocks) - 1)); err != nil {
		t.Fatal(err)
	}
	if has, _ := f.k.Records.Has(f.ctx, joinRec(payer, 1)); !has {
		t.Fatal("pruned early")
	}
	if err := f.k.EndBlocker(f.ctx.WithBlockHeight(f.ctx.BlockHeight() + int64(p.RecordRetentionBlocks))); err != nil {
		t.Fatal(err)
	}
	if has, _ := f.k.Records.Has(f.ctx, joinRec(payer, 1)); has {
		t.Fatal("not pruned")
	}
}
