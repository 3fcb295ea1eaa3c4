package keeper

import (
	"context"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/models/types"
)

type msgServer struct {
	Keeper
}

var _ types.MsgServer = msgServer{}

// NewMsgServerImpl returns the module's Msg service. Every handler validates every
// field itself and returns a registered error naming the field; none panics on user
// input, and a failing msg changes nothing.
func NewMsgServerImpl(k Keeper) types.MsgServer {
	return msgServer{Keeper: k}
}

// UpdateParams replaces the params (governance authority only).
func (m msgServer) UpdateParams(ctx context.Context, msg *types.MsgUpdateParams) (*types.MsgUpdateParamsResponse, error) {
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	if err := sdk.ValidateAuthority(sdkCtx, m.authority, msg.Authority); err != nil {
		return nil, err
	}
	if err := msg.Params.Validate(); err != nil {
		return nil, err
	}
	if err := m.Params.Set(ctx, msg.Params); err != nil {
		return nil, err
	}
	if err := sdkCtx.EventManager().EmitTypedEvent(&types.EventParamsUpdated{Params: &msg.Params}); err != nil {
		return nil, err
	}
	return &types.MsgUpdateParamsResponse{}, nil
}

// parseAddress decodes a bech32 account address and names the field on failure.
func (k Keeper) parseAddress(field, s string) (sdk.AccAddress, error) {
	if s == "" {
		return nil, types.ErrInvalidAddress.Wrapf("%s: must not be empty", field)
	}
	bz, err := k.addressCodec.StringToBytes(s)
	if err != nil {
		return nil, types.ErrInvalidAddress.Wrapf("%s: %q: %v", field, s, err)
	}
	return bz, nil
}

// ownedModel loads a model and checks that signer owns it.
func (k Keeper) ownedModel(ctx context.Context, signer string, id uint64) (types.Model, types.Params, error) {
	var params types.Params
	if _, err := k.parseAddress("owner", signer); err != nil {
		return types.Model{}, params, err
	}
	params, err := k.Params.Get(ctx)
	if err != nil {
		return types.Model{}, params, err
	}
	m, err := k.GetModel(ctx, id)
	if err != nil {
		return m, params, err
	}
	if m.Owner != signer {
		return m, params, types.ErrUnauthorized.Wrapf("owner: %s does not own model %d", signer, id)
	}
	return m, params, nil
}
