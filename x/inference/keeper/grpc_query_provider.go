package keeper

import (
	"context"
	"errors"

	"cosmossdk.io/collections"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/query"

	"github.com/openledger/openledger/x/inference/types"
)

// marketQueryErr maps a keeper error to a gRPC status: not-found errors to NotFound,
// bad input to InvalidArgument, the rest to Internal.
func marketQueryErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, types.ErrProviderNotFound), errors.Is(err, types.ErrJobNotFound),
		errors.Is(err, types.ErrOfferNotFound), errors.Is(err, collections.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, types.ErrInvalidAddress), errors.Is(err, types.ErrInvalidField):
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if _, ok := status.FromError(err); ok && status.Code(err) != codes.Unknown {
		return err
	}
	return status.Error(codes.Internal, err.Error())
}

// Provider returns one provider.
func (q queryServer) Provider(ctx context.Context, req *types.QueryProviderRequest) (*types.QueryProviderResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	op, err := q.k.parseAddress("operator", req.Operator)
	if err != nil {
		return nil, marketQueryErr(err)
	}
	p, err := q.k.GetProvider(ctx, op)
	if err != nil {
		return nil, marketQueryErr(err)
	}
	return &types.QueryProviderResponse{Provider: p}, nil
}

// Providers lists providers by operator, optionally of one status.
func (q queryServer) Providers(ctx context.Context, req *types.QueryProvidersRequest) (*types.QueryProvidersResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	if req.Status == types.PROVIDER_STATUS_UNSPECIFIED {
		out, page, err := query.CollectionPaginate(ctx, q.k.Providers, req.Pagination,
			func(_ sdk.AccAddress, p types.Provider) (types.Provider, error) { return p, nil })
		if err != nil {
			return nil, marketQueryErr(err)
		}
		return &types.QueryProvidersResponse{Providers: out, Pagination: page}, nil
	}
	if _, ok := types.ProviderStatus_name[int32(req.Status)]; !ok {
		return nil, status.Errorf(codes.InvalidArgument, "unknown status %d", req.Status)
	}
	out, page, err := query.CollectionPaginate(ctx, q.k.ProvidersByStatus, req.Pagination,
		func(key collections.Pair[int32, sdk.AccAddress], _ collections.NoValue) (types.Provider, error) {
			return q.k.Providers.Get(ctx, key.K2())
		},
		query.WithCollectionPaginationPairPrefix[int32, sdk.AccAddress](int32(req.Status)))
	if err != nil {
		return nil, marketQueryErr(err)
	}
	return &types.QueryProvidersResponse{Providers: out, Pagination: page}, nil
}

// Offers lists a deployment's offers, cheapest first (ties by operator);
// active_only skips providers that are not ACTIVE.
func (q queryServer) Offers(ctx context.Context, req *types.QueryOffersRequest) (*types.QueryOffersResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	prefix := func(o *query.CollectionsPaginateOptions[OfferPriceKey]) {
		p := collections.TriplePrefix[uint64, uint64, sdk.AccAddress](req.DeploymentId)
		o.Prefix = &p
	}
	include := func(key OfferPriceKey, _ collections.NoValue) (bool, error) {
		if !req.ActiveOnly {
			return true, nil
		}
		p, err := q.k.Providers.Get(ctx, key.K3())
		if err != nil {
			return false, err
		}
		return p.Status == types.PROVIDER_STATUS_ACTIVE, nil
	}
	out, page, err := query.CollectionFilteredPaginate(ctx, q.k.OffersByPrice, req.Pagination, include,
		func(key OfferPriceKey, _ collections.NoValue) (types.Offer, error) {
			return q.k.Offers.Get(ctx, collections.Join(key.K3(), key.K1()))
		}, prefix)
	if err != nil {
		return nil, marketQueryErr(err)
	}
	return &types.QueryOffersResponse{Offers: out, Pagination: page}, nil
}

// ProviderOffers lists a provider's offers by deployment.
func (q queryServer) ProviderOffers(ctx context.Context, req *types.QueryProviderOffersRequest) (*types.QueryProviderOffersResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	op, err := q.k.parseAddress("operator", req.Operator)
	if err != nil {
		return nil, marketQueryErr(err)
	}
	out, page, err := query.CollectionPaginate(ctx, q.k.Offers, req.Pagination,
		func(_ OfferKey, o types.Offer) (types.Offer, error) { return o, nil },
		query.WithCollectionPaginationPairPrefix[sdk.AccAddress, uint64](op))
	if err != nil {
		return nil, marketQueryErr(err)
	}
	return &types.QueryProviderOffersResponse{Offers: out, Pagination: page}, nil
}

// Unbondings lists a provider's unbonding entries by id (at most
// max_unbonding_entries of them).
func (q queryServer) Unbondings(ctx context.Context, req *types.QueryUnbondingsRequest) (*types.QueryUnbondingsResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	op, err := q.k.parseAddress("operator", req.Operator)
	if err != nil {
		return nil, marketQueryErr(err)
	}
	var out []types.UnbondingEntry
	rng := collections.NewPrefixedPairRange[sdk.AccAddress, uint64](op)
	if err := q.k.Unbondings.Walk(ctx, rng, func(_ UnbondingKey, u types.UnbondingEntry) (bool, error) {
		out = append(out, u)
		return len(out) >= maxUnbondingsListed, nil
	}); err != nil {
		return nil, marketQueryErr(err)
	}
	return &types.QueryUnbondingsResponse{Entries: out}, nil
}

// maxUnbondingsListed bounds the Unbondings query (entries per provider are capped
// by params far below it).
const maxUnbondingsListed = 1_000
