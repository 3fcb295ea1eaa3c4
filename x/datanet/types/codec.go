package types

import (
	"github.com/cosmos/cosmos-sdk/codec"
	"github.com/cosmos/cosmos-sdk/codec/legacy"
	codectypes "github.com/cosmos/cosmos-sdk/codec/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/msgservice"
)

// RegisterLegacyAminoCodec registers every msg under its amino name so that
// amino-JSON signing (Ledger, Keplr) works.
func RegisterLegacyAminoCodec(cdc *codec.LegacyAmino) {
	legacy.RegisterAminoMsg(cdc, &MsgCreateDatanet{}, "datanet/MsgCreateDatanet")
	legacy.RegisterAminoMsg(cdc, &MsgUpdateDatanet{}, "datanet/MsgUpdateDatanet")
	legacy.RegisterAminoMsg(cdc, &MsgArchiveDatanet{}, "datanet/MsgArchiveDatanet")
	legacy.RegisterAminoMsg(cdc, &MsgSubmitContribution{}, "datanet/MsgSubmitContribution")
	legacy.RegisterAminoMsg(cdc, &MsgWithdrawContribution{}, "datanet/MsgWithdrawContribution")
	legacy.RegisterAminoMsg(cdc, &MsgReviewContribution{}, "datanet/MsgReviewContribution")
	legacy.RegisterAminoMsg(cdc, &MsgCreateDatasetVersion{}, "datanet/MsgCreateDatasetVersion")
	legacy.RegisterAminoMsg(cdc, &MsgUpdateParams{}, "datanet/MsgUpdateParams")
	cdc.RegisterConcrete(Params{}, "datanet/Params", nil)
}

// RegisterInterfaces registers the msgs as sdk.Msg implementations.
func RegisterInterfaces(registry codectypes.InterfaceRegistry) {
	registry.RegisterImplementations((*sdk.Msg)(nil),
		&MsgCreateDatanet{},
		&MsgUpdateDatanet{},
		&MsgArchiveDatanet{},
		&MsgSubmitContribution{},
		&MsgWithdrawContribution{},
		&MsgReviewContribution{},
		&MsgCreateDatasetVersion{},
		&MsgUpdateParams{},
	)
	msgservice.RegisterMsgServiceDesc(registry, &_Msg_serviceDesc)
}
