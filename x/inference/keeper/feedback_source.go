package keeper

import (
	"context"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/inference/types"
	modelstypes "github.com/openledger/openledger/x/models/types"
)

// FeedbackSource is x/models' reader of rated inferences (modelstypes.InferenceSource):
// it reports a job's or a session settlement's requester, deployment, payment and
// height in plain values, so that x/models needs no import of this keeper.
type FeedbackSource struct {
	k Keeper
}

var _ modelstypes.InferenceSource = FeedbackSource{}

// NewFeedbackSource returns the reader over k.
func NewFeedbackSource(k Keeper) FeedbackSource { return FeedbackSource{k: k} }

// JobForFeedback reports a job. It counts as paid when its receipt is PENDING (the
// price is escrowed and the challenge window runs) or FINALIZED (paid through
// x/rewards); a job without a receipt, or with a CHALLENGED or VOIDED one, is not.
// The price of a PENDING receipt is what finalisation will charge (jobPayment).
func (s FeedbackSource) JobForFeedback(ctx context.Context, jobID uint64) (modelstypes.FeedbackJob, bool, error) {
	j, err := s.k.Jobs.Get(ctx, jobID)
	if isNotFound(err) {
		return modelstypes.FeedbackJob{}, false, nil
	}
	if err != nil {
		return modelstypes.FeedbackJob{}, false, err
	}
	out := modelstypes.FeedbackJob{
		Requester: j.Requester, DeploymentID: j.DeploymentId, ModelID: j.ModelId, ModelVersion: j.ModelVersion,
		Status: j.Status.String(), Price: sdk.NewInt64Coin(j.Escrow.Denom, 0),
	}
	r, err := s.k.Receipts.Get(ctx, jobID)
	if isNotFound(err) {
		return out, true, nil
	}
	if err != nil {
		return modelstypes.FeedbackJob{}, false, err
	}
	out.Price, out.ReceiptHeight = r.Price, r.SubmittedHeight
	if r.Status == types.SETTLEMENT_STATUS_PENDING { // the price is fixed at finalisation; this is what it will charge
		compute, royalty := jobPayment(j, r.PromptTokens+r.CompletionTokens)
		out.Price = sdk.NewCoin(j.Escrow.Denom, compute.Add(royalty))
	}
	out.Paid = paidForFeedback(r.Status)
	if !out.Paid {
		out.Status = "receipt " + r.Status.String()
	}
	return out, true, nil
}

// SettlementForFeedback reports a session settlement with its session's requester
// and deployment. It counts as paid when PENDING or FINALIZED.
func (s FeedbackSource) SettlementForFeedback(ctx context.Context, settlementID uint64) (modelstypes.FeedbackSettlement, bool, error) {
	st, err := s.k.Settlements.Get(ctx, settlementID)
	if isNotFound(err) {
		return modelstypes.FeedbackSettlement{}, false, nil
	}
	if err != nil {
		return modelstypes.FeedbackSettlement{}, false, err
	}
	sess, err := s.k.GetSession(ctx, st.SessionId)
	if err != nil {
		return modelstypes.FeedbackSettlement{}, false, err
	}
	return modelstypes.FeedbackSettlement{
		SessionID: st.SessionId, Requester: sess.Requester, DeploymentID: sess.DeploymentId,
		Status:       st.Status.String(),
		Paid:         paidForFeedback(st.Status),
		ReceiptsRoot: append([]byte(nil), st.ReceiptsRoot...), FirstRequest: st.FirstRequest, Requests: st.Requests,
		Amount: st.Amount, SubmittedHeight: st.SubmittedHeight,
	}, true, nil
}

// paidForFeedback: a receipt or settlement counts as paid for feedback while PENDING
// (the price is held and its challenge window runs) or once FINALIZED; CHALLENGED and
// VOIDED ones do not.
func paidForFeedback(s types.SettlementStatus) bool {
	return s == types.SETTLEMENT_STATUS_PENDING || s == types.SETTLEMENT_STATUS_FINALIZED
}
