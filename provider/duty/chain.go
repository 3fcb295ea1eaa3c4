package duty

import (
	"context"
	"fmt"

	"github.com/cosmos/cosmos-sdk/types/query"

	"github.com/openledger/openledger/provider/chainclient"
	"github.com/openledger/openledger/x/inference/types"
)

// maxDisputePages bounds one poll's listing (100 disputes a page).
const maxDisputePages = 10

// ClientChain is Chain over the provider's chain client.
type ClientChain struct {
	*chainclient.Client
}

var _ Chain = ClientChain{}

// MemberDisputes implements Chain.
func (c ClientChain) MemberDisputes(ctx context.Context, member string) ([]types.Dispute, error) {
	var out []types.Dispute
	var key []byte
	for page := 0; page < maxDisputePages; page++ {
		res, err := c.Inference().Disputes(ctx, &types.QueryDisputesRequest{
			Status: types.DISPUTE_STATUS_VOTING, Member: member, Pagination: &query.PageRequest{Key: key, Limit: 100},
		})
		if err != nil {
			return nil, err
		}
		out = append(out, res.Disputes...)
		if res.Pagination == nil || len(res.Pagination.NextKey) == 0 {
			return out, nil
		}
		key = res.Pagination.NextKey
	}
	return out, nil
}

// Dispute implements Chain.
func (c ClientChain) Dispute(ctx context.Context, id uint64) (types.Dispute, error) {
	res, err := c.Inference().Dispute(ctx, &types.QueryDisputeRequest{DisputeId: id})
	if err != nil {
		return types.Dispute{}, err
	}
	return res.Dispute, nil
}

// MemberState implements Chain.
func (c ClientChain) MemberState(ctx context.Context, disputeID uint64, member string) (bool, bool, error) {
	res, err := c.Inference().Committee(ctx, &types.QueryCommitteeRequest{DisputeId: disputeID})
	if err != nil {
		return false, false, err
	}
	for _, m := range res.Members {
		if m.Member.Operator == member {
			return m.Committed, m.Revealed, nil
		}
	}
	return false, false, fmt.Errorf("%s is not on dispute %d's committee", member, disputeID)
}

// Height implements Chain.
func (c ClientChain) Height(ctx context.Context) (int64, error) { return c.LatestHeight(ctx) }
