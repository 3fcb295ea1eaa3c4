package keeper

import (
	"context"

	"github.com/openledger/openledger/x/models/types"
)

// ancestry returns a version and at most maxDepth of its ancestors, nearest first,
// and whether older ancestors were left out. The walk is bounded by maxDepth (and
// never exceeds types.MaxLineageDepthBound), so it is O(depth) reads.
func (k Keeper) ancestry(ctx context.Context, v types.ModelVersion, maxDepth uint32) ([]types.ModelVersion, bool, error) {
	if maxDepth > types.MaxLineageDepthBound {
		maxDepth = types.MaxLineageDepthBound
	}
	chain := []types.ModelVersion{v}
	for cur := v; cur.Parent != nil; {
		if uint32(len(chain)) > maxDepth {
			return chain, true, nil
		}
		p, err := k.GetVersion(ctx, cur.Parent.ModelId, cur.Parent.Version)
		if err != nil {
			return nil, false, types.ErrParentNotFound.Wrapf("parent of model %d version %d: %v", cur.ModelId, cur.Version, err)
		}
		chain = append(chain, p)
		cur = p
	}
	return chain, false, nil
}

// shareTable flattens the data-share table of a version from its whole lineage
// (see types.FlattenShares for the rule). It fails when the lineage is deeper than
// params.max_lineage_depth or the table larger than params.max_share_entries.
func (k Keeper) shareTable(ctx context.Context, v types.ModelVersion, params types.Params) ([]types.DataShare, error) {
	if v.Depth > params.MaxLineageDepth {
		return nil, types.ErrLineageTooDeep.Wrapf("model %d version %d has %d ancestors; max_lineage_depth is %d", v.ModelId, v.Version, v.Depth, params.MaxLineageDepth)
	}
	chain, truncated, err := k.ancestry(ctx, v, params.MaxLineageDepth)
	if err != nil {
		return nil, err
	}
	if truncated {
		return nil, types.ErrLineageTooDeep.Wrapf("model %d version %d: lineage deeper than max_lineage_depth %d", v.ModelId, v.Version, params.MaxLineageDepth)
	}
	return types.FlattenShares(levelsOf(chain), params.MaxShareEntries)
}

func levelsOf(chain []types.ModelVersion) []types.LineageLevel {
	levels := make([]types.LineageLevel, len(chain))
	for i, c := range chain {
		levels[i] = types.LineageLevel{DatasetVersions: c.DatasetVersions, UpstreamShareBps: c.UpstreamShareBps}
	}
	return levels
}
