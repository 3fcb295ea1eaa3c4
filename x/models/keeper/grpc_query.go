package keeper

import (
	"context"

	"cosmossdk.io/collections"
	"cosmossdk.io/collections/indexes"

	"github.com/cosmos/cosmos-sdk/types/query"

	"github.com/openledger/openledger/x/models/types"
)

type queryServer struct {
	k Keeper
}

var _ types.QueryServer = queryServer{}

// NewQueryServerImpl returns the module's Query service.
func NewQueryServerImpl(k Keeper) types.QueryServer { return queryServer{k: k} }

func (q queryServer) Params(ctx context.Context, _ *types.QueryParamsRequest) (*types.QueryParamsResponse, error) {
	p, err := q.k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	return &types.QueryParamsResponse{Params: p}, nil
}

func (q queryServer) Model(ctx context.Context, req *types.QueryModelRequest) (*types.QueryModelResponse, error) {
	if req == nil {
		return nil, types.ErrInvalidField.Wrap("empty request")
	}
	m, err := q.k.GetModel(ctx, req.ModelId)
	if err != nil {
		return nil, err
	}
	return &types.QueryModelResponse{Model: m}, nil
}

func (q queryServer) Models(ctx context.Context, req *types.QueryModelsRequest) (*types.QueryModelsResponse, error) {
	if req == nil {
		return nil, types.ErrInvalidField.Wrap("empty request")
	}
	resp := &types.QueryModelsResponse{}
	if req.Owner == "" {
		items, page, err := query.CollectionPaginate(ctx, q.k.Models, req.Pagination,
			func(_ uint64, m types.Model) (types.Model, error) { return m, nil })
		if err != nil {
			return nil, err
		}
		resp.Models, resp.Pagination = items, page
		return resp, nil
	}
	owner, err := q.k.parseAddress("owner", req.Owner)
	if err != nil {
		return nil, err
	}
	ids, page, err := paginateIndex(ctx, q.k.Models.Indexes.Owner, owner, req.Pagination)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		m, err := q.k.GetModel(ctx, id)
		if err != nil {
			return nil, err
		}
		resp.Models = append(resp.Models, m)
	}
	resp.Pagination = page
	return resp, nil
}

func (q queryServer) ModelVersion(ctx context.Context, req *types.QueryModelVersionRequest) (*types.QueryModelVersionResponse, error) {
	if req == nil {
		return nil, types.ErrInvalidField.Wrap("empty request")
	}
	v, err := q.k.GetVersion(ctx, req.ModelId, req.Version)
	if err != nil {
		return nil, err
	}
	return &types.QueryModelVersionResponse{Version: v}, nil
}

func (q queryServer) ModelVersions(ctx context.Context, req *types.QueryModelVersionsRequest) (*types.QueryModelVersionsResponse, error) {
	if req == nil {
		return nil, types.ErrInvalidField.Wrap("empty request")
	}
	if _, err := q.k.GetModel(ctx, req.ModelId); err != nil {
		return nil, err
	}
	items, page, err := query.CollectionPaginate(ctx, q.k.Versions, req.Pagination,
		func(_ collections.Pair[uint64, uint64], v types.ModelVersion) (types.ModelVersion, error) {
			return v, nil
		},
		query.WithCollectionPaginationPairPrefix[uint64, uint64](req.ModelId))
	if err != nil {
		return nil, err
	}
	return &types.QueryModelVersionsResponse{Versions: items, Pagination: page}, nil
}

func (q queryServer) Lineage(ctx context.Context, req *types.QueryLineageRequest) (*types.QueryLineageResponse, error) {
	if req == nil {
		return nil, types.ErrInvalidField.Wrap("empty request")
	}
	params, err := q.k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	v, err := q.k.GetVersion(ctx, req.ModelId, req.Version)
	if err != nil {
		return nil, err
	}
	depth := params.MaxLineageDepth
	if req.MaxDepth != 0 && req.MaxDepth < depth {
		depth = req.MaxDepth
	}
	chain, truncated, err := q.k.ancestry(ctx, v, depth)
	if err != nil {
		return nil, err
	}
	resp := &types.QueryLineageResponse{Truncated: truncated}
	for i, c := range chain {
		resp.Entries = append(resp.Entries, types.LineageEntry{
			Depth: uint32(i), ModelId: c.ModelId, Version: c.Version, Kind: c.Kind,
			DatasetVersions: c.DatasetVersions, UpstreamShareBps: c.UpstreamShareBps, Status: c.Status,
		})
	}
	if !truncated {
		// Shown for information; a lineage that no longer fits the params has none.
		if table, err := types.FlattenShares(levelsOf(chain), params.MaxShareEntries); err == nil {
			resp.DataShares = table
		}
	}
	return resp, nil
}

func (q queryServer) Deployment(ctx context.Context, req *types.QueryDeploymentRequest) (*types.QueryDeploymentResponse, error) {
	if req == nil {
		return nil, types.ErrInvalidField.Wrap("empty request")
	}
	d, err := q.k.GetDeployment(ctx, req.DeploymentId)
	if err != nil {
		return nil, err
	}
	return &types.QueryDeploymentResponse{Deployment: d}, nil
}

func (q queryServer) Deployments(ctx context.Context, req *types.QueryDeploymentsRequest) (*types.QueryDeploymentsResponse, error) {
	if req == nil {
		return nil, types.ErrInvalidField.Wrap("empty request")
	}
	if req.ModelVersion != 0 && req.ModelId == 0 {
		return nil, types.ErrInvalidField.Wrap("model_version: filtering by version needs model_id")
	}
	if req.Owner != "" && req.ModelId != 0 {
		return nil, types.ErrInvalidField.Wrap("owner: filter by owner or by model, not both")
	}
	if req.Status != types.DEPLOYMENT_STATUS_UNSPECIFIED && types.DeploymentStatus_name[int32(req.Status)] == "" {
		return nil, types.ErrInvalidField.Wrapf("status: unknown value %d", req.Status)
	}
	keep := func(d types.Deployment) bool {
		return req.Status == types.DEPLOYMENT_STATUS_UNSPECIFIED || d.Status == req.Status
	}
	var (
		ids  []uint64
		page *query.PageResponse
		err  error
	)
	switch {
	case req.ModelId != 0 && req.ModelVersion != 0:
		ids, page, err = paginateFiltered(ctx, q.k, q.k.Deployments.Indexes.Version, collections.Join(req.ModelId, req.ModelVersion), req.Pagination, keep)
	case req.ModelId != 0:
		ids, page, err = paginateFiltered(ctx, q.k, q.k.Deployments.Indexes.Model, req.ModelId, req.Pagination, keep)
	case req.Owner != "":
		owner, perr := q.k.parseAddress("owner", req.Owner)
		if perr != nil {
			return nil, perr
		}
		ids, page, err = paginateFiltered(ctx, q.k, q.k.Deployments.Indexes.Owner, owner, req.Pagination, keep)
	case req.Status != types.DEPLOYMENT_STATUS_UNSPECIFIED:
		ids, page, err = paginateIndex(ctx, q.k.Deployments.Indexes.Status, int32(req.Status), req.Pagination)
	default:
		items, pg, perr := query.CollectionPaginate(ctx, q.k.Deployments, req.Pagination,
			func(_ uint64, d types.Deployment) (types.Deployment, error) { return d, nil })
		if perr != nil {
			return nil, perr
		}
		return &types.QueryDeploymentsResponse{Deployments: items, Pagination: pg}, nil
	}
	if err != nil {
		return nil, err
	}
	resp := &types.QueryDeploymentsResponse{Pagination: page}
	for _, id := range ids {
		d, err := q.k.GetDeployment(ctx, id)
		if err != nil {
			return nil, err
		}
		resp.Deployments = append(resp.Deployments, d)
	}
	return resp, nil
}

func (q queryServer) DataShares(ctx context.Context, req *types.QueryDataSharesRequest) (*types.QueryDataSharesResponse, error) {
	if req == nil {
		return nil, types.ErrInvalidField.Wrap("empty request")
	}
	d, err := q.k.GetDeployment(ctx, req.DeploymentId)
	if err != nil {
		return nil, err
	}
	return &types.QueryDataSharesResponse{DataShares: d.DataShares}, nil
}

// paginateIndex pages through the primary keys a Multi index holds for one reference key.
func paginateIndex[R, V any](
	ctx context.Context, idx *indexes.Multi[R, uint64, V], ref R, page *query.PageRequest,
) ([]uint64, *query.PageResponse, error) {
	return query.CollectionPaginate(ctx, idx, page,
		func(key collections.Pair[R, uint64], _ collections.NoValue) (uint64, error) { return key.K2(), nil },
		query.WithCollectionPaginationPairPrefix[R, uint64](ref))
}

// paginateFiltered pages through the deployments a Multi index holds for one
// reference key, keeping those that pass keep.
func paginateFiltered[R any](
	ctx context.Context, k Keeper, idx *indexes.Multi[R, uint64, types.Deployment], ref R,
	page *query.PageRequest, keep func(types.Deployment) bool,
) ([]uint64, *query.PageResponse, error) {
	return query.CollectionFilteredPaginate(ctx, idx, page,
		func(key collections.Pair[R, uint64], _ collections.NoValue) (bool, error) {
			d, err := k.GetDeployment(ctx, key.K2())
			if err != nil {
				return false, err
			}
			return keep(d), nil
		},
		func(key collections.Pair[R, uint64], _ collections.NoValue) (uint64, error) { return key.K2(), nil },
		query.WithCollectionPaginationPairPrefix[R, uint64](ref))
}
