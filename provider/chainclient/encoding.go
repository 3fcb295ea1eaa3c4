package chainclient

import (
	"fmt"

	"github.com/cosmos/cosmos-sdk/x/tx/signing"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/codec"
	addresscodec "github.com/cosmos/cosmos-sdk/codec/address"
	codectypes "github.com/cosmos/cosmos-sdk/codec/types"
	"github.com/cosmos/cosmos-sdk/std"
	authtx "github.com/cosmos/cosmos-sdk/x/auth/tx"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	vestingtypes "github.com/cosmos/cosmos-sdk/x/auth/vesting/types"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"
	"github.com/cosmos/gogoproto/proto"

	"github.com/openledger/openledger/app"
	datanettypes "github.com/openledger/openledger/x/datanet/types"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
	modelstypes "github.com/openledger/openledger/x/models/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// Encoding is the slice of the app's encoding config the daemon needs: the
// interface registry (accounts, keys, the msgs it signs), the proto codec and the
// tx config. It is built without constructing the app (no keepers, no store).
type Encoding struct {
	InterfaceRegistry codectypes.InterfaceRegistry
	Codec             codec.Codec
	TxConfig          client.TxConfig
}

// NewEncoding builds the daemon's encoding config with the chain's bech32 prefixes
// and the interfaces of auth, bank and the openledger modules.
func NewEncoding() (Encoding, error) {
	app.SetConfig()
	reg, err := codectypes.NewInterfaceRegistryWithOptions(codectypes.InterfaceRegistryOptions{
		ProtoFiles: proto.HybridResolver,
		SigningOptions: signing.Options{
			AddressCodec:          addresscodec.NewBech32Codec(app.Bech32Prefix),
			ValidatorAddressCodec: addresscodec.NewBech32Codec(app.Bech32PrefixValAddr),
		},
	})
	if err != nil {
		return Encoding{}, fmt.Errorf("interface registry: %w", err)
	}
	std.RegisterInterfaces(reg)
	authtypes.RegisterInterfaces(reg)
	vestingtypes.RegisterInterfaces(reg)
	banktypes.RegisterInterfaces(reg)
	datanettypes.RegisterInterfaces(reg)
	modelstypes.RegisterInterfaces(reg)
	inferencetypes.RegisterInterfaces(reg)
	rewardstypes.RegisterInterfaces(reg)
	if err := reg.SigningContext().Validate(); err != nil {
		return Encoding{}, fmt.Errorf("signing context: %w", err)
	}
	cdc := codec.NewProtoCodec(reg)
	return Encoding{InterfaceRegistry: reg, Codec: cdc, TxConfig: authtx.NewTxConfig(cdc, authtx.DefaultSignModes)}, nil
}
