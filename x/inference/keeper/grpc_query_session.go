package keeper

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openledger/openledger/x/inference/types"
)

// Session is not built yet (placeholder replaced in this change).
func (q queryServer) Session(ctx context.Context, req *types.QuerySessionRequest) (*types.QuerySessionResponse, error) {
	return nil, status.Error(codes.Unimplemented, "Session")
}

// Sessions is not built yet (placeholder replaced in this change).
func (q queryServer) Sessions(ctx context.Context, req *types.QuerySessionsRequest) (*types.QuerySessionsResponse, error) {
	return nil, status.Error(codes.Unimplemented, "Sessions")
}

// SessionSettlements is not built yet (placeholder replaced in this change).
func (q queryServer) SessionSettlements(ctx context.Context, req *types.QuerySessionSettlementsRequest) (*types.QuerySessionSettlementsResponse, error) {
	return nil, status.Error(codes.Unimplemented, "SessionSettlements")
}
