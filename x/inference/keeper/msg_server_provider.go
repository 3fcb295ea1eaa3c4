package keeper

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openledger/openledger/x/inference/types"
)

// RegisterProvider is not built yet (placeholder replaced in this change).
func (m msgServer) RegisterProvider(ctx context.Context, msg *types.MsgRegisterProvider) (*types.MsgRegisterProviderResponse, error) {
	return nil, status.Error(codes.Unimplemented, "RegisterProvider")
}

// UpdateProvider is not built yet (placeholder replaced in this change).
func (m msgServer) UpdateProvider(ctx context.Context, msg *types.MsgUpdateProvider) (*types.MsgUpdateProviderResponse, error) {
	return nil, status.Error(codes.Unimplemented, "UpdateProvider")
}

// AddStake is not built yet (placeholder replaced in this change).
func (m msgServer) AddStake(ctx context.Context, msg *types.MsgAddStake) (*types.MsgAddStakeResponse, error) {
	return nil, status.Error(codes.Unimplemented, "AddStake")
}

// UnbondStake is not built yet (placeholder replaced in this change).
func (m msgServer) UnbondStake(ctx context.Context, msg *types.MsgUnbondStake) (*types.MsgUnbondStakeResponse, error) {
	return nil, status.Error(codes.Unimplemented, "UnbondStake")
}

// UnjailProvider is not built yet (placeholder replaced in this change).
func (m msgServer) UnjailProvider(ctx context.Context, msg *types.MsgUnjailProvider) (*types.MsgUnjailProviderResponse, error) {
	return nil, status.Error(codes.Unimplemented, "UnjailProvider")
}

// SetOffer is not built yet (placeholder replaced in this change).
func (m msgServer) SetOffer(ctx context.Context, msg *types.MsgSetOffer) (*types.MsgSetOfferResponse, error) {
	return nil, status.Error(codes.Unimplemented, "SetOffer")
}

// RemoveOffer is not built yet (placeholder replaced in this change).
func (m msgServer) RemoveOffer(ctx context.Context, msg *types.MsgRemoveOffer) (*types.MsgRemoveOfferResponse, error) {
	return nil, status.Error(codes.Unimplemented, "RemoveOffer")
}
