package receipts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cmtservice "github.com/cosmos/cosmos-sdk/client/grpc/cmtservice"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/provider/chainclient"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// Chain is what settlement needs of the chain. *chainclient.Client satisfies it
// through NewChain.
type Chain interface {
	// Address is the operator (the signer of receipts' txs).
	Address() string
	LatestHeight(ctx context.Context) (int64, error)
	// Job returns the chain's job.
	Job(ctx context.Context, id uint64) (inferencetypes.Job, error)
	// Receipt returns the chain's receipt of a job, or ok=false when it has none.
	Receipt(ctx context.Context, jobID uint64) (r inferencetypes.Receipt, ok bool, err error)
	// BlockTime estimates the time between blocks.
	BlockTime(ctx context.Context) (time.Duration, error)
	Submit(ctx context.Context, note string, msgs ...sdk.Msg) (chainclient.Submitted, error)
	WaitTx(ctx context.Context, hash string) (*sdk.TxResponse, error)
	Resume(ctx context.Context, hash string, body []byte) (*sdk.TxResponse, error)
}

// NewChain adapts a chain client.
func NewChain(c *chainclient.Client) Chain { return clientChain{c} }

type clientChain struct{ *chainclient.Client }

func (c clientChain) Job(ctx context.Context, id uint64) (inferencetypes.Job, error) {
	res, err := c.Inference().Job(ctx, &inferencetypes.QueryJobRequest{JobId: id})
	if err != nil {
		return inferencetypes.Job{}, fmt.Errorf("query job %d: %w", id, err)
	}
	return res.Job, nil
}

func (c clientChain) Receipt(ctx context.Context, id uint64) (inferencetypes.Receipt, bool, error) {
	res, err := c.Inference().Receipt(ctx, &inferencetypes.QueryReceiptRequest{JobId: id})
	if status.Code(err) == codes.NotFound {
		return inferencetypes.Receipt{}, false, nil
	}
	if err != nil {
		return inferencetypes.Receipt{}, false, fmt.Errorf("query receipt of job %d: %w", id, err)
	}
	return res.Receipt, true, nil
}

// blockTimeSpan is the number of blocks BlockTime averages over.
const blockTimeSpan = 20

func (c clientChain) BlockTime(ctx context.Context) (time.Duration, error) {
	h, err := c.LatestHeight(ctx)
	if err != nil {
		return 0, err
	}
	from := max(h-blockTimeSpan, 1)
	if from >= h {
		return 0, errors.New("block time: too few blocks")
	}
	svc := cmtservice.NewServiceClient(c.Conn())
	at := func(height int64) (time.Time, error) {
		res, err := svc.GetBlockByHeight(ctx, &cmtservice.GetBlockByHeightRequest{Height: height})
		if err != nil {
			return time.Time{}, fmt.Errorf("block %d: %w", height, err)
		}
		if res.SdkBlock != nil {
			return res.SdkBlock.Header.Time, nil
		}
		return res.Block.Header.Time, nil //nolint:staticcheck // older nodes fill only Block
	}
	t1, err := at(from)
	if err != nil {
		return 0, err
	}
	t2, err := at(h)
	if err != nil {
		return 0, err
	}
	return t2.Sub(t1) / time.Duration(h-from), nil
}
