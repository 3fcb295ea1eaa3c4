package types

import (
	"github.com/openledger/openledger/inference/voucher"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// VoucherSummary converts an x/rewards attribution summary to the form the canonical
// receipt encoding of inference/voucher signs (nil slices stay nil).
func VoucherSummary(s rewardstypes.AttributionSummary) voucher.Summary {
	out := voucher.Summary{RecordSha256: s.RecordSha256}
	if len(s.Top) > 0 {
		out.Top = make([]voucher.TopEntry, len(s.Top))
		for i, t := range s.Top {
			out.Top[i] = voucher.TopEntry{DatanetID: t.DatanetId, Version: t.Version, ContributionID: t.ContributionId, Ppm: t.Ppm}
		}
	}
	if len(s.Pools) > 0 {
		out.Pools = make([]voucher.PoolEntry, len(s.Pools))
		for i, p := range s.Pools {
			out.Pools[i] = voucher.PoolEntry{DatanetID: p.DatanetId, Version: p.Version, Ppm: p.Ppm}
		}
	}
	return out
}
