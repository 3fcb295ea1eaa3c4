package types_test

import (
	"math/big"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/openledger/openledger/x/models/types"
)

func TestFlattenSharesExamples(t *testing.T) {
	ref := func(d uint64) types.DatasetVersionRef { return types.DatasetVersionRef{DatanetId: d, Version: 1} }
	share := func(d uint64, bps uint32) types.DataShare { return types.DataShare{DatanetId: d, Version: 1, Bps: bps} }
	cases := []struct {
		name   string
		levels []types.LineageLevel
		want   []types.DataShare
	}{
		{"root, one dataset", []types.LineageLevel{{DatasetVersions: []types.DatasetVersionRef{ref(1)}}},
			[]types.DataShare{share(1, 10_000)}},
		{"root, three datasets: remainder to the first", []types.LineageLevel{{DatasetVersions: []types.DatasetVersionRef{ref(1), ref(2), ref(3)}}},
			[]types.DataShare{share(1, 3_334), share(2, 3_333), share(3, 3_333)}},
		{"child keeps 70%", []types.LineageLevel{
			{DatasetVersions: []types.DatasetVersionRef{ref(2)}, UpstreamShareBps: 3_000},
			{DatasetVersions: []types.DatasetVersionRef{ref(1)}},
		}, []types.DataShare{share(1, 3_000), share(2, 7_000)}},
		{"floor passes up, nearer version keeps the rounding", []types.LineageLevel{
			{DatasetVersions: []types.DatasetVersionRef{ref(3)}, UpstreamShareBps: 3_333},
			{DatasetVersions: []types.DatasetVersionRef{ref(2)}, UpstreamShareBps: 3_333},
			{DatasetVersions: []types.DatasetVersionRef{ref(1)}},
		}, []types.DataShare{share(1, 1_110), share(2, 2_223), share(3, 6_667)}},
		{"same dataset at two levels adds up", []types.LineageLevel{
			{DatasetVersions: []types.DatasetVersionRef{ref(1), ref(2)}, UpstreamShareBps: 5_000},
			{DatasetVersions: []types.DatasetVersionRef{ref(1)}},
		}, []types.DataShare{share(1, 7_500), share(2, 2_500)}},
		{"adapter without data passes everything", []types.LineageLevel{
			{UpstreamShareBps: 10_000},
			{DatasetVersions: []types.DatasetVersionRef{ref(4)}},
		}, []types.DataShare{share(4, 10_000)}},
		{"upstream 0 stops the walk", []types.LineageLevel{
			{DatasetVersions: []types.DatasetVersionRef{ref(2)}},
			{DatasetVersions: []types.DatasetVersionRef{ref(1)}},
		}, []types.DataShare{share(2, 10_000)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := types.FlattenShares(tc.levels, 64)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.NoError(t, types.CheckShareTable(got))
		})
	}
	_, err := types.FlattenShares([]types.LineageLevel{{UpstreamShareBps: 10_000}}, 64)
	require.ErrorIs(t, err, types.ErrNoDataShares)
	_, err = types.FlattenShares([]types.LineageLevel{{DatasetVersions: []types.DatasetVersionRef{ref(1), ref(2)}}}, 1)
	require.ErrorIs(t, err, types.ErrTooManyShares)
}

// randomLineage draws a lineage that obeys the publish rules (CheckUpstream): a
// root with data, versions without data pass 10,000 bps up.
func randomLineage(r *rand.Rand, depth, pool int) []types.LineageLevel {
	levels := make([]types.LineageLevel, depth+1)
	for i := range levels {
		root := i == depth
		n := r.Intn(5)
		if root && n == 0 {
			n = 1
		}
		var refs []types.DatasetVersionRef
		for j := 0; j < n; j++ {
			refs = append(refs, types.DatasetVersionRef{DatanetId: uint64(1 + r.Intn(pool)), Version: uint64(1 + r.Intn(2))})
		}
		sorted, err := types.SortDatasetRefs(dedupe(refs))
		if err != nil {
			panic(err)
		}
		levels[i].DatasetVersions = sorted
		switch {
		case root:
		case len(sorted) == 0:
			levels[i].UpstreamShareBps = types.BpsScale
		default:
			switch r.Intn(4) {
			case 0:
				levels[i].UpstreamShareBps = 0
			case 1:
				levels[i].UpstreamShareBps = types.BpsScale
			default:
				levels[i].UpstreamShareBps = uint32(r.Intn(types.BpsScale + 1))
			}
		}
	}
	return levels
}

func dedupe(refs []types.DatasetVersionRef) []types.DatasetVersionRef {
	seen := map[types.DatasetVersionRef]bool{}
	var out []types.DatasetVersionRef
	for _, r := range refs {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// exactShares is the rational reference: the same walk without rounding.
func exactShares(levels []types.LineageLevel) map[types.DatasetVersionRef]*big.Rat {
	out := map[types.DatasetVersionRef]*big.Rat{}
	amount := big.NewRat(types.BpsScale, 1)
	for i, l := range levels {
		up := new(big.Rat)
		if i < len(levels)-1 {
			up.Mul(amount, big.NewRat(int64(l.UpstreamShareBps), types.BpsScale))
		}
		own := new(big.Rat).Sub(amount, up)
		if n := len(l.DatasetVersions); n > 0 {
			each := new(big.Rat).Quo(own, big.NewRat(int64(n), 1))
			for _, r := range l.DatasetVersions {
				if out[r] == nil {
					out[r] = new(big.Rat)
				}
				out[r].Add(out[r], each)
			}
		}
		amount = up
	}
	return out
}

// TestFlattenSharesProperty: on random lineages the table sums to exactly 10,000,
// is sorted without zero entries, stays within the entry bound (or fails with
// ErrTooManyShares only when the lineage really names more dataset versions), and
// every entry is within the accumulated rounding of the exact rational share.
func TestFlattenSharesProperty(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for iter := 0; iter < 3_000; iter++ {
		depth := r.Intn(types.MaxLineageDepthBound + 1)
		if iter%2 == 0 {
			depth = r.Intn(6)
		}
		levels := randomLineage(r, depth, 1+r.Intn(40))
		maxEntries := uint32(1 + r.Intn(64))
		table, err := types.FlattenShares(levels, maxEntries)
		exact := exactShares(levels)
		if err != nil {
			require.ErrorIs(t, err, types.ErrTooManyShares, "iteration %d", iter)
			require.Greater(t, len(exact), int(maxEntries), "iteration %d: refused a table that fits", iter)
			continue
		}
		require.NoError(t, types.CheckShareTable(table), "iteration %d", iter)
		require.LessOrEqual(t, len(table), int(maxEntries))
		// Each level rounds at most twice (the floor passed up and the equal split).
		tolerance := big.NewRat(int64(2*len(levels)), 1)
		got := map[types.DatasetVersionRef]bool{}
		for _, s := range table {
			ref := types.DatasetVersionRef{DatanetId: s.DatanetId, Version: s.Version}
			got[ref] = true
			want, ok := exact[ref]
			require.True(t, ok, "iteration %d: %v is not in the lineage", iter, ref)
			diff := new(big.Rat).Sub(big.NewRat(int64(s.Bps), 1), want)
			require.True(t, diff.Abs(diff).Cmp(tolerance) <= 0, "iteration %d: %v got %d want %s", iter, ref, s.Bps, want.FloatString(3))
		}
		for ref, want := range exact {
			if !got[ref] {
				require.True(t, want.Cmp(tolerance) <= 0, "iteration %d: %v dropped but owed %s", iter, ref, want.FloatString(3))
			}
		}
	}
}

func TestParamsValidate(t *testing.T) {
	require.NoError(t, types.DefaultParams().Validate())
	for name, mutate := range map[string]func(p *types.Params){
		"max_lineage_depth":                     func(p *types.Params) { p.MaxLineageDepth = types.MaxLineageDepthBound + 1 },
		"max_dataset_versions":                  func(p *types.Params) { p.MaxDatasetVersions = 0 },
		"max_share_entries (":                   func(p *types.Params) { p.MaxShareEntries = 2; p.MaxDatasetVersions = 3 },
		"price_notice_blocks":                   func(p *types.Params) { p.PriceNoticeBlocks = 1 << 40 },
		"max_name_length":                       func(p *types.Params) { p.MaxNameLength = 0 },
		"max_description_length":                func(p *types.Params) { p.MaxDescriptionLength = 1 << 20 },
		"max_token_length":                      func(p *types.Params) { p.MaxTokenLength = 0 },
		"max_price_changes_per_block":           func(p *types.Params) { p.MaxPriceChangesPerBlock = 0 },
		"max_royalty_per_thousand_tokens denom": func(p *types.Params) { p.MaxRoyaltyPerThousandTokens.Denom = "1" },
		"max_royalty_per_thousand_tokens must be": func(p *types.Params) {
			p.MaxRoyaltyPerThousandTokens.Amount = p.MaxRoyaltyPerThousandTokens.Amount.MulRaw(1_000_000_000_000_000_000).MulRaw(10)
		},
	} {
		p := types.DefaultParams()
		mutate(&p)
		err := p.Validate()
		require.ErrorIs(t, err, types.ErrInvalidParams, name)
		require.Contains(t, err.Error(), name)
	}
}
