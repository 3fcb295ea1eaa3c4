package keeper

import (
	"context"

	"cosmossdk.io/collections"

	"github.com/openledger/openledger/x/models/types"
)

// InitGenesis loads a validated genesis state and checks it against the chain:
// owners are addresses, every dataset version exists in x/datanet (so x/datanet's
// genesis must run first), and the invariants hold.
func (k Keeper) InitGenesis(ctx context.Context, gs types.GenesisState) error {
	if err := gs.Validate(); err != nil {
		return err
	}
	if err := k.Params.Set(ctx, gs.Params); err != nil {
		return err
	}
	if err := k.ModelSeq.Set(ctx, gs.NextModelId); err != nil {
		return err
	}
	if err := k.DeploymentSeq.Set(ctx, gs.NextDeploymentId); err != nil {
		return err
	}
	for _, m := range gs.Models {
		if _, err := k.parseAddress("owner", m.Owner); err != nil {
			return types.ErrInvalidGenesis.Wrapf("model %d: %v", m.Id, err)
		}
		if err := k.Models.Set(ctx, m.Id, m); err != nil {
			return err
		}
	}
	for _, v := range gs.Versions {
		for _, ref := range v.DatasetVersions {
			if _, err := k.datanet.GetDatasetVersion(ctx, ref.DatanetId, ref.Version); err != nil {
				return types.ErrInvalidGenesis.Wrapf("model %d version %d: %v", v.ModelId, v.Version, err)
			}
		}
		if err := k.Versions.Set(ctx, collections.Join(v.ModelId, v.Version), v); err != nil {
			return err
		}
	}
	for _, d := range gs.Deployments {
		if _, err := k.parseAddress("owner", d.Owner); err != nil {
			return types.ErrInvalidGenesis.Wrapf("deployment %d: %v", d.Id, err)
		}
		if err := k.Deployments.Set(ctx, d.Id, d); err != nil {
			return err
		}
	}
	for _, e := range gs.PriceQueue {
		if err := k.PriceQueue.Set(ctx, collections.Join(e.EffectiveHeight, e.DeploymentId)); err != nil {
			return err
		}
	}
	nextFeedback := gs.NextFeedbackId
	if nextFeedback == 0 { // a genesis from before feedback: ids start at 1
		nextFeedback = 1
	}
	if err := k.FeedbackSeq.Set(ctx, nextFeedback); err != nil {
		return err
	}
	for _, f := range gs.Feedbacks {
		if _, err := k.parseAddress("rater", f.Rater); err != nil {
			return types.ErrInvalidGenesis.Wrapf("feedback %d: %v", f.Id, err)
		}
		if err := k.storeFeedback(ctx, f); err != nil {
			return err
		}
	}
	if err := k.CheckInvariants(ctx); err != nil {
		return types.ErrInvalidGenesis.Wrap(err.Error())
	}
	return nil
}

// ExportGenesis exports the whole module state, objects in key order.
func (k Keeper) ExportGenesis(ctx context.Context) (*types.GenesisState, error) {
	params, err := k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	gs := &types.GenesisState{Params: params}
	if gs.NextModelId, err = k.ModelSeq.Peek(ctx); err != nil {
		return nil, err
	}
	if gs.NextDeploymentId, err = k.DeploymentSeq.Peek(ctx); err != nil {
		return nil, err
	}
	err = k.Models.Walk(ctx, nil, func(_ uint64, m types.Model) (bool, error) {
		gs.Models = append(gs.Models, m)
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	err = k.Versions.Walk(ctx, nil, func(_ collections.Pair[uint64, uint64], v types.ModelVersion) (bool, error) {
		gs.Versions = append(gs.Versions, v)
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	err = k.Deployments.Walk(ctx, nil, func(_ uint64, d types.Deployment) (bool, error) {
		gs.Deployments = append(gs.Deployments, d)
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	err = k.PriceQueue.Walk(ctx, nil, func(key collections.Pair[int64, uint64]) (bool, error) {
		gs.PriceQueue = append(gs.PriceQueue, types.PriceChangeEntry{EffectiveHeight: key.K1(), DeploymentId: key.K2()})
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	if gs.NextFeedbackId, err = k.FeedbackSeq.Peek(ctx); err != nil {
		return nil, err
	}
	if gs.NextFeedbackId == 0 { // a chain that never imported a feedback sequence
		gs.NextFeedbackId = 1
	}
	err = k.Feedbacks.Walk(ctx, nil, func(_ uint64, f types.Feedback) (bool, error) {
		gs.Feedbacks = append(gs.Feedbacks, f)
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	return gs, nil
}
