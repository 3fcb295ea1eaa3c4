package types

import (
	"github.com/cosmos/cosmos-sdk/codec"
	"github.com/cosmos/cosmos-sdk/codec/legacy"
	codectypes "github.com/cosmos/cosmos-sdk/codec/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/msgservice"
)

// RegisterLegacyAminoCodec registers every msg under its amino name (at most 39
// characters) so that amino-JSON signing (Ledger, Keplr) works.
func RegisterLegacyAminoCodec(cdc *codec.LegacyAmino) {
	legacy.RegisterAminoMsg(cdc, &MsgCreateModel{}, "models/MsgCreateModel")
	legacy.RegisterAminoMsg(cdc, &MsgUpdateModel{}, "models/MsgUpdateModel")
	legacy.RegisterAminoMsg(cdc, &MsgPublishVersion{}, "models/MsgPublishVersion")
	legacy.RegisterAminoMsg(cdc, &MsgDeprecateVersion{}, "models/MsgDeprecateVersion")
	legacy.RegisterAminoMsg(cdc, &MsgCreateDeployment{}, "models/MsgCreateDeployment")
	legacy.RegisterAminoMsg(cdc, &MsgUpdateDeployment{}, "models/MsgUpdateDeployment")
	legacy.RegisterAminoMsg(cdc, &MsgRetireDeployment{}, "models/MsgRetireDeployment")
	legacy.RegisterAminoMsg(cdc, &MsgSubmitFeedback{}, "models/MsgSubmitFeedback")
	legacy.RegisterAminoMsg(cdc, &MsgUpdateParams{}, "models/MsgUpdateParams")
	cdc.RegisterConcrete(Params{}, "models/Params", nil)
}

// RegisterInterfaces registers the msgs as sdk.Msg implementations.
func RegisterInterfaces(registry codectypes.InterfaceRegistry) {
	registry.RegisterImplementations((*sdk.Msg)(nil),
		&MsgCreateModel{},
		&MsgUpdateModel{},
		&MsgPublishVersion{},
		&MsgDeprecateVersion{},
		&MsgCreateDeployment{},
		&MsgUpdateDeployment{},
		&MsgRetireDeployment{},
		&MsgSubmitFeedback{},
		&MsgUpdateParams{},
	)
	msgservice.RegisterMsgServiceDesc(registry, &_Msg_serviceDesc)
}
