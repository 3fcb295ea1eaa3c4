package keeper_test

import (
	"testing"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	modelstypes "github.com/openledger/openledger/x/models/types"
	"github.com/openledger/openledger/x/rewards/types"
)

// TestPoolSharesCapped: a version pool divides by the version's capped total
// (x/datanet's max_shares_per_contribution) and each contribution collects by its
// capped shares, so padding a contribution beyond the cap buys nothing; without a
// cap the pool is shared by bytes. The pool never pays out more than it holds.
func TestPoolSharesCapped(t *testing.T) {
	const paid = 1_000_000 // royalty; no fee, no developer share: all of it to the pool
	cases := []struct {
		name     string
		shareCap uint64
		sizes    []uint64 // alice, bob, (carol)
		want     []int64  // what each collects
	}{
		{name: "below the cap: by bytes", shareCap: 1_000, sizes: []uint64{100, 300}, want: []int64{250_000, 750_000}},
		{name: "padding attack: a huge contribution takes only its cap", shareCap: 1_000,
			sizes: []uint64{1_000, 1 << 40}, want: []int64{500_000, 500_000}},
		{name: "padding attack against two honest contributions", shareCap: 500,
			sizes: []uint64{500, 250, 1 << 30}, want: []int64{400_000, 200_000, 400_000}},
		{name: "no cap: bytes buy shares", shareCap: 0, sizes: []uint64{1_000, 3_000}, want: []int64{250_000, 750_000}},
		{name: "rounding stays in the pool", shareCap: 7, sizes: []uint64{7, 7, 100}, want: []int64{333_333, 333_333, 333_333}},
	}
	people := []sdk.AccAddress{alice, bob, carol}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.shareCap = tc.shareCap
			params, err := f.k.Params.Get(f.ctx)
			if err != nil {
				t.Fatal(err)
			}
			params.ProtocolFeeBps, params.MinClaim = 0, sdkmath.ZeroInt()
			if err := f.k.Params.Set(f.ctx, params); err != nil {
				t.Fatal(err)
			}
			f.version(1, 1, people[:len(tc.sizes)], tc.sizes)
			f.deployment(7, dev, 0, modelstypes.DataShare{DatanetId: 1, Version: 1, Bps: 10_000})
			f.fund(paid)
			summary := types.AttributionSummary{Pools: []types.PoolWeight{{DatanetId: 1, Version: 1, Ppm: types.PpmScale}}}
			if _, err := f.k.Settle(f.ctx, payer, 1, provider, coin(0), coin(paid), 7, summary); err != nil {
				t.Fatal(err)
			}
			pool, err := f.k.Pools.Get(f.ctx, joinPool(1, 1))
			if err != nil {
				t.Fatal(err)
			}
			var total uint64
			for _, c := range f.dn.contribs {
				total += c.Shares
				if tc.shareCap != 0 && c.Shares > tc.shareCap {
					t.Fatalf("contribution %d holds %d shares above the cap %d", c.Id, c.Shares, tc.shareCap)
				}
			}
			if pool.TotalShares != total {
				t.Fatalf("pool total_shares %d, contributions hold %d", pool.TotalShares, total)
			}
			var collected int64
			for i, want := range tc.want {
				res, err := f.msg.ClaimRewards(f.ctx, &types.MsgClaimRewards{Claimant: f.bech(people[i])})
				if err != nil {
					t.Fatalf("%s: %v", people[i], err)
				}
				if res.Amount.Amount.Int64() != want {
					t.Errorf("%s collected %s, want %d", people[i], res.Amount, want)
				}
				collected += res.Amount.Amount.Int64()
				f.invariant()
			}
			if collected > paid {
				t.Fatalf("collected %d from a pool of %d", collected, paid)
			}
		})
	}
}
