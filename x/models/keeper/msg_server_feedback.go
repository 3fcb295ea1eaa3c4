package keeper

import (
	"context"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/x/models/types"
)

// ratedInference is a paid inference resolved from x/inference.
type ratedInference struct {
	requester    string
	deploymentID uint64
	modelID      uint64
	modelVersion uint64
	paid         bool
	status       string
	// payment is what the inference paid (a session request: its share of the
	// settlement, rounded down).
	payment sdk.Coin
	// height from which the feedback window counts.
	height int64
	// requestSeq and settlementID of a session request.
	requestSeq, settlementID uint64
}

// SubmitFeedback rates a paid inference. Rules, in order: the fields are well formed;
// the inference exists; the signer is its requester; it is paid (a job with a PENDING
// or FINALIZED receipt, a PENDING or FINALIZED session settlement whose receipts root
// includes the request's signed receipt); it paid at least params.min_feedback_payment;
// the window (params.feedback_window_blocks from the receipt or settlement) is open;
// and it has no feedback yet. A feedback with a record also becomes a deposit-free
// contribution of the rater to the deployment's feedback datanet (created on the
// first record).
func (m msgServer) SubmitFeedback(ctx context.Context, msg *types.MsgSubmitFeedback) (*types.MsgSubmitFeedbackResponse, error) {
	if _, err := m.parseAddress("rater", msg.Rater); err != nil {
		return nil, err
	}
	fields, err := msg.CheckFields()
	if err != nil {
		return nil, err
	}
	params, err := m.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	src := m.inference.src
	if src == nil {
		return nil, types.ErrFeedbackUnavailable.Wrap("no x/inference reader is wired")
	}
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	var inf ratedInference
	if fields.Kind == types.INFERENCE_KIND_JOB {
		inf, err = jobInference(ctx, src, msg.JobId)
	} else {
		inf, err = sessionInference(ctx, src, msg, fields.Proof, sdkCtx.ChainID())
	}
	if err != nil {
		return nil, err
	}
	if inf.requester != msg.Rater {
		return nil, types.ErrNotRequester.Wrapf("rater: %s did not request this inference", msg.Rater)
	}
	if !inf.paid {
		return nil, types.ErrInferenceNotPaid.Wrapf("the inference is %s", inf.status)
	}
	minPay := params.MinFeedbackPayment
	if minPay.IsPositive() && (inf.payment.Denom != minPay.Denom || inf.payment.Amount.IsNil() || inf.payment.Amount.LT(minPay.Amount)) {
		return nil, types.ErrPaymentTooSmall.Wrapf("paid %s, feedback needs at least %s", inf.payment, minPay)
	}
	if last := inf.height + int64(params.FeedbackWindowBlocks); sdkCtx.BlockHeight() > last {
		return nil, types.ErrFeedbackWindowClosed.Wrapf("the window closed at height %d", last)
	}
	fb := types.Feedback{
		Rater: msg.Rater, Kind: fields.Kind, DeploymentId: inf.deploymentID,
		ModelId: inf.modelID, ModelVersion: inf.modelVersion, Rating: msg.Rating,
		RecordCid: fields.RecordCID, RecordSha256: fields.RecordSHA256, RecordSize: msg.RecordSize,
		PreferredCompletionCid: fields.PreferredCompletionCID, ChosenCid: fields.ChosenCID, RejectedCid: fields.RejectedCID,
		SubmittedHeight: sdkCtx.BlockHeight(),
	}
	if fields.Kind == types.INFERENCE_KIND_JOB {
		fb.JobId = msg.JobId
	} else {
		fb.SessionId, fb.RequestSeq, fb.SettlementId = msg.SessionId, inf.requestSeq, inf.settlementID
	}
	kind, id, seq := fb.InferenceKey()
	key := collections.Join3(kind, id, seq)
	if existing, err := m.FeedbackByInference.Get(ctx, key); err == nil {
		return nil, types.ErrFeedbackExists.Wrapf("feedback %d", existing)
	} else if !isNotFound(err) {
		return nil, err
	}
	d, err := m.GetDeployment(ctx, inf.deploymentID)
	if err != nil {
		return nil, err
	}
	if fb.RecordCid != "" {
		if fb.DatanetId, err = m.feedbackDatanet(sdkCtx, &d, params); err != nil {
			return nil, err
		}
		if fb.ContributionId, err = m.contributeFeedback(ctx, fb); err != nil {
			return nil, err
		}
	}
	if fb.Id, err = m.nextFeedbackID(ctx); err != nil {
		return nil, err
	}
	if err := m.storeFeedback(ctx, fb); err != nil {
		return nil, err
	}
	if err := sdkCtx.EventManager().EmitTypedEvent(&types.EventFeedbackSubmitted{
		FeedbackId: fb.Id, Rater: fb.Rater, DeploymentId: fb.DeploymentId, Kind: fb.Kind,
		JobId: fb.JobId, SessionId: fb.SessionId, RequestSeq: fb.RequestSeq, Rating: fb.Rating,
		ContributionId: fb.ContributionId,
	}); err != nil {
		return nil, err
	}
	return &types.MsgSubmitFeedbackResponse{FeedbackId: fb.Id, DatanetId: fb.DatanetId, ContributionId: fb.ContributionId}, nil
}

// nextFeedbackID draws a feedback id; ids start at 1 even on a chain whose sequence
// was never initialised by genesis (an upgrade from before feedback).
func (k Keeper) nextFeedbackID(ctx context.Context) (uint64, error) {
	id, err := k.FeedbackSeq.Next(ctx)
	if err != nil || id != 0 {
		return id, err
	}
	return k.FeedbackSeq.Next(ctx)
}

// storeFeedback writes a feedback, its once-per-inference and deployment index
// entries, and counts it.
func (k Keeper) storeFeedback(ctx context.Context, fb types.Feedback) error {
	kind, id, seq := fb.InferenceKey()
	if err := k.Feedbacks.Set(ctx, fb.Id, fb); err != nil {
		return err
	}
	if err := k.FeedbackByInference.Set(ctx, collections.Join3(kind, id, seq), fb.Id); err != nil {
		return err
	}
	if err := k.FeedbackByDeployment.Set(ctx, collections.Join(fb.DeploymentId, fb.Id)); err != nil {
		return err
	}
	counts, err := k.FeedbackCounts.Get(ctx, fb.DeploymentId)
	if err != nil && !isNotFound(err) {
		return err
	}
	counts.Add(fb)
	return k.FeedbackCounts.Set(ctx, fb.DeploymentId, counts)
}

// jobInference resolves a job for feedback.
func jobInference(ctx context.Context, src types.InferenceSource, jobID uint64) (ratedInference, error) {
	j, found, err := src.JobForFeedback(ctx, jobID)
	if err != nil {
		return ratedInference{}, err
	}
	if !found {
		return ratedInference{}, types.ErrInferenceNotFound.Wrapf("job %d", jobID)
	}
	return ratedInference{
		requester: j.Requester, deploymentID: j.DeploymentID, modelID: j.ModelID, modelVersion: j.ModelVersion,
		paid: j.Paid, status: "job " + j.Status, payment: j.Price, height: j.ReceiptHeight,
	}, nil
}

// sessionInference resolves a session request for feedback: the settlement must
// belong to the session, the receipt must be the session's request inside the
// settlement's increment, signed for this chain, and proven under the settlement's
// receipts root (which the requester signed in the voucher and the provider checked
// against its own receipts before settling).
func sessionInference(ctx context.Context, src types.InferenceSource, msg *types.MsgSubmitFeedback, proof [][32]byte, chainID string) (ratedInference, error) {
	st, found, err := src.SettlementForFeedback(ctx, msg.SettlementId)
	if err != nil {
		return ratedInference{}, err
	}
	if !found || st.SessionID != msg.SessionId {
		return ratedInference{}, types.ErrInferenceNotFound.Wrapf("settlement %d of session %d", msg.SettlementId, msg.SessionId)
	}
	r, err := voucher.UnmarshalReceipt(msg.Receipt)
	if err != nil {
		return ratedInference{}, types.ErrInvalidProof.Wrapf("receipt: %v", err)
	}
	switch {
	case r.SessionID != msg.SessionId:
		return ratedInference{}, types.ErrInvalidProof.Wrapf("receipt: session %d, not %d", r.SessionID, msg.SessionId)
	case r.ChainID != chainID:
		return ratedInference{}, types.ErrInvalidProof.Wrapf("receipt: chain %q, not %q", r.ChainID, chainID)
	case st.Requests == 0 || r.RequestSeq < st.FirstRequest || r.RequestSeq-st.FirstRequest >= st.Requests:
		return ratedInference{}, types.ErrInferenceNotFound.Wrapf("request %d is not in settlement %d (requests %d from %d)",
			r.RequestSeq, msg.SettlementId, st.Requests, st.FirstRequest)
	case len(st.ReceiptsRoot) != 32:
		return ratedInference{}, types.ErrInvalidProof.Wrapf("settlement %d has no receipts root", msg.SettlementId)
	}
	var root [32]byte
	copy(root[:], st.ReceiptsRoot)
	n := st.FirstRequest + st.Requests - 1
	if err := voucher.VerifyProof(root, r.LeafHash(), r.RequestSeq-1, n, proof); err != nil {
		return ratedInference{}, types.ErrInvalidProof.Wrapf("receipt of request %d under settlement %d's root: %v", r.RequestSeq, msg.SettlementId, err)
	}
	payment := st.Amount
	payment.Amount = payment.Amount.Quo(sdkmath.NewIntFromUint64(st.Requests))
	return ratedInference{
		requester: st.Requester, deploymentID: st.DeploymentID, modelID: r.ModelID, modelVersion: r.ModelVersion,
		paid: st.Paid, status: "settlement " + st.Status, payment: payment, height: st.SubmittedHeight,
		requestSeq: r.RequestSeq, settlementID: msg.SettlementId,
	}, nil
}
