package keeper

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openledger/openledger/x/inference/types"
)

// CreateJob is not built yet (placeholder replaced in this change).
func (m msgServer) CreateJob(ctx context.Context, msg *types.MsgCreateJob) (*types.MsgCreateJobResponse, error) {
	return nil, status.Error(codes.Unimplemented, "CreateJob")
}

// CancelJob is not built yet (placeholder replaced in this change).
func (m msgServer) CancelJob(ctx context.Context, msg *types.MsgCancelJob) (*types.MsgCancelJobResponse, error) {
	return nil, status.Error(codes.Unimplemented, "CancelJob")
}

// Bid is not built yet (placeholder replaced in this change).
func (m msgServer) Bid(ctx context.Context, msg *types.MsgBid) (*types.MsgBidResponse, error) {
	return nil, status.Error(codes.Unimplemented, "Bid")
}

// SubmitReceipt is not built yet (placeholder replaced in this change).
func (m msgServer) SubmitReceipt(ctx context.Context, msg *types.MsgSubmitReceipt) (*types.MsgSubmitReceiptResponse, error) {
	return nil, status.Error(codes.Unimplemented, "SubmitReceipt")
}
