package batchrecord

import (
	"math/big"
	"sort"

	"github.com/openledger/openledger/inference/voucher"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// MergeSummaries aggregates the receipts' attribution summaries into one,
// weighting each request by its tokens (the price is the session's, so this is
// weighting by cost). At most topK contributions are kept by name; the rest
// fold into their dataset version's pool. The ppms sum to exactly 1,000,000
// (largest remainders); the result is empty when no receipt carries a summary.
// RecordSha256 is left for the caller.
func MergeSummaries(rs []voucher.Receipt, topK int) rewardstypes.AttributionSummary {
	type key struct{ d, v, c uint64 }
	type ent struct {
		k    key
		pool bool
		w    *big.Int
	}
	top := map[key]*ent{}
	pools := map[key]*ent{}
	add := func(m map[key]*ent, k key, pool bool, w *big.Int) {
		e := m[k]
		if e == nil {
			e = &ent{k: k, pool: pool, w: new(big.Int)}
			m[k] = e
		}
		e.w.Add(e.w, w)
	}
	for _, r := range rs {
		t := new(big.Int).SetUint64(r.PromptTokens + r.CompletionTokens)
		if t.Sign() == 0 {
			t.SetInt64(1)
		}
		for _, e := range r.Summary.Top {
			add(top, key{e.DatanetID, e.Version, e.ContributionID}, false, new(big.Int).Mul(t, big.NewInt(int64(e.Ppm))))
		}
		for _, e := range r.Summary.Pools {
			add(pools, key{e.DatanetID, e.Version, 0}, true, new(big.Int).Mul(t, big.NewInt(int64(e.Ppm))))
		}
	}
	order := func(es []*ent) {
		sort.Slice(es, func(i, j int) bool {
			if c := es[i].w.Cmp(es[j].w); c != 0 {
				return c > 0
			}
			a, b := es[i].k, es[j].k
			if a.d != b.d {
				return a.d < b.d
			}
			if a.v != b.v {
				return a.v < b.v
			}
			return a.c < b.c
		})
	}
	var tops []*ent
	for _, e := range top {
		tops = append(tops, e)
	}
	order(tops)
	if len(tops) > topK {
		for _, e := range tops[topK:] {
			add(pools, key{e.k.d, e.k.v, 0}, true, e.w)
		}
		tops = tops[:topK]
	}
	var ps []*ent
	for _, e := range pools {
		ps = append(ps, e)
	}
	order(ps)
	all := append(append([]*ent{}, tops...), ps...)
	total := new(big.Int)
	for _, e := range all {
		total.Add(total, e.w)
	}
	var out rewardstypes.AttributionSummary
	if total.Sign() == 0 {
		return out
	}
	// Largest remainder apportionment of 1,000,000 ppm.
	scale := big.NewInt(voucher.PpmScale)
	ppm := make([]uint64, len(all))
	rem := make([]*big.Int, len(all))
	var given uint64
	for i, e := range all {
		q, r := new(big.Int).QuoRem(new(big.Int).Mul(e.w, scale), total, new(big.Int))
		ppm[i], rem[i] = q.Uint64(), r
		given += ppm[i]
	}
	idx := make([]int, len(all))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return rem[idx[a]].Cmp(rem[idx[b]]) > 0 })
	for i := 0; given < voucher.PpmScale; i++ {
		ppm[idx[i%len(idx)]]++
		given++
	}
	// Entries left at 0 ppm are dropped; their (zero) share needs no moving.
	for i, e := range all {
		if ppm[i] == 0 {
			continue
		}
		if e.pool {
			out.Pools = append(out.Pools, rewardstypes.PoolWeight{DatanetId: e.k.d, Version: e.k.v, Ppm: uint32(ppm[i])})
		} else {
			out.Top = append(out.Top, rewardstypes.ContributionWeight{DatanetId: e.k.d, Version: e.k.v, ContributionId: e.k.c, Ppm: uint32(ppm[i])})
		}
	}
	return out
}
