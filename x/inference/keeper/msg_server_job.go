package keeper

import (
	"context"
	"math"
	"slices"

	"cosmossdk.io/collections"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/inference/types"
	"github.com/openledger/openledger/x/internal/fields"
)

// CreateJob posts a job on an ACTIVE deployment, escrows its maximum cost (see
// jobEscrow) and opens its first auction.
func (m msgServer) CreateJob(ctx context.Context, msg *types.MsgCreateJob) (*types.MsgCreateJobResponse, error) {
	k := m.k
	requester, err := k.parseAddress("requester", msg.Requester)
	if err != nil {
		return nil, err
	}
	params, err := k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	dep, err := k.models.GetActiveDeployment(ctx, msg.DeploymentId)
	if err != nil {
		return nil, types.ErrDeploymentMismatch.Wrapf("deployment %d: %v", msg.DeploymentId, err)
	}
	royalty := dep.RoyaltyPerThousandTokens
	inputCID, err := fields.NormalizeCID(types.ErrInvalidField, "input_cid", msg.InputCid)
	if err != nil {
		return nil, err
	}
	inputSHA, err := fields.NormalizeSHA256(types.ErrInvalidField, "input_sha256", msg.InputSha256)
	if err != nil {
		return nil, err
	}
	if err := inRangeU64("max_tokens", msg.MaxTokens, 1, params.MaxJobTokens); err != nil {
		return nil, err
	}
	maxPrice := msg.MaxComputePricePerThousandTokens
	if err := checkMarketPrice("max_compute_price_per_thousand_tokens", maxPrice, royalty.Denom); err != nil {
		return nil, err
	}
	if err := inRangeU64("bid_window_blocks", msg.BidWindowBlocks, params.MinBidWindowBlocks, params.MaxBidWindowBlocks); err != nil {
		return nil, err
	}
	if err := inRangeU64("execution_blocks", msg.ExecutionBlocks, params.MinExecutionBlocks, params.MaxExecutionBlocks); err != nil {
		return nil, err
	}
	if err := checkGenerationParams(msg.Params); err != nil {
		return nil, err
	}
	escrow := sdk.NewCoin(royalty.Denom, jobEscrow(msg.MaxTokens, maxPrice.Amount, royalty.Amount))
	if !escrow.IsPositive() {
		return nil, types.ErrInvalidAmount.Wrap("escrow: a job with a zero price and a zero royalty costs nothing; nothing to escrow")
	}
	if err := k.bank.SendCoinsFromAccountToModule(ctx, requester, types.ModuleName, sdk.NewCoins(escrow)); err != nil {
		return nil, err
	}
	id, err := k.JobSeq.Next(ctx)
	if err != nil {
		return nil, err
	}
	h := height(ctx)
	j := types.Job{
		Id: id, Requester: k.addrString(requester), DeploymentId: msg.DeploymentId,
		ModelId: dep.Deployment.ModelId, ModelVersion: dep.Deployment.Version,
		InputCid: inputCID, InputSha256: inputSHA, MaxTokens: msg.MaxTokens,
		MaxComputePricePerThousandTokens: maxPrice, RoyaltyPerThousandTokens: royalty,
		BidWindowBlocks: msg.BidWindowBlocks, ExecutionBlocks: msg.ExecutionBlocks,
		Params: msg.Params, Escrow: escrow, Status: types.JOB_STATUS_OPEN,
		CreatedHeight: h, BidCloseHeight: h + int64(msg.BidWindowBlocks), Auctions: 1,
		WinningPrice: marketZero(royalty.Denom), Paid: marketZero(royalty.Denom), Refunded: marketZero(royalty.Denom),
	}
	if err := k.setJob(ctx, nil, j); err != nil {
		return nil, err
	}
	if err := k.BidCloseQueue.Set(ctx, collections.Join(j.BidCloseHeight, id)); err != nil {
		return nil, err
	}
	return &types.MsgCreateJobResponse{JobId: id, Escrow: escrow}, marketEmit(ctx, &types.EventJobCreated{
		JobId: id, Requester: j.Requester, DeploymentId: j.DeploymentId, MaxTokens: j.MaxTokens,
		MaxComputePricePerThousandTokens: maxPrice, BidCloseHeight: j.BidCloseHeight, Escrow: escrow,
	})
}

// CancelJob withdraws an OPEN job (requester only) and refunds its escrow.
func (m msgServer) CancelJob(ctx context.Context, msg *types.MsgCancelJob) (*types.MsgCancelJobResponse, error) {
	k := m.k
	requester, err := k.parseAddress("requester", msg.Requester)
	if err != nil {
		return nil, err
	}
	j, err := k.GetJob(ctx, msg.JobId)
	if err != nil {
		return nil, err
	}
	if j.Requester != k.addrString(requester) {
		return nil, types.ErrUnauthorized.Wrapf("job %d belongs to %s", j.Id, j.Requester)
	}
	if j.Status != types.JOB_STATUS_OPEN {
		return nil, types.ErrWrongJobStatus.Wrapf("job %d is %s; only an OPEN job can be cancelled", j.Id, j.Status)
	}
	if err := k.BidCloseQueue.Remove(ctx, collections.Join(j.BidCloseHeight, j.Id)); err != nil {
		return nil, err
	}
	refunded, err := k.refundJob(ctx, j, types.JOB_STATUS_CANCELLED)
	if err != nil {
		return nil, err
	}
	return &types.MsgCancelJobResponse{Refunded: refunded}, nil
}

// Bid places an ACTIVE provider's bid on an OPEN job during its bid window.
func (m msgServer) Bid(ctx context.Context, msg *types.MsgBid) (*types.MsgBidResponse, error) {
	k := m.k
	op, err := k.parseAddress("provider", msg.Provider)
	if err != nil {
		return nil, err
	}
	j, err := k.GetJob(ctx, msg.JobId)
	if err != nil {
		return nil, err
	}
	p, err := k.GetProvider(ctx, op)
	if err != nil {
		return nil, err
	}
	if p.Status != types.PROVIDER_STATUS_ACTIVE {
		return nil, types.ErrProviderNotActive.Wrapf("provider is %s", p.Status)
	}
	if j.Status != types.JOB_STATUS_OPEN {
		return nil, types.ErrWrongJobStatus.Wrapf("job %d is %s", j.Id, j.Status)
	}
	if h := height(ctx); h > j.BidCloseHeight {
		return nil, types.ErrBidWindowClosed.Wrapf("job %d: bids closed at height %d, now %d", j.Id, j.BidCloseHeight, h)
	}
	if p.Operator == j.Requester {
		return nil, types.ErrSelfDealing.Wrapf("job %d", j.Id)
	}
	if slices.Contains(j.Excluded, p.Operator) {
		return nil, types.ErrExcludedProvider.Wrapf("job %d", j.Id)
	}
	if _, err := k.GetOffer(ctx, op, j.DeploymentId); err != nil {
		return nil, err
	}
	if err := checkMarketPrice("price", msg.Price, j.MaxComputePricePerThousandTokens.Denom); err != nil {
		return nil, err
	}
	if msg.Price.Amount.GT(j.MaxComputePricePerThousandTokens.Amount) {
		return nil, types.ErrBidTooHigh.Wrapf("bid %s above the max %s", msg.Price, j.MaxComputePricePerThousandTokens)
	}
	key := collections.Join(j.Id, op)
	if has, err := k.Bids.Has(ctx, key); err != nil {
		return nil, err
	} else if has {
		return nil, types.ErrDuplicateBid.Wrapf("job %d", j.Id)
	}
	params, err := k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	if j.BidCount >= params.MaxBidsPerJob {
		return nil, types.ErrTooManyBids.Wrapf("job %d has %d bids", j.Id, j.BidCount)
	}
	seq, err := k.BidSeq.Next(ctx)
	if err != nil {
		return nil, err
	}
	if err := k.Bids.Set(ctx, key, types.Bid{JobId: j.Id, Provider: p.Operator, Price: msg.Price, Height: height(ctx), Sequence: seq}); err != nil {
		return nil, err
	}
	j.BidCount++
	if err := k.Jobs.Set(ctx, j.Id, j); err != nil { // no indexed field changed
		return nil, err
	}
	return &types.MsgBidResponse{}, marketEmit(ctx, &types.EventBidPlaced{JobId: j.Id, Provider: p.Operator, Price: msg.Price})
}

// SubmitReceipt accepts the winner's signed receipt before the deadline; the job is
// PENDING until its challenge window ends, then JobFinalizeQueue pays it.
func (m msgServer) SubmitReceipt(ctx context.Context, msg *types.MsgSubmitReceipt) (*types.MsgSubmitReceiptResponse, error) {
	k := m.k
	op, err := k.parseAddress("provider", msg.Provider)
	if err != nil {
		return nil, err
	}
	j, err := k.GetJob(ctx, msg.JobId)
	if err != nil {
		return nil, err
	}
	if j.Status != types.JOB_STATUS_AWARDED {
		if has, err := k.Receipts.Has(ctx, j.Id); err != nil {
			return nil, err
		} else if has {
			return nil, types.ErrReceiptExists.Wrapf("job %d", j.Id)
		}
		return nil, types.ErrWrongJobStatus.Wrapf("job %d is %s", j.Id, j.Status)
	}
	operator := k.addrString(op)
	if operator != j.Winner {
		return nil, types.ErrNotWinner.Wrapf("job %d was awarded to %s", j.Id, j.Winner)
	}
	h := height(ctx)
	if h > j.DeadlineHeight {
		return nil, types.ErrDeadlinePassed.Wrapf("job %d: deadline %d, now %d", j.Id, j.DeadlineHeight, h)
	}
	if msg.PromptTokens > math.MaxUint64-msg.CompletionTokens {
		return nil, types.ErrTooManyTokens.Wrap("prompt + completion tokens overflow")
	}
	tokens := msg.PromptTokens + msg.CompletionTokens
	if tokens == 0 {
		return nil, types.ErrInvalidField.Wrap("tokens: prompt + completion must be positive")
	}
	if tokens > j.MaxTokens {
		return nil, types.ErrTooManyTokens.Wrapf("%d tokens, job max %d", tokens, j.MaxTokens)
	}
	outputCID, err := fields.NormalizeCID(types.ErrInvalidField, "output_cid", msg.OutputCid)
	if err != nil {
		return nil, err
	}
	outputSHA, err := fields.NormalizeSHA256(types.ErrInvalidField, "output_sha256", msg.OutputSha256)
	if err != nil {
		return nil, err
	}
	p, err := k.GetProvider(ctx, op)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(p.Engines, msg.EngineName) {
		return nil, types.ErrEngineNotSupported.Wrapf("engine %q not in %v", msg.EngineName, p.Engines)
	}
	if err := fields.CheckToken(types.ErrInvalidField, "engine_version", msg.EngineVersion, types.MaxNameLength); err != nil {
		return nil, err
	}
	recordCID, err := fields.NormalizeCID(types.ErrInvalidField, "record_cid", msg.RecordCid)
	if err != nil {
		return nil, err
	}
	summary := msg.Summary
	if summary.RecordSha256, err = fields.NormalizeSHA256(types.ErrInvalidSummary, "summary.record_sha256", summary.RecordSha256); err != nil {
		return nil, err
	}
	if err := k.rewards.ValidateSettlement(ctx, j.DeploymentId, summary); err != nil {
		return nil, withCause(types.ErrInvalidSummary, err)
	}
	if len(msg.Signature) == 0 || len(msg.Signature) > types.MaxReceiptSignatureSize {
		return nil, types.ErrBadSignature.Wrapf("signature: %d bytes", len(msg.Signature))
	}
	params, err := k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	r := types.Receipt{
		JobId: j.Id, Provider: operator, OutputCid: outputCID, OutputSha256: outputSHA,
		PromptTokens: msg.PromptTokens, CompletionTokens: msg.CompletionTokens,
		EngineName: msg.EngineName, EngineVersion: msg.EngineVersion,
		ModelId: j.ModelId, ModelVersion: j.ModelVersion, RecordCid: recordCID, Summary: summary,
		Signature: msg.Signature, SubmittedHeight: h, ChallengeEndHeight: h + int64(params.ChallengeWindowBlocks),
		Status: types.SETTLEMENT_STATUS_PENDING, Price: marketZero(j.Escrow.Denom),
	}
	canonical, err := CanonicalJobReceipt(sdk.UnwrapSDKContext(ctx).ChainID(), r)
	if err != nil {
		return nil, err
	}
	if err := canonical.Validate(); err != nil {
		return nil, withCause(types.ErrInvalidField, err)
	}
	if err := canonical.VerifyPeer(p.PeerId); err != nil {
		return nil, withCause(types.ErrBadSignature, err)
	}
	if err := k.Receipts.Set(ctx, j.Id, r); err != nil {
		return nil, err
	}
	if err := k.DeadlineQueue.Remove(ctx, collections.Join(j.DeadlineHeight, j.Id)); err != nil {
		return nil, err
	}
	if err := k.JobFinalizeQueue.Set(ctx, collections.Join(r.ChallengeEndHeight, j.Id)); err != nil {
		return nil, err
	}
	old := j
	j.Status = types.JOB_STATUS_PENDING
	if err := k.setJob(ctx, &old, j); err != nil {
		return nil, err
	}
	return &types.MsgSubmitReceiptResponse{ChallengeEndHeight: r.ChallengeEndHeight}, marketEmit(ctx, &types.EventReceiptSubmitted{
		JobId: j.Id, Provider: operator, OutputCid: outputCID, Tokens: tokens, ChallengeEndHeight: r.ChallengeEndHeight,
	})
}
