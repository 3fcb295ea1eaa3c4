package keeper

import (
	"context"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/datanet/types"
)

type msgServer struct {
	Keeper
}

var _ types.MsgServer = msgServer{}

// NewMsgServerImpl returns the module's Msg service. Every handler validates every
// field itself and returns a registered error; none panics on user input.
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
	// Bech32 also decodes the upper-case form. The module compares and indexes
	// addresses as strings (owner, curators, self-review), so only the canonical
	// lower-case form is accepted: otherwise one account could pass for two.
	// (Bech32 rejects mixed case and non-zero padding, so a decoded lower-case
	// string is the canonical encoding of its bytes.)
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return nil, types.ErrInvalidAddress.Wrapf("%s: %q is not in canonical (lower-case) form", field, s)
		}
	}
	return bz, nil
}
