package keeper

import (
	"context"
	"fmt"

	"cosmossdk.io/collections"

	"github.com/openledger/openledger/x/models/types"
)

// ShareTableInvariant checks that every deployment's split sums to 10,000 bps,
// that its data-share table is sorted and sums to exactly 10,000 bps, and that
// every scheduled price has its queue entry. It returns a description of the
// breach, or nil. Tests call it after every block (x/crisis is gone from the SDK).
func (k Keeper) ShareTableInvariant(ctx context.Context) error {
	return k.Deployments.Walk(ctx, nil, func(id uint64, d types.Deployment) (bool, error) {
		if uint64(d.DeveloperBps)+uint64(d.DataBps) != types.BpsScale {
			return true, fmt.Errorf("deployment %d: developer_bps %d + data_bps %d != %d", id, d.DeveloperBps, d.DataBps, types.BpsScale)
		}
		if err := types.CheckShareTable(d.DataShares); err != nil {
			return true, fmt.Errorf("deployment %d: %v", id, err)
		}
		if d.PendingRoyaltyPerThousandTokens != nil {
			ok, err := k.PriceQueue.Has(ctx, collections.Join(d.PendingEffectiveHeight, id))
			if err != nil {
				return true, err
			}
			if !ok {
				return true, fmt.Errorf("deployment %d: scheduled price without a queue entry", id)
			}
		}
		return false, nil
	})
}

// LineageInvariant checks that every version's parent exists and is exactly one
// level shallower (depths strictly decrease along parent links, so the lineage is
// acyclic), that no depth exceeds the hard bound, and that each model's versions
// run from 1 to its latest_version.
func (k Keeper) LineageInvariant(ctx context.Context) error {
	err := k.Versions.Walk(ctx, nil, func(key collections.Pair[uint64, uint64], v types.ModelVersion) (bool, error) {
		if v.Depth > types.MaxLineageDepthBound {
			return true, fmt.Errorf("model %d version %d: depth %d over the bound", v.ModelId, v.Version, v.Depth)
		}
		if v.Parent == nil {
			if v.Depth != 0 {
				return true, fmt.Errorf("model %d version %d: depth %d without a parent", v.ModelId, v.Version, v.Depth)
			}
			return false, nil
		}
		p, err := k.Versions.Get(ctx, collections.Join(v.Parent.ModelId, v.Parent.Version))
		if err != nil {
			return true, fmt.Errorf("model %d version %d: parent %d/%d: %v", v.ModelId, v.Version, v.Parent.ModelId, v.Parent.Version, err)
		}
		if p.Depth+1 != v.Depth {
			return true, fmt.Errorf("model %d version %d: depth %d, parent depth %d", v.ModelId, v.Version, v.Depth, p.Depth)
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	return k.Models.Walk(ctx, nil, func(id uint64, m types.Model) (bool, error) {
		for n := uint64(1); n <= m.LatestVersion; n++ {
			ok, err := k.Versions.Has(ctx, collections.Join(id, n))
			if err != nil {
				return true, err
			}
			if !ok {
				return true, fmt.Errorf("model %d: version %d of %d is missing", id, n, m.LatestVersion)
			}
		}
		return false, nil
	})
}

// CheckInvariants runs every invariant of the module.
func (k Keeper) CheckInvariants(ctx context.Context) error {
	if err := k.ShareTableInvariant(ctx); err != nil {
		return err
	}
	if err := k.LineageInvariant(ctx); err != nil {
		return err
	}
	return k.FeedbackInvariant(ctx)
}
