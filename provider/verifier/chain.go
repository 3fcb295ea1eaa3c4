package verifier

import (
	"context"
	"errors"
	"fmt"

	cmtservice "github.com/cosmos/cosmos-sdk/client/grpc/cmtservice"
	"github.com/cosmos/cosmos-sdk/types/query"

	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// Chain reads what the verifier checks from x/inference: a job and its
// receipt; a session settlement, its session, the provider's registration
// (its peer id signs the receipts) and the chain id the receipts name.
type Chain interface {
	Job(ctx context.Context, id uint64) (inferencetypes.Job, error)
	Receipt(ctx context.Context, jobID uint64) (inferencetypes.Receipt, error)
	Settlement(ctx context.Context, id uint64) (inferencetypes.SessionSettlement, error)
	Session(ctx context.Context, id uint64) (inferencetypes.Session, error)
	Provider(ctx context.Context, operator string) (inferencetypes.Provider, error)
	ChainID(ctx context.Context) (string, error)
}

// Bounds of ChainQueries.Settlement's scan.
const (
	scanPageSize      = 100
	maxSessionPages   = 20 // 2,000 sessions
	maxSettlementPage = 10 // 1,000 settlements of one session
)

// ChainQueries adapts the x/inference query client to Chain.
type ChainQueries struct {
	Query inferencetypes.QueryClient
	// Node answers ChainID (the node's network) when Network is empty.
	Node cmtservice.ServiceClient
	// Network is the chain id, when known.
	Network string
	// SessionHint, when set, is the session whose settlements are searched
	// first (`verify settlement --session`).
	SessionHint uint64
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

// Provider implements Chain.
func (c ChainQueries) Provider(ctx context.Context, operator string) (inferencetypes.Provider, error) {
	res, err := c.Query.Provider(ctx, &inferencetypes.QueryProviderRequest{Operator: operator})
	if err != nil {
		return inferencetypes.Provider{}, err
	}
	return res.Provider, nil
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

// Settlement implements Chain. x/inference has no query of a settlement by
// id, so it is searched: in SessionHint's settlements first, then in the
// sessions of the provider a dispute of the settlement names (or, without a
// dispute, in every session), newest first, at most 2,000 sessions.
func (c ChainQueries) Settlement(ctx context.Context, id uint64) (inferencetypes.SessionSettlement, error) {
	if c.SessionHint != 0 {
		st, ok, err := c.inSession(ctx, c.SessionHint, id)
		if err != nil || ok {
			return st, err
		}
	}
	req := &inferencetypes.QuerySessionsRequest{}
	if d, err := c.Query.DisputeByTarget(ctx, &inferencetypes.QueryDisputeByTargetRequest{
		TargetKind: inferencetypes.TARGET_KIND_SESSION_SETTLEMENT, TargetId: id,
	}); err == nil {
		req.Provider = d.Dispute.Provider
	}
	var key []byte
	for page := 0; page < maxSessionPages; page++ {
		req.Pagination = &query.PageRequest{Key: key, Limit: scanPageSize, Reverse: true}
		res, err := c.Query.Sessions(ctx, req)
		if err != nil {
			return inferencetypes.SessionSettlement{}, err
		}
		for _, s := range res.Sessions {
			if s.Settlements == 0 || s.Id == c.SessionHint {
				continue
			}
			st, ok, err := c.inSession(ctx, s.Id, id)
			if err != nil || ok {
				return st, err
			}
		}
		if res.Pagination == nil || len(res.Pagination.NextKey) == 0 {
			return inferencetypes.SessionSettlement{}, fmt.Errorf("settlement %d: not found", id)
		}
		key = res.Pagination.NextKey
	}
	return inferencetypes.SessionSettlement{}, fmt.Errorf("settlement %d: not found in the %d newest sessions (name its session with --session)",
		id, maxSessionPages*scanPageSize)
}

// inSession looks settlement id up among a session's settlements.
func (c ChainQueries) inSession(ctx context.Context, session, id uint64) (inferencetypes.SessionSettlement, bool, error) {
	var key []byte
	for page := 0; page < maxSettlementPage; page++ {
		res, err := c.Query.SessionSettlements(ctx, &inferencetypes.QuerySessionSettlementsRequest{
			SessionId: session, Pagination: &query.PageRequest{Key: key, Limit: scanPageSize},
		})
		if err != nil {
			return inferencetypes.SessionSettlement{}, false, fmt.Errorf("session %d's settlements: %w", session, err)
		}
		for _, st := range res.Settlements {
			if st.Id == id {
				return st, true, nil
			}
		}
		if res.Pagination == nil || len(res.Pagination.NextKey) == 0 {
			break
		}
		key = res.Pagination.NextKey
	}
	return inferencetypes.SessionSettlement{}, false, nil
}
