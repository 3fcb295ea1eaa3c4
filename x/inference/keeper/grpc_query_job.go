package keeper

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openledger/openledger/x/inference/types"
)

// Job is not built yet (placeholder replaced in this change).
func (q queryServer) Job(ctx context.Context, req *types.QueryJobRequest) (*types.QueryJobResponse, error) {
	return nil, status.Error(codes.Unimplemented, "Job")
}

// Jobs is not built yet (placeholder replaced in this change).
func (q queryServer) Jobs(ctx context.Context, req *types.QueryJobsRequest) (*types.QueryJobsResponse, error) {
	return nil, status.Error(codes.Unimplemented, "Jobs")
}

// Bids is not built yet (placeholder replaced in this change).
func (q queryServer) Bids(ctx context.Context, req *types.QueryBidsRequest) (*types.QueryBidsResponse, error) {
	return nil, status.Error(codes.Unimplemented, "Bids")
}

// Receipt is not built yet (placeholder replaced in this change).
func (q queryServer) Receipt(ctx context.Context, req *types.QueryReceiptRequest) (*types.QueryReceiptResponse, error) {
	return nil, status.Error(codes.Unimplemented, "Receipt")
}
