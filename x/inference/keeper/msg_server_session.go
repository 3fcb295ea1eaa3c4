package keeper

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openledger/openledger/x/inference/types"
)

// OpenSession is not built yet (placeholder replaced in this change).
func (m msgServer) OpenSession(ctx context.Context, msg *types.MsgOpenSession) (*types.MsgOpenSessionResponse, error) {
	return nil, status.Error(codes.Unimplemented, "OpenSession")
}

// TopUpSession is not built yet (placeholder replaced in this change).
func (m msgServer) TopUpSession(ctx context.Context, msg *types.MsgTopUpSession) (*types.MsgTopUpSessionResponse, error) {
	return nil, status.Error(codes.Unimplemented, "TopUpSession")
}

// SettleSession is not built yet (placeholder replaced in this change).
func (m msgServer) SettleSession(ctx context.Context, msg *types.MsgSettleSession) (*types.MsgSettleSessionResponse, error) {
	return nil, status.Error(codes.Unimplemented, "SettleSession")
}

// CloseSession is not built yet (placeholder replaced in this change).
func (m msgServer) CloseSession(ctx context.Context, msg *types.MsgCloseSession) (*types.MsgCloseSessionResponse, error) {
	return nil, status.Error(codes.Unimplemented, "CloseSession")
}
