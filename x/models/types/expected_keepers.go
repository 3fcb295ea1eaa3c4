package types

import (
	"context"

	sdk "github.com/cosmos/cosmos-sdk/types"

	datanettypes "github.com/openledger/openledger/x/datanet/types"
)

// DatanetKeeper is the part of x/datanet the models module uses: a dataset version
// exists only once frozen, so existence is the check; feedback datanets are created
// and fed through x/datanet's own paths.
type DatanetKeeper interface {
	GetDatasetVersion(ctx context.Context, datanetID, version uint64) (datanettypes.DatasetVersion, error)
	// CreateModuleDatanet creates a datanet with MsgCreateDatanet's rules.
	CreateModuleDatanet(ctx context.Context, msg *datanettypes.MsgCreateDatanet) (uint64, error)
	// SubmitModuleContribution records a contribution with MsgSubmitContribution's
	// rules, without a deposit.
	SubmitModuleContribution(ctx context.Context, msg *datanettypes.MsgSubmitContribution) (uint64, error)
}

// FeedbackJob is what feedback needs of an x/inference job.
type FeedbackJob struct {
	Requester    string
	DeploymentID uint64
	ModelID      uint64
	ModelVersion uint64
	// Status is the job's status name (for error messages).
	Status string
	// Paid: the job has a receipt that is PENDING (inside its challenge window, with
	// the price escrowed) or FINALIZED (paid).
	Paid bool
	// Price charged by the receipt (zero coin without a receipt).
	Price sdk.Coin
	// ReceiptHeight is the height of the receipt (0 without one).
	ReceiptHeight int64
}

// FeedbackSettlement is what feedback needs of an x/inference session settlement
// and its session.
type FeedbackSettlement struct {
	SessionID    uint64
	Requester    string
	DeploymentID uint64
	// Status is the settlement's status name (for error messages).
	Status string
	// Paid: the settlement is PENDING or FINALIZED.
	Paid bool
	// ReceiptsRoot commits the session's receipts 1..FirstRequest+Requests-1.
	ReceiptsRoot []byte
	// FirstRequest is the first request of the settlement's increment (1-based; 0
	// when the increment holds no request).
	FirstRequest uint64
	// Requests counts the increment's requests.
	Requests uint64
	// Amount paid by the increment (compute + royalty).
	Amount sdk.Coin
	// SubmittedHeight of the settlement.
	SubmittedHeight int64
}

// InferenceSource is the part of x/inference feedback reads. x/inference implements
// it (keeper/feedback_source.go); the app wires it after both keepers exist. Each
// method reports found = false for an unknown id.
type InferenceSource interface {
	JobForFeedback(ctx context.Context, jobID uint64) (FeedbackJob, bool, error)
	SettlementForFeedback(ctx context.Context, settlementID uint64) (FeedbackSettlement, bool, error)
}
