package app_test

import (
	"context"
	"strings"
	"testing"

	sdkmath "cosmossdk.io/math"
	dbm "github.com/cosmos/cosmos-db"

	"cosmossdk.io/log/v2"

	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	simtestutil "github.com/cosmos/cosmos-sdk/testutil/sims"
	sdk "github.com/cosmos/cosmos-sdk/types"
	signingtypes "github.com/cosmos/cosmos-sdk/types/tx/signing"
	authsigning "github.com/cosmos/cosmos-sdk/x/auth/signing"

	"github.com/openledger/openledger/app"
	datanettypes "github.com/openledger/openledger/x/datanet/types"
)

// TestAminoJSONSignBytes checks that every datanet msg renders legacy amino-JSON sign
// bytes under its registered amino name, the mode hardware and browser wallets sign.
func TestAminoJSONSignBytes(t *testing.T) {
	a := app.New(log.NewNopLogger(), dbm.NewMemDB(), false, simtestutil.NewAppOptionsWithFlagHome(t.TempDir()))
	txCfg := a.TxConfig()
	priv := secp256k1.GenPrivKey()
	addr := sdk.AccAddress(priv.PubKey().Address()).String()
	coin := sdk.NewCoin("uopen", sdkmath.NewInt(1000))
	cases := []struct {
		name string
		msg  sdk.Msg
	}{
		{"datanet/MsgCreateDatanet", &datanettypes.MsgCreateDatanet{Owner: addr, Name: "n", License: "MIT", ContributionDeposit: coin,
			Curation: datanettypes.Curation{Curators: []string{addr}, ApprovalQuorum: 1, ReviewWindowBlocks: 10}}},
		{"datanet/MsgUpdateDatanet", &datanettypes.MsgUpdateDatanet{Owner: addr, DatanetId: 1, Name: &datanettypes.StringValue{Value: "x"}}},
		{"datanet/MsgArchiveDatanet", &datanettypes.MsgArchiveDatanet{Owner: addr, DatanetId: 1}},
		{"datanet/MsgSubmitContribution", &datanettypes.MsgSubmitContribution{Contributor: addr, DatanetId: 1,
			Cid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", Sha256: strings.Repeat("ab", 32), SizeBytes: 5, RecordCount: 1, MediaType: "text/plain"}},
		{"datanet/MsgWithdrawContribution", &datanettypes.MsgWithdrawContribution{Contributor: addr, ContributionId: 1}},
		{"datanet/MsgReviewContribution", &datanettypes.MsgReviewContribution{Curator: addr, ContributionId: 1, Decision: datanettypes.REVIEW_DECISION_APPROVE}},
		{"datanet/MsgCreateDatasetVersion", &datanettypes.MsgCreateDatasetVersion{Creator: addr, DatanetId: 1}},
		{"datanet/MsgUpdateParams", &datanettypes.MsgUpdateParams{Authority: addr, Params: datanettypes.DefaultParams()}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := txCfg.NewTxBuilder()
			if err := b.SetMsgs(tc.msg); err != nil {
				t.Fatal(err)
			}
			b.SetGasLimit(200000)
			b.SetFeeAmount(sdk.NewCoins(sdk.NewCoin("uopen", sdkmath.NewInt(500))))
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
