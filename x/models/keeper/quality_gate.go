package keeper

import (
	"context"
	"slices"

	errorsmod "cosmossdk.io/errors"

	"github.com/openledger/openledger/x/models/types"
)

// switchVersion moves deployment d to another version of its model, in place. The
// target must be PUBLISHED, descend from the deployed version (the deployed version
// is one of its ancestors, within max_lineage_depth), and pass the quality gate
// against its immediate parent: its declared loss on the parent's held-out set
// (metrics.parent_eval_loss_micro) may exceed the parent's eval_loss_micro by at most
// params.quality_tolerance_bps (types.QualityGate). The data-share table is
// recomputed from the target's lineage, and must keep every dataset version of the
// current table, so that work served before the switch and finalised after it still
// settles against the deployment (x/rewards checks attribution summaries against
// the table in force at payment).
func (k Keeper) switchVersion(ctx context.Context, d *types.Deployment, target uint64, params types.Params) (*types.EventDeploymentVersionSwitched, error) {
	if target == d.Version {
		return nil, types.ErrInvalidField.Wrapf("version: deployment %d already serves version %d", d.Id, target)
	}
	v, err := k.GetVersion(ctx, d.ModelId, target)
	if err != nil {
		return nil, err
	}
	if v.Status != types.VERSION_STATUS_PUBLISHED {
		return nil, types.ErrWrongStatus.Wrapf("version: model %d version %d is %s", v.ModelId, v.Version, v.Status)
	}
	chain, _, err := k.ancestry(ctx, v, params.MaxLineageDepth)
	if err != nil {
		return nil, err
	}
	descends := slices.ContainsFunc(chain[1:], func(a types.ModelVersion) bool {
		return a.ModelId == d.ModelId && a.Version == d.Version
	})
	if !descends {
		return nil, types.ErrNotDescendant.Wrapf("version: model %d version %d does not descend from the deployed version %d",
			v.ModelId, v.Version, d.Version)
	}
	if err := types.QualityGate(chain[1].Metrics, v.Metrics, params.QualityToleranceBps); err != nil {
		return nil, errorsmod.Wrapf(err, "version %d against its parent %d/%d", v.Version, chain[1].ModelId, chain[1].Version)
	}
	table, err := k.shareTable(ctx, v, params)
	if err != nil {
		return nil, err
	}
	for _, old := range d.DataShares {
		if !slices.ContainsFunc(table, func(s types.DataShare) bool { return s.DatanetId == old.DatanetId && s.Version == old.Version }) {
			return nil, types.ErrSwitchDropsShares.Wrapf("datanet %d version %d", old.DatanetId, old.Version)
		}
	}
	ev := &types.EventDeploymentVersionSwitched{
		DeploymentId: d.Id, ModelId: d.ModelId, FromVersion: d.Version, ToVersion: v.Version, ShareEntries: uint32(len(table)),
	}
	d.Version, d.DataShares = v.Version, table
	return ev, nil
}
