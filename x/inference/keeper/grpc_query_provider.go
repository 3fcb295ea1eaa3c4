package keeper

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openledger/openledger/x/inference/types"
)

// Provider is not built yet (placeholder replaced in this change).
func (q queryServer) Provider(ctx context.Context, req *types.QueryProviderRequest) (*types.QueryProviderResponse, error) {
	return nil, status.Error(codes.Unimplemented, "Provider")
}

// Providers is not built yet (placeholder replaced in this change).
func (q queryServer) Providers(ctx context.Context, req *types.QueryProvidersRequest) (*types.QueryProvidersResponse, error) {
	return nil, status.Error(codes.Unimplemented, "Providers")
}

// Offers is not built yet (placeholder replaced in this change).
func (q queryServer) Offers(ctx context.Context, req *types.QueryOffersRequest) (*types.QueryOffersResponse, error) {
	return nil, status.Error(codes.Unimplemented, "Offers")
}

// ProviderOffers is not built yet (placeholder replaced in this change).
func (q queryServer) ProviderOffers(ctx context.Context, req *types.QueryProviderOffersRequest) (*types.QueryProviderOffersResponse, error) {
	return nil, status.Error(codes.Unimplemented, "ProviderOffers")
}

// Unbondings is not built yet (placeholder replaced in this change).
func (q queryServer) Unbondings(ctx context.Context, req *types.QueryUnbondingsRequest) (*types.QueryUnbondingsResponse, error) {
	return nil, status.Error(codes.Unimplemented, "Unbondings")
}
