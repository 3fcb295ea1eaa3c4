package keeper

import (
	"context"

	"cosmossdk.io/collections"

	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/query"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openledger/openledger/x/inference/types"
)

// Session returns one session.
func (q queryServer) Session(ctx context.Context, req *types.QuerySessionRequest) (*types.QuerySessionResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	s, err := q.k.GetSession(ctx, req.SessionId)
	if err != nil {
		return nil, err
	}
	return &types.QuerySessionResponse{Session: s}, nil
}

// Sessions lists sessions by requester or provider (an index), optionally by status,
// or all sessions by id.
func (q queryServer) Sessions(ctx context.Context, req *types.QuerySessionsRequest) (*types.QuerySessionsResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	var requester, provider sdk.AccAddress
	var err error
	if req.Requester != "" {
		if requester, err = q.k.parseAddress("requester", req.Requester); err != nil {
			return nil, err
		}
	}
	if req.Provider != "" {
		if provider, err = q.k.parseAddress("provider", req.Provider); err != nil {
			return nil, err
		}
	}
	keep := func(s types.Session) bool {
		return (req.Status == types.SESSION_STATUS_UNSPECIFIED || s.Status == req.Status) &&
			(requester == nil || s.Requester == q.k.addrString(requester)) &&
			(provider == nil || s.Provider == q.k.addrString(provider))
	}
	var (
		list    []types.Session
		pageRes *query.PageResponse
	)
	switch {
	case requester != nil:
		list, pageRes, err = q.paginateSessionIndex(ctx, q.k.SessionsByRequester, requester, req.Pagination, keep)
	case provider != nil:
		list, pageRes, err = q.paginateSessionIndex(ctx, q.k.SessionsByProvider, provider, req.Pagination, keep)
	default:
		list, pageRes, err = query.CollectionFilteredPaginate(ctx, q.k.Sessions, req.Pagination,
			func(_ uint64, s types.Session) (bool, error) { return keep(s), nil },
			func(_ uint64, s types.Session) (types.Session, error) { return s, nil })
	}
	if err != nil {
		return nil, err
	}
	return &types.QuerySessionsResponse{Sessions: list, Pagination: pageRes}, nil
}

// paginateSessionIndex pages an (address, session id) index, keeping the sessions keep accepts.
func (q queryServer) paginateSessionIndex(ctx context.Context, idx collections.KeySet[AddrID], addr sdk.AccAddress,
	page *query.PageRequest, keep func(types.Session) bool,
) ([]types.Session, *query.PageResponse, error) {
	return query.CollectionFilteredPaginate(ctx, idx, page,
		func(key AddrID, _ collections.NoValue) (bool, error) {
			s, err := q.k.Sessions.Get(ctx, key.K2())
			if err != nil {
				return false, err
			}
			return keep(s), nil
		},
		func(key AddrID, _ collections.NoValue) (types.Session, error) { return q.k.Sessions.Get(ctx, key.K2()) },
		query.WithCollectionPaginationPairPrefix[sdk.AccAddress, uint64](addr),
	)
}

// SessionSettlements lists a session's settlements by id.
func (q queryServer) SessionSettlements(ctx context.Context, req *types.QuerySessionSettlementsRequest) (*types.QuerySessionSettlementsResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	if _, err := q.k.GetSession(ctx, req.SessionId); err != nil {
		return nil, err
	}
	list, pageRes, err := query.CollectionPaginate(ctx, q.k.SettlementsBySession, req.Pagination,
		func(key collections.Pair[uint64, uint64], _ collections.NoValue) (types.SessionSettlement, error) {
			return q.k.Settlements.Get(ctx, key.K2())
		},
		query.WithCollectionPaginationPairPrefix[uint64, uint64](req.SessionId))
	if err != nil {
		return nil, err
	}
	return &types.QuerySessionSettlementsResponse{Settlements: list, Pagination: pageRes}, nil
}

// Settlement returns one session settlement by id.
func (q queryServer) Settlement(ctx context.Context, req *types.QuerySettlementRequest) (*types.QuerySettlementResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	st, err := q.k.Settlements.Get(ctx, req.SettlementId)
	if isNotFound(err) {
		return nil, types.ErrSettlementNotFound.Wrapf("settlement %d", req.SettlementId)
	} else if err != nil {
		return nil, err
	}
	return &types.QuerySettlementResponse{Settlement: st}, nil
}
