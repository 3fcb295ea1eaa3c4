package keeper

import (
	sdkmath "cosmossdk.io/math"

	modelstypes "github.com/openledger/openledger/x/models/types"
	"github.com/openledger/openledger/x/rewards/types"
)

// Split is how one payment divides; every part is >= 0 and the parts sum exactly
// to compute + royalty (ADR-003).
type Split struct {
	Fee       sdkmath.Int
	Compute   sdkmath.Int
	Developer sdkmath.Int
	// Top[i] is paid to summary.Top[i].
	Top []sdkmath.Int
	// Pools[j] is deposited into the pool of table[j].
	Pools []sdkmath.Int
}

// Direct sums the top-K parts.
func (s Split) Direct() sdkmath.Int { return sum(s.Top) }

// Pooled sums the pool deposits.
func (s Split) Pooled() sdkmath.Int { return sum(s.Pools) }

// Total sums every part.
func (s Split) Total() sdkmath.Int {
	return s.Fee.Add(s.Compute).Add(s.Developer).Add(s.Direct()).Add(s.Pooled())
}

func sum(xs []sdkmath.Int) sdkmath.Int {
	t := sdkmath.ZeroInt()
	for _, x := range xs {
		t = t.Add(x)
	}
	return t
}

// mulDiv is floor(a * num / den).
func mulDiv(a sdkmath.Int, num, den uint64) sdkmath.Int {
	return a.Mul(sdkmath.NewIntFromUint64(num)).Quo(sdkmath.NewIntFromUint64(den))
}

// ComputeSplit divides a payment (ADR-003). tableIdx[i] is the index in table of
// summary.Top[i]'s dataset version and poolIdx[j] that of summary.Pools[j]; both
// were resolved by validation. Work is O(len(top) + len(pools) + len(table)).
//
// The remainder rule: every part is a floor; the rounding leftover of each division
// goes to a named part — the fee's to the royalty's net, the table's to the first
// table entry, a version's to that version's pool — so the parts sum to the whole.
func ComputeSplit(feeBps uint32, compute, royalty sdkmath.Int, developerBps uint32,
	table []modelstypes.DataShare, summary types.AttributionSummary, tableIdx, poolIdx []int,
) Split {
	total := compute.Add(royalty)
	fee := mulDiv(total, uint64(feeBps), types.BpsScale)
	feeCompute := mulDiv(compute, uint64(feeBps), types.BpsScale)
	feeRoyalty := fee.Sub(feeCompute) // <= royalty since feeBps <= BpsScale/2
	royaltyNet := royalty.Sub(feeRoyalty)
	developer := mulDiv(royaltyNet, uint64(developerBps), types.BpsScale)
	data := royaltyNet.Sub(developer)
	if len(table) == 0 { // no dataset version to pay: the developer keeps the royalty
		developer, data = royaltyNet, sdkmath.ZeroInt()
	}

	// Data share by the deployment's table; the leftover to the first entry.
	perVersion := make([]sdkmath.Int, len(table))
	given := sdkmath.ZeroInt()
	for j, e := range table {
		perVersion[j] = mulDiv(data, uint64(e.Bps), types.BpsScale)
		given = given.Add(perVersion[j])
	}
	if len(table) > 0 {
		perVersion[0] = perVersion[0].Add(data.Sub(given))
	}

	// Within a version: by the summary's weights of that version (top entries and
	// its pool weight); the pool takes the leftover, and everything when the
	// summary gives the version no weight.
	weight := make([]uint64, len(table))
	for i, t := range summary.Top {
		weight[tableIdx[i]] += uint64(t.Ppm)
	}
	for i, p := range summary.Pools {
		weight[poolIdx[i]] += uint64(p.Ppm)
	}
	top := make([]sdkmath.Int, len(summary.Top))
	pools := make([]sdkmath.Int, len(table))
	copy(pools, perVersion)
	for i, t := range summary.Top {
		j := tableIdx[i]
		top[i] = mulDiv(perVersion[j], uint64(t.Ppm), weight[j])
		pools[j] = pools[j].Sub(top[i])
	}
	return Split{Fee: fee, Compute: compute.Sub(feeCompute), Developer: developer, Top: top, Pools: pools}
}
