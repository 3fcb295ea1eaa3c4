package keeper

import (
	"context"

	"cosmossdk.io/collections"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/query"

	"github.com/openledger/openledger/x/inference/types"
)

// Job returns one job.
func (q queryServer) Job(ctx context.Context, req *types.QueryJobRequest) (*types.QueryJobResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	j, err := q.k.GetJob(ctx, req.JobId)
	if err != nil {
		return nil, marketQueryErr(err)
	}
	return &types.QueryJobResponse{Job: j}, nil
}

// jobFilter is the part of a Jobs query checked on each candidate job.
type jobFilter struct {
	requester  string
	provider   sdk.AccAddress // any job ever awarded to it (JobsByProvider)
	deployment uint64
	status     types.JobStatus
}

// match reports whether j passes the filter (the provider through its index).
func (q queryServer) match(ctx context.Context, f jobFilter, j types.Job) (bool, error) {
	switch {
	case f.requester != "" && j.Requester != f.requester,
		f.deployment != 0 && j.DeploymentId != f.deployment,
		f.status != types.JOB_STATUS_UNSPECIFIED && j.Status != f.status:
		return false, nil
	case len(f.provider) > 0:
		return q.k.JobsByProvider.Has(ctx, collections.Join(f.provider, j.Id))
	}
	return true, nil
}

// Jobs lists jobs by id, filtered by requester, provider (jobs ever awarded to it),
// deployment and status. It pages through the most selective index given
// (requester, then provider, then deployment, then status) and checks the other
// filters on each job.
func (q queryServer) Jobs(ctx context.Context, req *types.QueryJobsRequest) (*types.QueryJobsResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	var f jobFilter
	var requester sdk.AccAddress
	var err error
	if req.Requester != "" {
		if requester, err = q.k.parseAddress("requester", req.Requester); err != nil {
			return nil, marketQueryErr(err)
		}
		f.requester = q.k.addrString(requester)
	}
	if req.Provider != "" {
		if f.provider, err = q.k.parseAddress("provider", req.Provider); err != nil {
			return nil, marketQueryErr(err)
		}
	}
	if req.Status != types.JOB_STATUS_UNSPECIFIED {
		if _, ok := types.JobStatus_name[int32(req.Status)]; !ok {
			return nil, status.Errorf(codes.InvalidArgument, "unknown status %d", req.Status)
		}
	}
	f.deployment, f.status = req.DeploymentId, req.Status

	// load fetches a job named by an index and applies the filter.
	load := func(id uint64) (types.Job, bool, error) {
		j, err := q.k.Jobs.Get(ctx, id)
		if err != nil {
			return types.Job{}, false, err
		}
		ok, err := q.match(ctx, f, j)
		return j, ok, err
	}
	var jobs []types.Job
	var page *query.PageResponse
	switch {
	case len(requester) > 0:
		jobs, page, err = pageJobIndex(ctx, q.k.JobsByRequester, requester, req.Pagination, load)
	case len(f.provider) > 0:
		jobs, page, err = pageJobIndex(ctx, q.k.JobsByProvider, f.provider, req.Pagination, load)
	case f.deployment != 0:
		jobs, page, err = pageJobIndex(ctx, q.k.JobsByDeployment, f.deployment, req.Pagination, load)
	case f.status != types.JOB_STATUS_UNSPECIFIED:
		jobs, page, err = pageJobIndex(ctx, q.k.JobsByStatus, int32(f.status), req.Pagination, load)
	default:
		jobs, page, err = query.CollectionPaginate(ctx, q.k.Jobs, req.Pagination,
			func(_ uint64, j types.Job) (types.Job, error) { return j, nil })
	}
	if err != nil {
		return nil, marketQueryErr(err)
	}
	return &types.QueryJobsResponse{Jobs: jobs, Pagination: page}, nil
}

// pageJobIndex pages through the jobs of a (prefix, job id) index, keeping those
// load accepts.
func pageJobIndex[P any](ctx context.Context, idx collections.KeySet[collections.Pair[P, uint64]], prefix P,
	pageReq *query.PageRequest, load func(uint64) (types.Job, bool, error),
) ([]types.Job, *query.PageResponse, error) {
	var cached types.Job
	return query.CollectionFilteredPaginate(ctx, idx, pageReq,
		func(key collections.Pair[P, uint64], _ collections.NoValue) (bool, error) {
			j, ok, err := load(key.K2())
			cached = j
			return ok, err
		},
		func(key collections.Pair[P, uint64], _ collections.NoValue) (types.Job, error) {
			if cached.Id == key.K2() { // the predicate just loaded it
				return cached, nil
			}
			j, _, err := load(key.K2())
			return j, err
		},
		query.WithCollectionPaginationPairPrefix[P, uint64](prefix))
}

// Bids lists a job's bids of the current auction in award order (lowest price,
// then higher bonded stake, then the earlier bid).
func (q queryServer) Bids(ctx context.Context, req *types.QueryBidsRequest) (*types.QueryBidsResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	if _, err := q.k.GetJob(ctx, req.JobId); err != nil {
		return nil, marketQueryErr(err)
	}
	ranks, _, err := q.k.rankedBids(ctx, req.JobId)
	if err != nil {
		return nil, marketQueryErr(err)
	}
	out := make([]types.Bid, len(ranks))
	for i, r := range ranks {
		out[i] = r.bid
	}
	return &types.QueryBidsResponse{Bids: out}, nil
}

// Receipt returns a job's receipt.
func (q queryServer) Receipt(ctx context.Context, req *types.QueryReceiptRequest) (*types.QueryReceiptResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	r, err := q.k.Receipts.Get(ctx, req.JobId)
	if err != nil {
		if isNotFound(err) {
			return nil, status.Errorf(codes.NotFound, "job %d has no receipt", req.JobId)
		}
		return nil, marketQueryErr(err)
	}
	return &types.QueryReceiptResponse{Receipt: r}, nil
}
