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
	legacy.RegisterAminoMsg(cdc, &MsgRegisterProvider{}, "inference/MsgRegisterProvider")
	legacy.RegisterAminoMsg(cdc, &MsgUpdateProvider{}, "inference/MsgUpdateProvider")
	legacy.RegisterAminoMsg(cdc, &MsgAddStake{}, "inference/MsgAddStake")
	legacy.RegisterAminoMsg(cdc, &MsgUnbondStake{}, "inference/MsgUnbondStake")
	legacy.RegisterAminoMsg(cdc, &MsgUnjailProvider{}, "inference/MsgUnjailProvider")
	legacy.RegisterAminoMsg(cdc, &MsgSetOffer{}, "inference/MsgSetOffer")
	legacy.RegisterAminoMsg(cdc, &MsgRemoveOffer{}, "inference/MsgRemoveOffer")
	legacy.RegisterAminoMsg(cdc, &MsgCreateJob{}, "inference/MsgCreateJob")
	legacy.RegisterAminoMsg(cdc, &MsgCancelJob{}, "inference/MsgCancelJob")
	legacy.RegisterAminoMsg(cdc, &MsgBid{}, "inference/MsgBid")
	legacy.RegisterAminoMsg(cdc, &MsgSubmitReceipt{}, "inference/MsgSubmitReceipt")
	legacy.RegisterAminoMsg(cdc, &MsgOpenSession{}, "inference/MsgOpenSession")
	legacy.RegisterAminoMsg(cdc, &MsgTopUpSession{}, "inference/MsgTopUpSession")
	legacy.RegisterAminoMsg(cdc, &MsgSettleSession{}, "inference/MsgSettleSession")
	legacy.RegisterAminoMsg(cdc, &MsgCloseSession{}, "inference/MsgCloseSession")
	legacy.RegisterAminoMsg(cdc, &MsgUpdateParams{}, "inference/MsgUpdateParams")
	legacy.RegisterAminoMsg(cdc, &MsgChallenge{}, "inference/MsgChallenge")
	legacy.RegisterAminoMsg(cdc, &MsgCommitVote{}, "inference/MsgCommitVote")
	legacy.RegisterAminoMsg(cdc, &MsgRevealVote{}, "inference/MsgRevealVote")
	cdc.RegisterConcrete(Params{}, "inference/Params", nil)
}

// RegisterInterfaces registers the msgs as sdk.Msg implementations.
func RegisterInterfaces(registry codectypes.InterfaceRegistry) {
	registry.RegisterImplementations((*sdk.Msg)(nil),
		&MsgRegisterProvider{},
		&MsgUpdateProvider{},
		&MsgAddStake{},
		&MsgUnbondStake{},
		&MsgUnjailProvider{},
		&MsgSetOffer{},
		&MsgRemoveOffer{},
		&MsgCreateJob{},
		&MsgCancelJob{},
		&MsgBid{},
		&MsgSubmitReceipt{},
		&MsgOpenSession{},
		&MsgTopUpSession{},
		&MsgSettleSession{},
		&MsgCloseSession{},
		&MsgUpdateParams{},
		&MsgChallenge{},
		&MsgCommitVote{},
		&MsgRevealVote{},
	)
	msgservice.RegisterMsgServiceDesc(registry, &_Msg_serviceDesc)
}
