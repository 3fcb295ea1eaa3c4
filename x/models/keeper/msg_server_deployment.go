package keeper

import (
	"context"

	"cosmossdk.io/collections"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/models/types"
)

// CreateDeployment deploys a PUBLISHED version of a model the signer owns, with a
// royalty per 1,000 tokens and a developer/data split, and stores the flattened
// data-share table of the version's lineage.
func (m msgServer) CreateDeployment(ctx context.Context, msg *types.MsgCreateDeployment) (*types.MsgCreateDeploymentResponse, error) {
	model, params, err := m.ownedModel(ctx, msg.Owner, msg.ModelId)
	if err != nil {
		return nil, err
	}
	v, err := m.GetVersion(ctx, model.Id, msg.Version)
	if err != nil {
		return nil, err
	}
	if v.Status != types.VERSION_STATUS_PUBLISHED {
		return nil, types.ErrWrongStatus.Wrapf("version: model %d version %d is %s", v.ModelId, v.Version, v.Status)
	}
	if err := params.ValidateRoyalty("royalty_per_thousand_tokens", msg.RoyaltyPerThousandTokens); err != nil {
		return nil, err
	}
	if err := checkSplit(msg.DeveloperBps, msg.DataBps); err != nil {
		return nil, err
	}
	table, err := m.shareTable(ctx, v, params)
	if err != nil {
		return nil, err
	}

	id, err := m.DeploymentSeq.Next(ctx)
	if err != nil {
		return nil, err
	}
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	d := types.Deployment{
		Id:                       id,
		ModelId:                  v.ModelId,
		Version:                  v.Version,
		Owner:                    msg.Owner,
		RoyaltyPerThousandTokens: msg.RoyaltyPerThousandTokens,
		DeveloperBps:             msg.DeveloperBps,
		DataBps:                  msg.DataBps,
		Status:                   types.DEPLOYMENT_STATUS_ACTIVE,
		DataShares:               table,
		CreatedHeight:            sdkCtx.BlockHeight(),
	}
	if err := m.Deployments.Set(ctx, id, d); err != nil {
		return nil, err
	}
	royalty := d.RoyaltyPerThousandTokens
	if err := sdkCtx.EventManager().EmitTypedEvent(&types.EventDeploymentCreated{
		DeploymentId: id, ModelId: d.ModelId, Version: d.Version, Owner: d.Owner,
		RoyaltyPerThousandTokens: &royalty, DeveloperBps: d.DeveloperBps, DataBps: d.DataBps,
		ShareEntries: uint32(len(table)),
	}); err != nil {
		return nil, err
	}
	return &types.MsgCreateDeploymentResponse{DeploymentId: id}, nil
}

// checkSplit checks that the developer and data bps sum to exactly 10,000.
func checkSplit(developer, data uint32) error {
	if developer > types.BpsScale {
		return types.ErrInvalidBps.Wrapf("developer_bps: %d exceeds %d", developer, types.BpsScale)
	}
	if data > types.BpsScale {
		return types.ErrInvalidBps.Wrapf("data_bps: %d exceeds %d", data, types.BpsScale)
	}
	if developer+data != types.BpsScale {
		return types.ErrInvalidBps.Wrapf("developer_bps + data_bps: %d + %d must sum to %d", developer, data, types.BpsScale)
	}
	return nil
}

// ownedDeployment loads a deployment and checks that signer owns it.
func (k Keeper) ownedDeployment(ctx context.Context, signer string, id uint64) (types.Deployment, types.Params, error) {
	var params types.Params
	if _, err := k.parseAddress("owner", signer); err != nil {
		return types.Deployment{}, params, err
	}
	params, err := k.Params.Get(ctx)
	if err != nil {
		return types.Deployment{}, params, err
	}
	d, err := k.GetDeployment(ctx, id)
	if err != nil {
		return d, params, err
	}
	if d.Owner != signer {
		return d, params, types.ErrUnauthorized.Wrapf("owner: %s does not own deployment %d", signer, id)
	}
	if d.Status == types.DEPLOYMENT_STATUS_RETIRED {
		return d, params, types.ErrWrongStatus.Wrapf("deployment %d is retired", id)
	}
	return d, params, nil
}

// UpdateDeployment schedules a price change after params.price_notice_blocks
// (replacing a price already scheduled), pauses or resumes the deployment, and/or
// switches it to a descendant version that passes the quality gate (switchVersion).
func (m msgServer) UpdateDeployment(ctx context.Context, msg *types.MsgUpdateDeployment) (*types.MsgUpdateDeploymentResponse, error) {
	d, params, err := m.ownedDeployment(ctx, msg.Owner, msg.DeploymentId)
	if err != nil {
		return nil, err
	}
	if msg.RoyaltyPerThousandTokens == nil && msg.Status == types.DEPLOYMENT_STATUS_UNSPECIFIED && msg.Version == 0 {
		return nil, types.ErrInvalidField.Wrap("nothing to update: set royalty_per_thousand_tokens, status or version")
	}
	var switchEvent *types.EventDeploymentVersionSwitched
	if msg.Version != 0 {
		if switchEvent, err = m.switchVersion(ctx, &d, msg.Version, params); err != nil {
			return nil, err
		}
	}
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	var statusEvent *types.EventDeploymentStatusChanged
	switch msg.Status {
	case types.DEPLOYMENT_STATUS_UNSPECIFIED:
	case types.DEPLOYMENT_STATUS_ACTIVE, types.DEPLOYMENT_STATUS_PAUSED:
		if d.Status == msg.Status {
			return nil, types.ErrWrongStatus.Wrapf("status: deployment %d is already %s", d.Id, d.Status)
		}
		statusEvent = &types.EventDeploymentStatusChanged{DeploymentId: d.Id, From: d.Status, To: msg.Status}
		d.Status = msg.Status
	case types.DEPLOYMENT_STATUS_RETIRED:
		return nil, types.ErrInvalidField.Wrap("status: retire with MsgRetireDeployment")
	default:
		return nil, types.ErrInvalidField.Wrapf("status: unknown value %d", msg.Status)
	}
	resp := &types.MsgUpdateDeploymentResponse{}
	var priceEvent *types.EventDeploymentPriceScheduled
	if msg.RoyaltyPerThousandTokens != nil {
		price := *msg.RoyaltyPerThousandTokens
		if err := params.ValidateRoyalty("royalty_per_thousand_tokens", price); err != nil {
			return nil, err
		}
		if err := m.clearPendingPrice(ctx, &d); err != nil {
			return nil, err
		}
		effective := sdkCtx.BlockHeight() + int64(params.PriceNoticeBlocks)
		d.PendingRoyaltyPerThousandTokens = &price
		d.PendingEffectiveHeight = effective
		if err := m.PriceQueue.Set(ctx, collections.Join(effective, d.Id)); err != nil {
			return nil, err
		}
		resp.EffectiveHeight = effective
		priceEvent = &types.EventDeploymentPriceScheduled{DeploymentId: d.Id, RoyaltyPerThousandTokens: &price, EffectiveHeight: effective}
	}
	if err := m.Deployments.Set(ctx, d.Id, d); err != nil {
		return nil, err
	}
	if switchEvent != nil {
		if err := sdkCtx.EventManager().EmitTypedEvent(switchEvent); err != nil {
			return nil, err
		}
	}
	if statusEvent != nil {
		if err := sdkCtx.EventManager().EmitTypedEvent(statusEvent); err != nil {
			return nil, err
		}
	}
	if priceEvent != nil {
		if err := sdkCtx.EventManager().EmitTypedEvent(priceEvent); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// clearPendingPrice drops a deployment's scheduled price and its queue entry.
func (k Keeper) clearPendingPrice(ctx context.Context, d *types.Deployment) error {
	if d.PendingRoyaltyPerThousandTokens == nil {
		return nil
	}
	if err := k.PriceQueue.Remove(ctx, collections.Join(d.PendingEffectiveHeight, d.Id)); err != nil {
		return err
	}
	d.PendingRoyaltyPerThousandTokens = nil
	d.PendingEffectiveHeight = 0
	return nil
}

// RetireDeployment retires a deployment for good, dropping any scheduled price.
func (m msgServer) RetireDeployment(ctx context.Context, msg *types.MsgRetireDeployment) (*types.MsgRetireDeploymentResponse, error) {
	d, _, err := m.ownedDeployment(ctx, msg.Owner, msg.DeploymentId)
	if err != nil {
		return nil, err
	}
	if err := m.clearPendingPrice(ctx, &d); err != nil {
		return nil, err
	}
	from := d.Status
	d.Status = types.DEPLOYMENT_STATUS_RETIRED
	if err := m.Deployments.Set(ctx, d.Id, d); err != nil {
		return nil, err
	}
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	if err := sdkCtx.EventManager().EmitTypedEvent(&types.EventDeploymentStatusChanged{
		DeploymentId: d.Id, From: from, To: types.DEPLOYMENT_STATUS_RETIRED,
	}); err != nil {
		return nil, err
	}
	return &types.MsgRetireDeploymentResponse{}, nil
}
