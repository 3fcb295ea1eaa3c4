package keeper

import (
	"context"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/inference/types"
)

// RegisterProvider registers a provider, bonds its stake in the module account and
// makes it ACTIVE.
func (m msgServer) RegisterProvider(ctx context.Context, msg *types.MsgRegisterProvider) (*types.MsgRegisterProviderResponse, error) {
	k := m.k
	op, err := k.parseAddress("operator", msg.Operator)
	if err != nil {
		return nil, err
	}
	params, err := k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	if has, err := k.Providers.Has(ctx, op); err != nil {
		return nil, err
	} else if has {
		return nil, types.ErrProviderExists.Wrapf("%s", msg.Operator)
	}
	peerID, err := normalizePeerID(msg.PeerId)
	if err != nil {
		return nil, err
	}
	if has, err := k.PeerIDs.Has(ctx, peerID); err != nil {
		return nil, err
	} else if has {
		return nil, types.ErrPeerIDTaken.Wrapf("%s", peerID)
	}
	f, err := checkProviderFields(params, msg.Multiaddrs, msg.ApiUrl, msg.Hardware, msg.Engines, msg.Moniker)
	if err != nil {
		return nil, err
	}
	stake := msg.Stake
	if stake.Denom != params.MinProviderStake.Denom || stake.Amount.IsNil() {
		return nil, types.ErrInvalidAmount.Wrapf("stake: denom %q, want %q", stake.Denom, params.MinProviderStake.Denom)
	}
	if !meetsMinStake(stake, params) {
		return nil, types.ErrInsufficientStake.Wrapf("stake %s below the minimum %s", stake, params.MinProviderStake)
	}
	if err := k.bank.SendCoinsFromAccountToModule(ctx, op, types.ModuleName, sdk.NewCoins(stake)); err != nil {
		return nil, err
	}
	p := types.Provider{
		Operator: k.addrString(op), PeerId: peerID, Multiaddrs: f.multiaddrs, ApiUrl: f.apiURL,
		Hardware: f.hardware, Engines: f.engines, Moniker: f.moniker, Stake: stake,
		Unbonding: sdkmath.ZeroInt(), Status: types.PROVIDER_STATUS_ACTIVE, SlashedTotal: sdkmath.ZeroInt(),
		RegisteredHeight: height(ctx),
	}
	if err := k.setProvider(ctx, op, nil, p); err != nil {
		return nil, err
	}
	return &types.MsgRegisterProviderResponse{}, marketEmit(ctx,
		&types.EventProviderRegistered{Operator: p.Operator, PeerId: p.PeerId, Stake: p.Stake},
		&types.EventProviderStatusChanged{Operator: p.Operator, From: types.PROVIDER_STATUS_UNSPECIFIED, To: p.Status, Reason: reasonRegistered},
		stakeChanged(p, reasonAddStake))
}

// UpdateProvider replaces a provider's descriptive fields; an empty peer id keeps
// the current one.
func (m msgServer) UpdateProvider(ctx context.Context, msg *types.MsgUpdateProvider) (*types.MsgUpdateProviderResponse, error) {
	k := m.k
	op, params, p, err := k.operatorProvider(ctx, msg.Operator)
	if err != nil {
		return nil, err
	}
	old := p
	if msg.PeerId != "" {
		peerID, err := normalizePeerID(msg.PeerId)
		if err != nil {
			return nil, err
		}
		if peerID != p.PeerId {
			if has, err := k.PeerIDs.Has(ctx, peerID); err != nil {
				return nil, err
			} else if has {
				return nil, types.ErrPeerIDTaken.Wrapf("%s", peerID)
			}
			p.PeerId = peerID
		}
	}
	f, err := checkProviderFields(params, msg.Multiaddrs, msg.ApiUrl, msg.Hardware, msg.Engines, msg.Moniker)
	if err != nil {
		return nil, err
	}
	p.Multiaddrs, p.ApiUrl, p.Hardware, p.Engines, p.Moniker = f.multiaddrs, f.apiURL, f.hardware, f.engines, f.moniker
	if err := k.setProvider(ctx, op, &old, p); err != nil {
		return nil, err
	}
	return &types.MsgUpdateProviderResponse{}, marketEmit(ctx, &types.EventProviderUpdated{Operator: p.Operator, PeerId: p.PeerId})
}

// AddStake bonds more stake; an UNBONDED provider that reaches the minimum becomes
// ACTIVE again (a JAILED one stays jailed).
func (m msgServer) AddStake(ctx context.Context, msg *types.MsgAddStake) (*types.MsgAddStakeResponse, error) {
	k := m.k
	op, params, p, err := k.operatorProvider(ctx, msg.Operator)
	if err != nil {
		return nil, err
	}
	if msg.Amount.Denom != p.Stake.Denom || msg.Amount.Amount.IsNil() || !msg.Amount.IsPositive() {
		return nil, types.ErrInvalidAmount.Wrapf("amount: must be a positive amount of %s", p.Stake.Denom)
	}
	if err := k.bank.SendCoinsFromAccountToModule(ctx, op, types.ModuleName, sdk.NewCoins(msg.Amount)); err != nil {
		return nil, err
	}
	old := p
	p.Stake = p.Stake.Add(msg.Amount)
	if p.Status == types.PROVIDER_STATUS_UNBONDED && meetsMinStake(p.Stake, params) {
		p.Status = types.PROVIDER_STATUS_ACTIVE
	}
	if err := k.putProvider(ctx, op, old, p, reasonAddStake); err != nil {
		return nil, err
	}
	return &types.MsgAddStakeResponse{Stake: p.Stake}, marketEmit(ctx, stakeChanged(p, reasonAddStake))
}

// UnbondStake starts unbonding part of the stake: it stays slashable until it is
// paid back at completion_height. An ACTIVE provider left below the minimum
// becomes UNBONDED.
func (m msgServer) UnbondStake(ctx context.Context, msg *types.MsgUnbondStake) (*types.MsgUnbondStakeResponse, error) {
	k := m.k
	op, params, p, err := k.operatorProvider(ctx, msg.Operator)
	if err != nil {
		return nil, err
	}
	amt := msg.Amount
	if amt.Denom != p.Stake.Denom || amt.Amount.IsNil() || !amt.IsPositive() {
		return nil, types.ErrInvalidAmount.Wrapf("amount: must be a positive amount of %s", p.Stake.Denom)
	}
	if amt.Amount.GT(p.Stake.Amount) {
		return nil, types.ErrInsufficientStake.Wrapf("unbonding %s, bonded %s", amt, p.Stake)
	}
	n, err := k.unbondingCount(ctx, op)
	if err != nil {
		return nil, err
	}
	if n >= int(params.MaxUnbondingEntries) {
		return nil, types.ErrTooManyUnbondings.Wrapf("%d entries, max %d", n, params.MaxUnbondingEntries)
	}
	id, err := k.UnbondingSeq.Next(ctx)
	if err != nil {
		return nil, err
	}
	completion := height(ctx) + int64(params.UnbondingBlocks)
	entry := types.UnbondingEntry{Operator: p.Operator, Id: id, Amount: amt, CompletionHeight: completion}
	if err := k.Unbondings.Set(ctx, collections.Join(op, id), entry); err != nil {
		return nil, err
	}
	if err := k.UnbondingQueue.Set(ctx, collections.Join3(completion, op, id)); err != nil {
		return nil, err
	}
	old := p
	p.Stake = p.Stake.Sub(amt)
	p.Unbonding = p.Unbonding.Add(amt.Amount)
	if p.Status == types.PROVIDER_STATUS_ACTIVE && !meetsMinStake(p.Stake, params) {
		p.Status = types.PROVIDER_STATUS_UNBONDED
	}
	if err := k.putProvider(ctx, op, old, p, reasonBelowMinStake); err != nil {
		return nil, err
	}
	return &types.MsgUnbondStakeResponse{CompletionHeight: completion, EntryId: id}, marketEmit(ctx, stakeChanged(p, reasonUnbond))
}

// UnjailProvider returns a JAILED provider to ACTIVE once its jail term is over and
// its stake is at least the minimum.
func (m msgServer) UnjailProvider(ctx context.Context, msg *types.MsgUnjailProvider) (*types.MsgUnjailProviderResponse, error) {
	k := m.k
	op, params, p, err := k.operatorProvider(ctx, msg.Operator)
	if err != nil {
		return nil, err
	}
	if p.Status != types.PROVIDER_STATUS_JAILED {
		return nil, types.ErrProviderNotActive.Wrapf("provider is %s, not jailed", p.Status)
	}
	if h := height(ctx); h < p.JailedUntil {
		return nil, types.ErrStillJailed.Wrapf("jailed until height %d, now %d", p.JailedUntil, h)
	}
	if !meetsMinStake(p.Stake, params) {
		return nil, types.ErrInsufficientStake.Wrapf("stake %s below the minimum %s", p.Stake, params.MinProviderStake)
	}
	old := p
	p.Status = types.PROVIDER_STATUS_ACTIVE
	if err := k.putProvider(ctx, op, old, p, reasonUnjail); err != nil {
		return nil, err
	}
	return &types.MsgUnjailProviderResponse{}, nil
}

// SetOffer creates or replaces a provider's offer for an ACTIVE deployment (any
// provider status: an offer is only used while the provider is ACTIVE).
func (m msgServer) SetOffer(ctx context.Context, msg *types.MsgSetOffer) (*types.MsgSetOfferResponse, error) {
	k := m.k
	op, err := k.parseAddress("operator", msg.Operator)
	if err != nil {
		return nil, err
	}
	p, err := k.GetProvider(ctx, op)
	if err != nil {
		return nil, err
	}
	dep, err := k.models.GetActiveDeployment(ctx, msg.DeploymentId)
	if err != nil {
		return nil, types.ErrDeploymentMismatch.Wrapf("deployment %d: %v", msg.DeploymentId, err)
	}
	if err := checkMarketPrice("compute_price_per_thousand_tokens", msg.ComputePricePerThousandTokens, dep.RoyaltyPerThousandTokens.Denom); err != nil {
		return nil, err
	}
	if msg.MaxConcurrency == 0 || msg.MaxConcurrency > maxOfferConcurrency {
		return nil, types.ErrInvalidField.Wrapf("max_concurrency: %d, want 1..%d", msg.MaxConcurrency, maxOfferConcurrency)
	}
	o := types.Offer{
		Operator: p.Operator, DeploymentId: msg.DeploymentId,
		ComputePricePerThousandTokens: msg.ComputePricePerThousandTokens,
		MaxConcurrency:                msg.MaxConcurrency, UpdatedHeight: height(ctx),
	}
	if err := k.setOffer(ctx, op, o); err != nil {
		return nil, err
	}
	return &types.MsgSetOfferResponse{}, marketEmit(ctx, &types.EventOfferSet{
		Operator: o.Operator, DeploymentId: o.DeploymentId,
		ComputePricePerThousandTokens: o.ComputePricePerThousandTokens, MaxConcurrency: o.MaxConcurrency,
	})
}

// maxOfferConcurrency bounds an offer's max_concurrency.
const maxOfferConcurrency = 1_000_000

// RemoveOffer withdraws an offer.
func (m msgServer) RemoveOffer(ctx context.Context, msg *types.MsgRemoveOffer) (*types.MsgRemoveOfferResponse, error) {
	k := m.k
	op, err := k.parseAddress("operator", msg.Operator)
	if err != nil {
		return nil, err
	}
	if err := k.removeOffer(ctx, op, msg.DeploymentId); err != nil {
		return nil, err
	}
	return &types.MsgRemoveOfferResponse{}, marketEmit(ctx, &types.EventOfferRemoved{Operator: k.addrString(op), DeploymentId: msg.DeploymentId})
}

// operatorProvider resolves a provider msg's operator: its address, the params and
// the registered provider.
func (k Keeper) operatorProvider(ctx context.Context, operator string) (sdk.AccAddress, types.Params, types.Provider, error) {
	op, err := k.parseAddress("operator", operator)
	if err != nil {
		return nil, types.Params{}, types.Provider{}, err
	}
	params, err := k.Params.Get(ctx)
	if err != nil {
		return nil, types.Params{}, types.Provider{}, err
	}
	p, err := k.GetProvider(ctx, op)
	if err != nil {
		return nil, types.Params{}, types.Provider{}, err
	}
	return op, params, p, nil
}
