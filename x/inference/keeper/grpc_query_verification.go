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

// disputeQueryErr maps verification errors to gRPC codes.
func disputeQueryErr(err error) error {
	if errors.Is(err, types.ErrDisputeNotFound) || errors.Is(err, types.ErrSettlementNotFound) {
		return status.Error(codes.NotFound, err.Error())
	}
	return marketQueryErr(err)
}

// Dispute returns one dispute.
func (q queryServer) Dispute(ctx context.Context, req *types.QueryDisputeRequest) (*types.QueryDisputeResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	d, err := q.k.GetDispute(ctx, req.DisputeId)
	if err != nil {
		return nil, disputeQueryErr(err)
	}
	return &types.QueryDisputeResponse{Dispute: d}, nil
}

// DisputeByTarget returns the dispute of a receipt (target id: the job id) or a settlement.
func (q queryServer) DisputeByTarget(ctx context.Context, req *types.QueryDisputeByTargetRequest) (*types.QueryDisputeResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	id, err := q.k.DisputesByTarget.Get(ctx, collections.Join(int32(req.TargetKind), req.TargetId))
	if isNotFound(err) {
		return nil, status.Errorf(codes.NotFound, "%s %d has no dispute", req.TargetKind, req.TargetId)
	} else if err != nil {
		return nil, disputeQueryErr(err)
	}
	return q.Dispute(ctx, &types.QueryDisputeRequest{DisputeId: id})
}

// Disputes lists disputes by id, through the status, accused-provider or member
// index (provider and member are exclusive; status filters the others).
func (q queryServer) Disputes(ctx context.Context, req *types.QueryDisputesRequest) (*types.QueryDisputesResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	if req.Provider != "" && req.Member != "" {
		return nil, status.Error(codes.InvalidArgument, "provider and member filters are exclusive")
	}
	if _, ok := types.DisputeStatus_name[int32(req.Status)]; !ok {
		return nil, status.Errorf(codes.InvalidArgument, "unknown status %d", req.Status)
	}
	load := func(id uint64) (types.Dispute, bool, error) {
		d, err := q.k.Disputes.Get(ctx, id)
		if err != nil {
			return types.Dispute{}, false, err
		}
		return d, req.Status == types.DISPUTE_STATUS_UNSPECIFIED || d.Status == req.Status, nil
	}
	var (
		out  []types.Dispute
		page *query.PageResponse
		err  error
	)
	switch {
	case req.Provider != "" || req.Member != "":
		field, s, idx := "provider", req.Provider, q.k.DisputesByProvider
		if req.Member != "" {
			field, s, idx = "member", req.Member, q.k.DisputesByMember
		}
		addr, perr := q.k.parseAddress(field, s)
		if perr != nil {
			return nil, disputeQueryErr(perr)
		}
		out, page, err = pageDisputeIndex(ctx, idx, addr, req.Pagination, load)
	case req.Status != types.DISPUTE_STATUS_UNSPECIFIED:
		out, page, err = pageDisputeIndex(ctx, q.k.DisputesByStatus, int32(req.Status), req.Pagination, load)
	default:
		out, page, err = query.CollectionPaginate(ctx, q.k.Disputes, req.Pagination,
			func(_ uint64, d types.Dispute) (types.Dispute, error) { return d, nil })
	}
	if err != nil {
		return nil, disputeQueryErr(err)
	}
	return &types.QueryDisputesResponse{Disputes: out, Pagination: page}, nil
}

// pageDisputeIndex pages through a (prefix, dispute id) index, keeping those load
// accepts. The dispute the filter loaded is kept for the transform of the same key,
// so each listed dispute is read once.
func pageDisputeIndex[P any](ctx context.Context, idx collections.KeySet[collections.Pair[P, uint64]], prefix P,
	pageReq *query.PageRequest, load func(uint64) (types.Dispute, bool, error),
) ([]types.Dispute, *query.PageResponse, error) {
	var last types.Dispute
	return query.CollectionFilteredPaginate(ctx, idx, pageReq,
		func(key collections.Pair[P, uint64], _ collections.NoValue) (bool, error) {
			d, ok, err := load(key.K2())
			last = d
			return ok, err
		},
		func(key collections.Pair[P, uint64], _ collections.NoValue) (types.Dispute, error) {
			if last.Id == key.K2() {
				return last, nil
			}
			d, _, err := load(key.K2())
			return d, err
		},
		query.WithCollectionPaginationPairPrefix[P, uint64](prefix))
}

// Committee returns a dispute's members in draw order with their vote state.
func (q queryServer) Committee(ctx context.Context, req *types.QueryCommitteeRequest) (*types.QueryCommitteeResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	d, err := q.k.GetDispute(ctx, req.DisputeId)
	if err != nil {
		return nil, disputeQueryErr(err)
	}
	out := &types.QueryCommitteeResponse{CommitEndHeight: d.CommitEndHeight, RevealEndHeight: d.RevealEndHeight}
	for _, m := range d.Committee {
		op, err := q.k.parseAddress("member", m.Operator)
		if err != nil {
			return nil, disputeQueryErr(err)
		}
		st := types.CommitteeMemberState{Member: m}
		rec, err := q.k.Votes.Get(ctx, collections.Join(d.Id, op))
		switch {
		case err == nil:
			st.Committed, st.Revealed = true, rec.Revealed
		case !isNotFound(err):
			return nil, disputeQueryErr(err)
		}
		out.Members = append(out.Members, st)
	}
	return out, nil
}

// Votes returns a dispute's vote records (a committee has at most 64 members).
func (q queryServer) Votes(ctx context.Context, req *types.QueryVotesRequest) (*types.QueryVotesResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	if _, err := q.k.GetDispute(ctx, req.DisputeId); err != nil {
		return nil, disputeQueryErr(err)
	}
	out := &types.QueryVotesResponse{}
	rng := collections.NewPrefixedPairRange[uint64, sdk.AccAddress](req.DisputeId)
	err := q.k.Votes.Walk(ctx, rng, func(_ VoteKey, v types.VoteRecord) (bool, error) {
		out.Votes = append(out.Votes, v)
		return false, nil
	})
	if err != nil {
		return nil, disputeQueryErr(err)
	}
	return out, nil
}

// ProviderSlashes lists a provider's verification slashes in dispute order.
func (q queryServer) ProviderSlashes(ctx context.Context, req *types.QueryProviderSlashesRequest) (*types.QueryProviderSlashesResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	op, err := q.k.parseAddress("operator", req.Operator)
	if err != nil {
		return nil, disputeQueryErr(err)
	}
	out, page, err := query.CollectionPaginate(ctx, q.k.VerificationSlashes, req.Pagination,
		func(_ AddrID, s types.VerificationSlash) (types.VerificationSlash, error) { return s, nil },
		query.WithCollectionPaginationPairPrefix[sdk.AccAddress, uint64](op))
	if err != nil {
		return nil, disputeQueryErr(err)
	}
	return &types.QueryProviderSlashesResponse{Slashes: out, Pagination: page}, nil
}
