package keeper

import (
	"context"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	datanettypes "github.com/openledger/openledger/x/datanet/types"
	"github.com/openledger/openledger/x/rewards/types"
)

type queryServer struct{ k Keeper }

var _ types.QueryServer = queryServer{}

// NewQueryServerImpl returns the module's Query service.
func NewQueryServerImpl(k Keeper) types.QueryServer { return queryServer{k: k} }

// maxAccrualsPerQuery bounds an Accruals answer.
const maxAccrualsPerQuery = 1_000

// Params returns the module params.
func (q queryServer) Params(ctx context.Context, _ *types.QueryParamsRequest) (*types.QueryParamsResponse, error) {
	p, err := q.k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	return &types.QueryParamsResponse{Params: p}, nil
}

// Accruals lists a recipient's unclaimed direct and developer credits by source.
func (q queryServer) Accruals(ctx context.Context, req *types.QueryAccrualsRequest) (*types.QueryAccrualsResponse, error) {
	if req == nil {
		return nil, types.ErrInvalidAddress.Wrap("recipient: empty request")
	}
	who, err := q.k.parseAddress("recipient", req.Recipient)
	if err != nil {
		return nil, err
	}
	res := &types.QueryAccrualsResponse{}
	err = q.k.Accruals.Walk(ctx, collections.NewPrefixedTripleRange[sdk.AccAddress, int32, uint64](who),
		func(key AccrualKey, v sdkmath.Int) (bool, error) {
			res.Accruals = append(res.Accruals, types.Accrual{Recipient: req.Recipient, Kind: types.SourceKind(key.K2()), SourceId: key.K3(), Amount: v})
			return len(res.Accruals) == maxAccrualsPerQuery, nil
		})
	return res, err
}

// Pool returns a dataset version's pool.
func (q queryServer) Pool(ctx context.Context, req *types.QueryPoolRequest) (*types.QueryPoolResponse, error) {
	if req == nil {
		return nil, types.ErrPoolNotFound.Wrap("empty request")
	}
	p, err := q.k.Pools.Get(ctx, collections.Join(req.DatanetId, req.Version))
	if isNotFound(err) {
		return nil, types.ErrPoolNotFound.Wrapf("(%d, %d)", req.DatanetId, req.Version)
	} else if err != nil {
		return nil, err
	}
	return &types.QueryPoolResponse{Pool: p}, nil
}

// SettlementRecord returns a retained settlement record.
func (q queryServer) SettlementRecord(ctx context.Context, req *types.QuerySettlementRecordRequest) (*types.QuerySettlementRecordResponse, error) {
	if req == nil {
		return nil, types.ErrRecordNotFound.Wrap("empty request")
	}
	r, err := q.k.Records.Get(ctx, collections.Join(req.PayerModule, req.SettlementId))
	if isNotFound(err) {
		return nil, types.ErrRecordNotFound.Wrapf("payer %s settlement %d", req.PayerModule, req.SettlementId)
	} else if err != nil {
		return nil, err
	}
	return &types.QuerySettlementRecordResponse{Record: r}, nil
}

// ContributionRewards returns a contribution's unclaimed direct credit and its pending
// earnings in the pools of its datanet that it belongs to (at most max_pools pools).
func (q queryServer) ContributionRewards(ctx context.Context, req *types.QueryContributionRewardsRequest) (*types.QueryContributionRewardsResponse, error) {
	if req == nil {
		return nil, types.ErrInvalidSummary.Wrap("empty request")
	}
	c, err := q.k.datanet.GetContribution(ctx, req.ContributionId)
	if err != nil {
		return nil, err
	}
	who, err := q.k.parseAddress("contributor", c.Contributor)
	if err != nil {
		return nil, err
	}
	params, err := q.k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	res := &types.QueryContributionRewardsResponse{Direct: sdkmath.ZeroInt()}
	direct, err := q.k.Accruals.Get(ctx, collections.Join3(who, int32(types.SOURCE_KIND_CONTRIBUTION), c.Id))
	if err == nil {
		res.Direct = direct
	} else if !isNotFound(err) {
		return nil, err
	}
	var versions []uint64
	err = q.k.Pools.Walk(ctx, collections.NewPrefixedPairRange[uint64, uint64](c.DatanetId),
		func(key collections.Pair[uint64, uint64], _ types.VersionPool) (bool, error) {
			versions = append(versions, key.K2())
			return uint32(len(versions)) == params.MaxPools, nil
		})
	if err != nil {
		return nil, err
	}
	for _, ver := range versions {
		v, err := q.k.datanet.GetDatasetVersion(ctx, c.DatanetId, ver)
		if err != nil {
			return nil, err
		}
		if _, in, err := q.k.datanet.ContributionInVersion(ctx, v, c.Id); err != nil {
			return nil, err
		} else if !in {
			continue
		}
		amt, err := q.k.PendingInPool(ctx, c.DatanetId, ver, c.Id, c.Shares)
		if err != nil {
			return nil, err
		}
		res.Pools = append(res.Pools, types.PoolPending{Version: ver, Amount: amt})
	}
	return res, nil
}

// DeploymentTotals returns a deployment's settlement totals (zero when never settled).
func (q queryServer) DeploymentTotals(ctx context.Context, req *types.QueryDeploymentTotalsRequest) (*types.QueryDeploymentTotalsResponse, error) {
	if req == nil {
		return nil, types.ErrInvalidSummary.Wrap("empty request")
	}
	t, err := q.k.DeploymentTotals.Get(ctx, req.DeploymentId)
	if isNotFound(err) {
		t = types.DeploymentTotals{DeploymentId: req.DeploymentId, Paid: sdkmath.ZeroInt(), Developer: sdkmath.ZeroInt(), Data: sdkmath.ZeroInt()}
	} else if err != nil {
		return nil, err
	}
	return &types.QueryDeploymentTotalsResponse{Totals: t}, nil
}

// DatanetTotals returns what a datanet's contributions earned (zero when never paid).
func (q queryServer) DatanetTotals(ctx context.Context, req *types.QueryDatanetTotalsRequest) (*types.QueryDatanetTotalsResponse, error) {
	if req == nil {
		return nil, types.ErrInvalidSummary.Wrap("empty request")
	}
	t, err := q.k.DatanetTotals.Get(ctx, req.DatanetId)
	if isNotFound(err) {
		t = types.DatanetTotals{DatanetId: req.DatanetId, Direct: sdkmath.ZeroInt(), Pooled: sdkmath.ZeroInt()}
	} else if err != nil {
		return nil, err
	}
	return &types.QueryDatanetTotalsResponse{Totals: t}, nil
}

// PendingRewards returns what an address can claim now, by source: its developer
// and direct credits (at most maxAccrualsPerQuery) and its contributions' pool
// earnings, visiting at most limit contributions (≤ max_claim_items) and, for each,
// at most max_pools pools of its datanet. next_contribution_id resumes the walk.
func (q queryServer) PendingRewards(ctx context.Context, req *types.QueryPendingRewardsRequest) (*types.QueryPendingRewardsResponse, error) {
	if req == nil {
		return nil, types.ErrInvalidAddress.Wrap("address: empty request")
	}
	who, err := q.k.parseAddress("address", req.Address)
	if err != nil {
		return nil, err
	}
	params, err := q.k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	res := &types.QueryPendingRewardsResponse{Denom: params.Denom, Total: sdkmath.ZeroInt()}
	n := 0
	err = q.k.Accruals.Walk(ctx, collections.NewPrefixedTripleRange[sdk.AccAddress, int32, uint64](who),
		func(key AccrualKey, v sdkmath.Int) (bool, error) {
			a := types.Accrual{Recipient: req.Address, Kind: types.SourceKind(key.K2()), SourceId: key.K3(), Amount: v}
			if a.Kind == types.SOURCE_KIND_DEPLOYMENT {
				res.Developer = append(res.Developer, a)
			} else {
				res.Direct = append(res.Direct, a)
			}
			res.Total = res.Total.Add(v)
			n++
			return n == maxAccrualsPerQuery, nil
		})
	if err != nil {
		return nil, err
	}
	limit := params.MaxClaimItems
	if req.Limit != 0 && req.Limit < limit {
		limit = req.Limit
	}
	ids, err := q.k.datanet.ContributionIDsOf(ctx, who, req.StartContributionId, int(limit)+1)
	if err != nil {
		return nil, err
	}
	if len(ids) > int(limit) {
		res.NextContributionId, ids = ids[limit], ids[:limit]
	}
	for _, id := range ids {
		c, err := q.k.datanet.GetContribution(ctx, id)
		if err != nil {
			return nil, err
		}
		if c.Status != datanettypes.CONTRIBUTION_STATUS_ACCEPTED {
			continue
		}
		var versions []uint64
		err = q.k.Pools.Walk(ctx, collections.NewPrefixedPairRange[uint64, uint64](c.DatanetId),
			func(key collections.Pair[uint64, uint64], _ types.VersionPool) (bool, error) {
				versions = append(versions, key.K2())
				return uint32(len(versions)) == params.MaxPools, nil
			})
		if err != nil {
			return nil, err
		}
		for _, ver := range versions {
			v, err := q.k.datanet.GetDatasetVersion(ctx, c.DatanetId, ver)
			if err != nil {
				return nil, err
			}
			if _, in, err := q.k.datanet.ContributionInVersion(ctx, v, c.Id); err != nil {
				return nil, err
			} else if !in {
				continue
			}
			amt, err := q.k.PendingInPool(ctx, c.DatanetId, ver, c.Id, c.Shares)
			if err != nil {
				return nil, err
			}
			if !amt.IsPositive() {
				continue
			}
			res.Pools = append(res.Pools, types.PendingPoolShare{DatanetId: c.DatanetId, Version: ver, ContributionId: c.Id, Shares: c.Shares, Amount: amt})
			res.Total = res.Total.Add(amt)
		}
	}
	return res, nil
}
