package keeper

import (
	"context"

	"cosmossdk.io/collections"

	"github.com/cosmos/cosmos-sdk/types/query"

	"github.com/openledger/openledger/x/models/types"
)

// Feedback returns the feedback on a job (job_id) or a session request (session_id
// and request_seq).
func (q queryServer) Feedback(ctx context.Context, req *types.QueryFeedbackRequest) (*types.QueryFeedbackResponse, error) {
	if req == nil {
		return nil, types.ErrInvalidField.Wrap("empty request")
	}
	// The index key is the one a stored feedback has (types.Feedback.InferenceKey).
	named := types.Feedback{JobId: req.JobId, SessionId: req.SessionId, RequestSeq: req.RequestSeq}
	switch {
	case req.JobId > 0 && req.SessionId == 0 && req.RequestSeq == 0:
		named.Kind = types.INFERENCE_KIND_JOB
	case req.JobId == 0 && req.SessionId > 0 && req.RequestSeq > 0:
		named.Kind = types.INFERENCE_KIND_SESSION_REQUEST
	default:
		return nil, types.ErrInvalidField.Wrap("name a job (job_id) or a session request (session_id and request_seq)")
	}
	id, err := q.k.FeedbackByInference.Get(ctx, collections.Join3(named.InferenceKey()))
	if err != nil {
		if isNotFound(err) {
			return nil, types.ErrFeedbackNotFound.Wrapf("job %d / session %d request %d", req.JobId, req.SessionId, req.RequestSeq)
		}
		return nil, err
	}
	fb, err := q.k.Feedbacks.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return &types.QueryFeedbackResponse{Feedback: fb}, nil
}

// DeploymentFeedback pages through a deployment's feedback by id.
func (q queryServer) DeploymentFeedback(ctx context.Context, req *types.QueryDeploymentFeedbackRequest) (*types.QueryDeploymentFeedbackResponse, error) {
	if req == nil {
		return nil, types.ErrInvalidField.Wrap("empty request")
	}
	if _, err := q.k.GetDeployment(ctx, req.DeploymentId); err != nil {
		return nil, err
	}
	items, page, err := query.CollectionPaginate(ctx, q.k.FeedbackByDeployment, req.Pagination,
		func(key collections.Pair[uint64, uint64], _ collections.NoValue) (types.Feedback, error) {
			return q.k.Feedbacks.Get(ctx, key.K2())
		},
		query.WithCollectionPaginationPairPrefix[uint64, uint64](req.DeploymentId))
	if err != nil {
		return nil, err
	}
	return &types.QueryDeploymentFeedbackResponse{Feedbacks: items, Pagination: page}, nil
}

// FeedbackCounts returns a deployment's feedback totals and feedback datanet.
func (q queryServer) FeedbackCounts(ctx context.Context, req *types.QueryFeedbackCountsRequest) (*types.QueryFeedbackCountsResponse, error) {
	if req == nil {
		return nil, types.ErrInvalidField.Wrap("empty request")
	}
	d, err := q.k.GetDeployment(ctx, req.DeploymentId)
	if err != nil {
		return nil, err
	}
	counts, err := q.k.FeedbackCounts.Get(ctx, d.Id)
	if err != nil && !isNotFound(err) {
		return nil, err
	}
	return &types.QueryFeedbackCountsResponse{Counts: counts, FeedbackDatanetId: d.FeedbackDatanetId}, nil
}
