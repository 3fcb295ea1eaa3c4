package keeper

import (
	"context"
	"encoding/hex"

	"cosmossdk.io/collections"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/query"

	"github.com/openledger/openledger/x/datanet/types"
)

type queryServer struct {
	k Keeper
}

var _ types.QueryServer = queryServer{}

// NewQueryServerImpl returns the module's Query service.
func NewQueryServerImpl(k Keeper) types.QueryServer {
	return queryServer{k: k}
}

func (q queryServer) Params(ctx context.Context, _ *types.QueryParamsRequest) (*types.QueryParamsResponse, error) {
	p, err := q.k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	return &types.QueryParamsResponse{Params: p}, nil
}

func (q queryServer) Datanet(ctx context.Context, req *types.QueryDatanetRequest) (*types.QueryDatanetResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	d, err := q.k.GetDatanet(ctx, req.DatanetId)
	if err != nil {
		return nil, err
	}
	return &types.QueryDatanetResponse{Datanet: d}, nil
}

func (q queryServer) Datanets(ctx context.Context, req *types.QueryDatanetsRequest) (*types.QueryDatanetsResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	var owner sdk.AccAddress
	if req.Owner != "" {
		var err error
		if owner, err = q.k.parseAddress("owner", req.Owner); err != nil {
			return nil, err
		}
	}
	collect := func(ids []uint64) ([]types.Datanet, error) {
		out := make([]types.Datanet, 0, len(ids))
		for _, id := range ids {
			d, err := q.k.Datanets.Get(ctx, id)
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
		return out, nil
	}
	keep := func(d types.Datanet) bool {
		return (req.Status == types.DATANET_STATUS_UNSPECIFIED || d.Status == req.Status) &&
			(owner == nil || d.Owner == req.Owner)
	}
	var (
		ids     []uint64
		pageRes *query.PageResponse
		err     error
	)
	switch {
	case owner != nil:
		ids, pageRes, err = paginateIndex(ctx, q.k.Datanets.Indexes.Owner.Multi, owner, req.Pagination, q.k.Datanets.Get, keep)
	case req.Status != types.DATANET_STATUS_UNSPECIFIED:
		ids, pageRes, err = paginateIndex(ctx, q.k.Datanets.Indexes.Status.Multi, int32(req.Status), req.Pagination, q.k.Datanets.Get, keep)
	default:
		var all []types.Datanet
		all, pageRes, err = query.CollectionPaginate(ctx, q.k.Datanets, req.Pagination,
			func(_ uint64, d types.Datanet) (types.Datanet, error) { return d, nil })
		if err != nil {
			return nil, err
		}
		return &types.QueryDatanetsResponse{Datanets: all, Pagination: pageRes}, nil
	}
	if err != nil {
		return nil, err
	}
	list, err := collect(ids)
	if err != nil {
		return nil, err
	}
	return &types.QueryDatanetsResponse{Datanets: list, Pagination: pageRes}, nil
}

func (q queryServer) Contribution(ctx context.Context, req *types.QueryContributionRequest) (*types.QueryContributionResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	c, err := q.k.GetContribution(ctx, req.ContributionId)
	if err != nil {
		return nil, err
	}
	return &types.QueryContributionResponse{Contribution: c}, nil
}

func (q queryServer) Contributions(ctx context.Context, req *types.QueryContributionsRequest) (*types.QueryContributionsResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	var contributor sdk.AccAddress
	if req.Contributor != "" {
		var err error
		if contributor, err = q.k.parseAddress("contributor", req.Contributor); err != nil {
			return nil, err
		}
	}
	keep := func(c types.Contribution) bool {
		return (req.DatanetId == 0 || c.DatanetId == req.DatanetId) &&
			(contributor == nil || c.Contributor == req.Contributor) &&
			(req.Status == types.CONTRIBUTION_STATUS_UNSPECIFIED || c.Status == req.Status)
	}
	idx := q.k.Contributions.Indexes
	var (
		ids     []uint64
		pageRes *query.PageResponse
		err     error
	)
	switch {
	case req.DatanetId != 0:
		ids, pageRes, err = paginateIndex(ctx, idx.Datanet.Multi, req.DatanetId, req.Pagination, q.k.Contributions.Get, keep)
	case contributor != nil:
		ids, pageRes, err = paginateIndex(ctx, idx.Contributor.Multi, contributor, req.Pagination, q.k.Contributions.Get, keep)
	case req.Status != types.CONTRIBUTION_STATUS_UNSPECIFIED:
		ids, pageRes, err = paginateIndex(ctx, idx.Status.Multi, int32(req.Status), req.Pagination, q.k.Contributions.Get, keep)
	default:
		var all []types.Contribution
		all, pageRes, err = query.CollectionPaginate(ctx, q.k.Contributions, req.Pagination,
			func(_ uint64, c types.Contribution) (types.Contribution, error) { return c, nil })
		if err != nil {
			return nil, err
		}
		return &types.QueryContributionsResponse{Contributions: all, Pagination: pageRes}, nil
	}
	if err != nil {
		return nil, err
	}
	list := make([]types.Contribution, 0, len(ids))
	for _, id := range ids {
		c, err := q.k.Contributions.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		list = append(list, c)
	}
	return &types.QueryContributionsResponse{Contributions: list, Pagination: pageRes}, nil
}

func (q queryServer) Reviews(ctx context.Context, req *types.QueryReviewsRequest) (*types.QueryReviewsResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	if _, err := q.k.GetContribution(ctx, req.ContributionId); err != nil {
		return nil, err
	}
	list, pageRes, err := query.CollectionPaginate(ctx, q.k.Reviews, req.Pagination,
		func(_ collections.Pair[uint64, sdk.AccAddress], r types.Review) (types.Review, error) { return r, nil },
		query.WithCollectionPaginationPairPrefix[uint64, sdk.AccAddress](req.ContributionId))
	if err != nil {
		return nil, err
	}
	return &types.QueryReviewsResponse{Reviews: list, Pagination: pageRes}, nil
}

func (q queryServer) DatasetVersion(ctx context.Context, req *types.QueryDatasetVersionRequest) (*types.QueryDatasetVersionResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	v, err := q.k.GetDatasetVersion(ctx, req.DatanetId, req.Version)
	if err != nil {
		return nil, err
	}
	return &types.QueryDatasetVersionResponse{Version: v}, nil
}

func (q queryServer) DatasetVersions(ctx context.Context, req *types.QueryDatasetVersionsRequest) (*types.QueryDatasetVersionsResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	if _, err := q.k.GetDatanet(ctx, req.DatanetId); err != nil {
		return nil, err
	}
	list, pageRes, err := query.CollectionPaginate(ctx, q.k.Versions, req.Pagination,
		func(_ collections.Pair[uint64, uint64], v types.DatasetVersion) (types.DatasetVersion, error) {
			return v, nil
		},
		query.WithCollectionPaginationPairPrefix[uint64, uint64](req.DatanetId))
	if err != nil {
		return nil, err
	}
	return &types.QueryDatasetVersionsResponse{Versions: list, Pagination: pageRes}, nil
}

func (q queryServer) InclusionProof(ctx context.Context, req *types.QueryInclusionProofRequest) (*types.QueryInclusionProofResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	v, err := q.k.GetDatasetVersion(ctx, req.DatanetId, req.Version)
	if err != nil {
		return nil, err
	}
	c, in, err := q.k.ContributionInVersion(ctx, v, req.ContributionId)
	if err != nil {
		return nil, err
	}
	if !in {
		return nil, types.ErrNotInVersion.Wrapf("contribution %d is not in datanet %d version %d", c.Id, v.DatanetId, v.Version)
	}
	leaf, err := q.k.leafHash(c)
	if err != nil {
		return nil, err
	}
	path, err := types.InclusionPath(q.k.merkle(ctx, v.DatanetId), c.LeafIndex, v.LeafCount)
	if err != nil {
		return nil, err
	}
	hexPath := make([]string, len(path))
	for i, p := range path {
		hexPath[i] = hex.EncodeToString(p)
	}
	return &types.QueryInclusionProofResponse{
		Contribution: c, LeafIndex: c.LeafIndex, TreeSize: v.LeafCount, Root: v.Root,
		LeafHash: hex.EncodeToString(leaf), AuditPath: hexPath,
	}, nil
}

func (q queryServer) PendingDeposits(ctx context.Context, req *types.QueryPendingDepositsRequest) (*types.QueryPendingDepositsResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	var contributor sdk.AccAddress
	if req.Contributor != "" {
		var err error
		if contributor, err = q.k.parseAddress("contributor", req.Contributor); err != nil {
			return nil, err
		}
	}
	keep := func(c types.Contribution) bool {
		return c.Status == types.CONTRIBUTION_STATUS_PENDING && (contributor == nil || c.Contributor == req.Contributor)
	}
	var (
		ids     []uint64
		pageRes *query.PageResponse
		err     error
	)
	idx := q.k.Contributions.Indexes
	if contributor != nil {
		ids, pageRes, err = paginateIndex(ctx, idx.Contributor.Multi, contributor, req.Pagination, q.k.Contributions.Get, keep)
	} else {
		ids, pageRes, err = paginateIndex(ctx, idx.Status.Multi, int32(types.CONTRIBUTION_STATUS_PENDING), req.Pagination, q.k.Contributions.Get, keep)
	}
	if err != nil {
		return nil, err
	}
	resp := &types.QueryPendingDepositsResponse{Pagination: pageRes, Total: sdk.NewCoins()}
	for _, id := range ids {
		c, err := q.k.Contributions.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		resp.Deposits = append(resp.Deposits, types.PendingDeposit{
			ContributionId: c.Id, DatanetId: c.DatanetId, Contributor: c.Contributor, Deposit: c.Deposit, ReviewDeadline: c.ReviewDeadline,
		})
	}
	// The total covers every matching deposit, not only this page.
	total, err := q.k.pendingDepositTotal(ctx, contributor)
	if err != nil {
		return nil, err
	}
	resp.Total = total
	return resp, nil
}
