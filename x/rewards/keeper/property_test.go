package keeper_test

import (
	"math/rand/v2"
	"testing"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"

	modelstypes "github.com/openledger/openledger/x/models/types"
	"github.com/openledger/openledger/x/rewards/types"
)

// splitPpm cuts types.PpmScale into n positive parts at random.
func splitPpm(r *rand.Rand, n int) []uint32 {
	parts := make([]uint32, n)
	left := uint32(types.PpmScale) - uint32(n)
	for i := 0; i < n-1; i++ {
		x := r.Uint32N(left + 1)
		parts[i] = 1 + x
		left -= x
	}
	parts[n-1] = 1 + left
	return parts
}

// TestSettleProperty runs thousands of random settlements over random tables and
// summaries, checking after each that the parts sum to the payment and that the
// module account holds exactly what it owes; then everyone claims and the module
// keeps only the pools' rounding dust, which is less than one unit per pool member.
func TestSettleProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	f := newFixture(t)
	people := []sdk.AccAddress{alice, bob, carol, addr("dave"), addr("erin")}
	const datanets, contribsPer = 8, 6
	var members [][]uint64
	for d := uint64(1); d <= datanets; d++ {
		who := make([]sdk.AccAddress, contribsPer)
		sizes := make([]uint64, contribsPer)
		for i := range who {
			who[i] = people[r.IntN(len(people))]
			sizes[i] = 1 + r.Uint64N(1<<20)
		}
		members = append(members, f.version(d, 1, who, sizes))
	}
	const deployments = 10
	for id := uint64(1); id <= deployments; id++ {
		n := 1 + r.IntN(datanets)
		perm := r.Perm(datanets)[:n]
		bps := splitPpm(r, n)
		table := make([]modelstypes.DataShare, n)
		var given uint32
		for i := range table {
			table[i] = modelstypes.DataShare{DatanetId: uint64(perm[i]) + 1, Version: 1, Bps: bps[i] * 10_000 / types.PpmScale}
			given += table[i].Bps
		}
		table[0].Bps += 10_000 - given
		f.deployment(id, dev, r.Uint32N(10_001), table...)
	}
	p, _ := f.k.Params.Get(f.ctx)
	p.ProtocolFeeBps = r.Uint32N(5_001)
	_ = f.k.Params.Set(f.ctx, p)

	const rounds = 3_000
	paid := sdkmath.ZeroInt()
	for i := uint64(1); i <= rounds; i++ {
		dep := f.mod.deps[1+r.Uint64N(deployments)]
		var s types.AttributionSummary
		var slots int
		for _, e := range dep.DataShares {
			for _, c := range members[e.DatanetId-1] {
				if r.IntN(3) == 0 && len(s.Top) < int(p.MaxTopK) {
					s.Top = append(s.Top, types.ContributionWeight{DatanetId: e.DatanetId, Version: 1, ContributionId: c})
					slots++
				}
			}
			if r.IntN(2) == 0 {
				s.Pools = append(s.Pools, types.PoolWeight{DatanetId: e.DatanetId, Version: 1})
				slots++
			}
		}
		if slots == 0 {
			s.Pools = append(s.Pools, types.PoolWeight{DatanetId: dep.DataShares[0].DatanetId, Version: 1})
			slots = 1
		}
		w := splitPpm(r, slots)
		for j := range s.Top {
			s.Top[j].Ppm = w[j]
		}
		for j := range s.Pools {
			s.Pools[j].Ppm = w[len(s.Top)+j]
		}
		compute, royalty := int64(r.Uint64N(1_000_000)), int64(r.Uint64N(1<<40))
		if compute+royalty == 0 {
			royalty = 1
		}
		f.fund(compute + royalty)
		rec, err := f.k.Settle(f.ctx, payer, i, provider, coin(compute), coin(royalty), dep.Deployment.Id, s)
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		parts := rec.ProtocolFee.Add(rec.Compute).Add(rec.Developer).Add(rec.Direct).Add(rec.Pooled)
		if !parts.Amount.Equal(sdkmath.NewInt(compute + royalty)) {
			t.Fatalf("round %d: parts %s != %d", i, parts, compute+royalty)
		}
		paid = paid.Add(sdkmath.NewInt(compute + royalty))
		if i%100 == 0 {
			f.invariant()
		}
	}
	f.invariant()
	// Everyone claims until nothing is left, a few items at a time.
	for _, who := range append(people, dev) {
		for {
			res, err := f.msg.ClaimRewards(f.ctx, &types.MsgClaimRewards{Claimant: f.bech(who), MaxItems: 3})
			if err != nil || !res.More {
				break
			}
		}
		f.invariant()
	}
	left := f.balance(authtypes.NewModuleAddress(types.ModuleName))
	if left.GT(sdkmath.NewInt(datanets * contribsPer)) {
		t.Fatalf("module keeps %s after all claims: more than rounding dust", left)
	}
	total := left.Add(f.balance(communityPool)).Add(f.balance(provider))
	for _, who := range append(people, dev) {
		total = total.Add(f.balance(who))
	}
	if !total.Equal(paid) {
		t.Fatalf("conservation: %s accounted, %s paid", total, paid)
	}
}
