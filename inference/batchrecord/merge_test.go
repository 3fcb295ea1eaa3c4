package batchrecord_test

import (
	"testing"

	"github.com/openledger/openledger/inference/batchrecord"
	"github.com/openledger/openledger/inference/voucher"
)

func TestMergeSummaries(t *testing.T) {
	mk := func(tokens uint64, top []voucher.TopEntry, pools []voucher.PoolEntry) voucher.Receipt {
		return voucher.Receipt{PromptTokens: tokens, Summary: voucher.Summary{RecordSha256: "x", Top: top, Pools: pools}}
	}
	rs := []voucher.Receipt{
		mk(100, []voucher.TopEntry{{DatanetID: 1, Version: 1, ContributionID: 1, Ppm: 600_000}}, []voucher.PoolEntry{{DatanetID: 1, Version: 1, Ppm: 400_000}}),
		mk(300, []voucher.TopEntry{{DatanetID: 1, Version: 1, ContributionID: 2, Ppm: 333_333}, {DatanetID: 1, Version: 1, ContributionID: 3, Ppm: 333_333}},
			[]voucher.PoolEntry{{DatanetID: 1, Version: 1, Ppm: 333_334}}),
	}
	s := MergeAndSum(t, rs, 16)
	if len(s.Top) != 3 || len(s.Pools) != 1 {
		t.Fatalf("summary %+v", s)
	}
	s = MergeAndSum(t, rs, 1) // two contributions fold into the pool
	if len(s.Top) != 1 || len(s.Pools) != 1 {
		t.Fatalf("summary top 1: %+v", s)
	}
	if s := batchrecord.MergeSummaries([]voucher.Receipt{{PromptTokens: 5}}, 16); len(s.Top)+len(s.Pools) != 0 {
		t.Fatalf("empty: %+v", s)
	}
}

func MergeAndSum(t *testing.T, rs []voucher.Receipt, k int) (s struct {
	Top, Pools []uint32
}) {
	t.Helper()
	m := batchrecord.MergeSummaries(rs, k)
	var sum uint64
	for _, e := range m.Top {
		s.Top = append(s.Top, e.Ppm)
		sum += uint64(e.Ppm)
	}
	for _, e := range m.Pools {
		s.Pools = append(s.Pools, e.Ppm)
		sum += uint64(e.Ppm)
	}
	if sum != voucher.PpmScale {
		t.Fatalf("ppm sum %d", sum)
	}
	return s
}
