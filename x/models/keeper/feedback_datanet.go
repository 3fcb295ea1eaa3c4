package keeper

import (
	"context"
	"fmt"

	sdk "github.com/cosmos/cosmos-sdk/types"

	datanettypes "github.com/openledger/openledger/x/datanet/types"
	"github.com/openledger/openledger/x/models/types"
)

// feedbackDatanet returns the deployment's feedback datanet, creating it on the first
// feedback record: owned by the deployment's owner, who is its only curator (quorum
// 1; the owner may add curators through MsgUpdateDatanet), with the requirements and
// review window of the params, the model's licence, and x/datanet's minimum deposit
// for contributions that do not come through feedback. It records the datanet on the
// deployment (stored here).
func (k Keeper) feedbackDatanet(ctx sdk.Context, d *types.Deployment, params types.Params) (uint64, error) {
	if d.FeedbackDatanetId != 0 {
		return d.FeedbackDatanetId, nil
	}
	model, err := k.GetModel(ctx, d.ModelId)
	if err != nil {
		return 0, err
	}
	id, err := k.datanet.CreateModuleDatanet(ctx, &datanettypes.MsgCreateDatanet{
		Owner:       d.Owner,
		Name:        fmt.Sprintf("feedback-deployment-%d", d.Id),
		Description: fmt.Sprintf("User feedback (ratings, preferred completions, comparisons) on deployment %d of model %d.", d.Id, d.ModelId),
		License:     model.License,
		Tags:        []string{"feedback"},
		Requirements: datanettypes.Requirements{
			MinAcceptedContributions: params.FeedbackMinContributions,
			MinDistinctContributors:  params.FeedbackMinContributors,
		},
		Curation: datanettypes.Curation{
			Curators: []string{d.Owner}, ApprovalQuorum: 1, ReviewWindowBlocks: params.FeedbackReviewWindowBlocks,
		},
	})
	if err != nil {
		return 0, err
	}
	d.FeedbackDatanetId = id
	if err := k.Deployments.Set(ctx, d.Id, *d); err != nil {
		return 0, err
	}
	if err := ctx.EventManager().EmitTypedEvent(&types.EventFeedbackDatanetCreated{DeploymentId: d.Id, DatanetId: id, Owner: d.Owner}); err != nil {
		return 0, err
	}
	return id, nil
}

// contributeFeedback submits a feedback record as the rater's contribution to the
// feedback datanet through x/datanet's own path (without a deposit).
func (k Keeper) contributeFeedback(ctx context.Context, fb types.Feedback) (uint64, error) {
	return k.datanet.SubmitModuleContribution(ctx, &datanettypes.MsgSubmitContribution{
		Contributor: fb.Rater, DatanetId: fb.DatanetId, Cid: fb.RecordCid, Sha256: fb.RecordSha256,
		SizeBytes: fb.RecordSize, RecordCount: 1, MediaType: types.FeedbackMediaType,
	})
}
