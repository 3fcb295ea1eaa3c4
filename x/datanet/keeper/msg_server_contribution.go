package keeper

import (
	"context"
	"errors"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
	sdkerrors "github.com/cosmos/cosmos-sdk/types/errors"

	"github.com/openledger/openledger/x/datanet/types"
)

// SubmitContribution records a contribution and escrows the datanet's deposit.
func (m msgServer) SubmitContribution(ctx context.Context, msg *types.MsgSubmitContribution) (*types.MsgSubmitContributionResponse, error) {
	id, err := m.submitContribution(ctx, msg, true)
	if err != nil {
		return nil, err
	}
	return &types.MsgSubmitContributionResponse{ContributionId: id}, nil
}

// submitContribution validates and records a contribution; with escrow it takes the
// datanet's deposit from the contributor, without it the contribution carries a zero
// deposit (module-originated contributions, see SubmitModuleContribution).
func (k Keeper) submitContribution(ctx context.Context, msg *types.MsgSubmitContribution, escrow bool) (uint64, error) {
	contributor, err := k.parseAddress("contributor", msg.Contributor)
	if err != nil {
		return 0, err
	}
	params, err := k.Params.Get(ctx)
	if err != nil {
		return 0, err
	}
	cid, err := types.NormalizeCID("cid", msg.Cid)
	if err != nil {
		return 0, err
	}
	digest, err := types.NormalizeSHA256("sha256", msg.Sha256)
	if err != nil {
		return 0, err
	}
	if msg.SizeBytes == 0 {
		return 0, types.ErrInvalidSize.Wrap("size_bytes: must be at least 1")
	}
	if msg.SizeBytes > params.MaxContributionBytes {
		return 0, types.ErrInvalidSize.Wrapf("size_bytes: %d exceeds the maximum of %d", msg.SizeBytes, params.MaxContributionBytes)
	}
	if msg.RecordCount == 0 {
		return 0, types.ErrInvalidField.Wrap("record_count: must be at least 1")
	}
	if msg.RecordCount > msg.SizeBytes {
		return 0, types.ErrInvalidField.Wrapf("record_count: %d records cannot fit in %d bytes", msg.RecordCount, msg.SizeBytes)
	}
	if err := types.CheckText("media_type", msg.MediaType, params.MaxTagLength, true); err != nil {
		return 0, err
	}
	d, err := k.GetDatanet(ctx, msg.DatanetId)
	if err != nil {
		return 0, err
	}
	if d.Status == types.DATANET_STATUS_ARCHIVED {
		return 0, types.ErrWrongStatus.Wrapf("datanet %d is archived and takes no contributions", d.Id)
	}
	if existing, err := k.ContentIndex.Get(ctx, collections.Join(d.Id, digest)); err == nil {
		return 0, types.ErrDuplicateContent.Wrapf("sha256 %s is contribution %d", digest, existing)
	} else if !isNotFound(err) {
		return 0, err
	}

	deposit := d.ContributionDeposit
	if !escrow {
		deposit = sdk.NewCoin(deposit.Denom, sdkmath.ZeroInt())
	}
	if deposit.IsPositive() {
		if err := k.bank.SendCoinsFromAccountToModule(ctx, contributor, types.ModuleName, sdk.NewCoins(deposit)); err != nil {
			if errors.Is(err, sdkerrors.ErrInsufficientFunds) {
				return 0, types.ErrInsufficientFunds.Wrapf("deposit %s: spendable balance is %s", deposit, k.bank.SpendableCoins(ctx, contributor))
			}
			return 0, err
		}
	}

	id, err := k.ContributionSeq.Next(ctx)
	if err != nil {
		return 0, err
	}
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	deadline := sdkCtx.BlockHeight() + int64(d.Curation.ReviewWindowBlocks)
	c := types.Contribution{
		Id:              id,
		DatanetId:       d.Id,
		Contributor:     msg.Contributor,
		Cid:             cid,
		Sha256:          digest,
		SizeBytes:       msg.SizeBytes,
		RecordCount:     msg.RecordCount,
		MediaType:       msg.MediaType,
		Status:          types.CONTRIBUTION_STATUS_PENDING,
		Deposit:         deposit,
		SubmittedHeight: sdkCtx.BlockHeight(),
		ReviewDeadline:  deadline,
	}
	if err := k.Contributions.Set(ctx, id, c); err != nil {
		return 0, err
	}
	if err := k.ExpiryQueue.Set(ctx, collections.Join(deadline, id)); err != nil {
		return 0, err
	}
	if err := k.ContentIndex.Set(ctx, collections.Join(d.Id, digest), id); err != nil {
		return 0, err
	}
	d.Stats.PendingContributions++
	if err := k.Datanets.Set(ctx, d.Id, d); err != nil {
		return 0, err
	}
	if err := sdkCtx.EventManager().EmitTypedEvent(&types.EventContributionSubmitted{
		ContributionId: id, DatanetId: d.Id, Contributor: msg.Contributor, Cid: cid,
		SizeBytes: msg.SizeBytes, Deposit: deposit.String(), ReviewDeadline: deadline,
	}); err != nil {
		return 0, err
	}
	return id, nil
}

// WithdrawContribution withdraws a pending contribution and refunds its deposit.
func (m msgServer) WithdrawContribution(ctx context.Context, msg *types.MsgWithdrawContribution) (*types.MsgWithdrawContributionResponse, error) {
	if _, err := m.parseAddress("contributor", msg.Contributor); err != nil {
		return nil, err
	}
	c, err := m.GetContribution(ctx, msg.ContributionId)
	if err != nil {
		return nil, err
	}
	if c.Contributor != msg.Contributor {
		return nil, types.ErrUnauthorized.Wrapf("contributor: contribution %d belongs to %s", c.Id, c.Contributor)
	}
	if c.Status != types.CONTRIBUTION_STATUS_PENDING {
		return nil, types.ErrWrongStatus.Wrapf("contribution %d is %s; only PENDING contributions can be withdrawn", c.Id, c.Status)
	}
	if err := m.settle(sdk.UnwrapSDKContext(ctx), c, types.CONTRIBUTION_STATUS_WITHDRAWN); err != nil {
		return nil, err
	}
	return &types.MsgWithdrawContributionResponse{}, nil
}

// ReviewContribution records a curator's verdict and decides the contribution once
// approvals or rejections reach the quorum.
func (m msgServer) ReviewContribution(ctx context.Context, msg *types.MsgReviewContribution) (*types.MsgReviewContributionResponse, error) {
	curator, err := m.parseAddress("curator", msg.Curator)
	if err != nil {
		return nil, err
	}
	if msg.Decision != types.REVIEW_DECISION_APPROVE && msg.Decision != types.REVIEW_DECISION_REJECT {
		return nil, types.ErrInvalidDecision.Wrapf("decision: must be APPROVE or REJECT, got %s", msg.Decision)
	}
	params, err := m.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	if err := types.CheckText("reason", msg.Reason, params.MaxDescriptionLength, false); err != nil {
		return nil, err
	}
	c, err := m.GetContribution(ctx, msg.ContributionId)
	if err != nil {
		return nil, err
	}
	if c.Status != types.CONTRIBUTION_STATUS_PENDING {
		return nil, types.ErrWrongStatus.Wrapf("contribution %d is %s; only PENDING contributions can be reviewed", c.Id, c.Status)
	}
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	if sdkCtx.BlockHeight() > c.ReviewDeadline {
		return nil, types.ErrWrongStatus.Wrapf("contribution %d: review window closed at height %d", c.Id, c.ReviewDeadline)
	}
	d, err := m.GetDatanet(ctx, c.DatanetId)
	if err != nil {
		return nil, err
	}
	if !isCurator(d, msg.Curator) {
		return nil, types.ErrNotCurator.Wrapf("curator: %s does not curate datanet %d", msg.Curator, d.Id)
	}
	if msg.Curator == c.Contributor {
		return nil, types.ErrSelfReview.Wrapf("contribution %d", c.Id)
	}
	key := collections.Join(c.Id, curator)
	if has, err := m.Reviews.Has(ctx, key); err != nil {
		return nil, err
	} else if has {
		return nil, types.ErrAlreadyReviewed.Wrapf("contribution %d by %s", c.Id, msg.Curator)
	}
	if err := m.Reviews.Set(ctx, key, types.Review{
		ContributionId: c.Id, Curator: msg.Curator, Decision: msg.Decision, Reason: msg.Reason, Height: sdkCtx.BlockHeight(),
	}); err != nil {
		return nil, err
	}
	if msg.Decision == types.REVIEW_DECISION_APPROVE {
		c.Approvals++
	} else {
		c.Rejections++
	}
	if err := sdkCtx.EventManager().EmitTypedEvent(&types.EventContributionReviewed{
		ContributionId: c.Id, Curator: msg.Curator, Decision: msg.Decision, Approvals: c.Approvals, Rejections: c.Rejections,
	}); err != nil {
		return nil, err
	}
	// A review decides only on its own side: after an owner lowers the quorum, a
	// rejection must never accept a contribution (nor an approval reject one).
	switch quorum := d.Curation.ApprovalQuorum; {
	case msg.Decision == types.REVIEW_DECISION_APPROVE && c.Approvals >= quorum:
		err = m.settle(sdkCtx, c, types.CONTRIBUTION_STATUS_ACCEPTED)
	case msg.Decision == types.REVIEW_DECISION_REJECT && c.Rejections >= quorum:
		err = m.settle(sdkCtx, c, types.CONTRIBUTION_STATUS_REJECTED)
	default:
		err = m.Contributions.Set(ctx, c.Id, c)
	}
	if err != nil {
		return nil, err
	}
	final, err := m.GetContribution(ctx, c.Id)
	if err != nil {
		return nil, err
	}
	return &types.MsgReviewContributionResponse{Status: final.Status}, nil
}
