package verifier

import (
	"context"
	"errors"
	"fmt"

	cmtservice "github.com/cosmos/cosmos-sdk/client/grpc/cmtservice"

	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// Chain reads what the verifier checks from x/inference: a job and its
// receipt; a session settlement, its session and the chain id the receipts
// name.
type Chain interface {
	Job(ctx context.Context, id uint64) (inferencetypes.Job, error)
	Receipt(ctx context.Context, jobID uint64) (inferencetypes.Receipt, error)
	Settlement(ctx context.Context, id uint64) (inferencetypes.SessionSettlement, error)
	Session(ctx context.Context, id uint64) (inferencetypes.Session, error)
	ChainID(ctx context.Context) (string, error)
}

// ChainQueries adapts the x/inference query client to Chain.
type ChainQueries struct {
	Query inferencetypes.QueryClient
	// Node answers ChainID (the node's network) when Network is empty.
	Node cmtservice.ServiceClient
	// Network is the chain id, when known.
	Network string
}

// Job implements Chain.
func (c ChainQueries) Job(ctx context.Context, id uint64) (inferencetypes.Job, error) {
	res, err := c.Query.Job(ctx, &inferencetypes.QueryJobRequest{JobId: id})
	if err != nil {
		return inferencetypes.Job{}, err
	}
	return res.Job, nil
}

// Receipt implements Chain.
func (c ChainQueries) Receipt(ctx context.Context, jobID uint64) (inferencetypes.Receipt, error) {
	res, err := c.Query.Receipt(ctx, &inferencetypes.QueryReceiptRequest{JobId: jobID})
	if err != nil {
		return inferencetypes.Receipt{}, err
	}
	return res.Receipt, nil
}

// Session implements Chain.
func (c ChainQueries) Session(ctx context.Context, id uint64) (inferencetypes.Session, error) {
	res, err := c.Query.Session(ctx, &inferencetypes.QuerySessionRequest{SessionId: id})
	if err != nil {
		return inferencetypes.Session{}, err
	}
	return res.Session, nil
}

// ChainID implements Chain: Network, else the node's.
func (c ChainQueries) ChainID(ctx context.Context) (string, error) {
	if c.Network != "" {
		return c.Network, nil
	}
	if c.Node == nil {
		return "", errors.New("the chain id is unknown (no chain-id configured and no node to ask)")
	}
	res, err := c.Node.GetNodeInfo(ctx, &cmtservice.GetNodeInfoRequest{})
	if err != nil {
		return "", fmt.Errorf("the node's chain id: %w", err)
	}
	if res.DefaultNodeInfo == nil || res.DefaultNodeInfo.Network == "" {
		return "", errors.New("the node did not say its chain id")
	}
	return res.DefaultNodeInfo.Network, nil
}

// Settlement implements Chain.
func (c ChainQueries) Settlement(ctx context.Context, id uint64) (inferencetypes.SessionSettlement, error) {
	res, err := c.Query.Settlement(ctx, &inferencetypes.QuerySettlementRequest{SettlementId: id})
	if err != nil {
		return inferencetypes.SessionSettlement{}, err
	}
	return res.Settlement, nil
}
