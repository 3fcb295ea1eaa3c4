package keeper

import (
	"context"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

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
