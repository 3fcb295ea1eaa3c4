package rewards_test

import (
	"context"
	"strings"
	"testing"

	dbm "github.com/cosmos/cosmos-db"

	"cosmossdk.io/log/v2"

	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	simtestutil "github.com/cosmos/cosmos-sdk/testutil/sims"
	sdk "github.com/cosmos/cosmos-sdk/types"
	signingtypes "github.com/cosmos/cosmos-sdk/types/tx/signing"
	authsigning "github.com/cosmos/cosmos-sdk/x/auth/signing"

	"github.com/openledger/openledger/app"
	"github.com/openledger/openledger/x/rewards/types"
)

// TestAminoJSONSignBytes checks that every rewards msg renders legacy amino-JSON sign
// bytes (the mode of Ledger and Keplr) under its registered name of at most 39
// characters, including msgs with optional fields left unset.
func TestAminoJSONSignBytes(t *testing.T) {
	a := app.New(log.NewNopLogger(), dbm.NewMemDB(), false, simtestutil.NewAppOptionsWithFlagHome(t.TempDir()))
	txCfg := a.TxConfig()
	priv := secp256k1.GenPrivKey()
	addr := sdk.AccAddress(priv.PubKey().Address()).String()
	cases := []struct {
		name string
		msg  sdk.Msg
	}{
		{"rewards/MsgClaimRewards", &types.MsgClaimRewards{Claimant: addr}},
		{"rewards/MsgClaimRewards", &types.MsgClaimRewards{Claimant: addr, DatanetId: 1, Version: 2, MaxItems: 10}},
		{"rewards/MsgUpdateParams", &types.MsgUpdateParams{Authority: addr, Params: types.DefaultParams()}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.name) > 39 {
				t.Fatalf("amino name %q is longer than 39 characters", tc.name)
			}
			b := txCfg.NewTxBuilder()
			if err := b.SetMsgs(tc.msg); err != nil {
				t.Fatal(err)
			}
			b.SetGasLimit(200000)
			b.SetFeeAmount(sdk.NewCoins(sdk.NewInt64Coin("uopen", 500)))
			sig := signingtypes.SignatureV2{
				PubKey: priv.PubKey(),
				Data:   &signingtypes.SingleSignatureData{SignMode: signingtypes.SignMode_SIGN_MODE_LEGACY_AMINO_JSON},
			}
			if err := b.SetSignatures(sig); err != nil {
				t.Fatal(err)
			}
			bz, err := authsigning.GetSignBytesAdapter(context.Background(), txCfg.SignModeHandler(),
				signingtypes.SignMode_SIGN_MODE_LEGACY_AMINO_JSON,
				authsigning.SignerData{ChainID: "openledger-local-1", Address: addr, PubKey: priv.PubKey()}, b.GetTx())
			if err != nil {
				t.Fatalf("amino-JSON sign bytes: %v", err)
			}
			if !strings.Contains(string(bz), `"type":"`+tc.name+`"`) {
				t.Fatalf("sign bytes do not name %s: %s", tc.name, bz)
			}
		})
	}
}
