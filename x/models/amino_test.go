package models_test

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
	"github.com/openledger/openledger/x/models/types"
)

// TestAminoJSONSignBytes checks that every models msg renders legacy amino-JSON sign
// bytes (the mode of Ledger and Keplr) under its registered name of at most 39
// characters, including msgs with optional fields left unset.
func TestAminoJSONSignBytes(t *testing.T) {
	a := app.New(log.NewNopLogger(), dbm.NewMemDB(), false, simtestutil.NewAppOptionsWithFlagHome(t.TempDir()))
	txCfg := a.TxConfig()
	priv := secp256k1.GenPrivKey()
	addr := sdk.AccAddress(priv.PubKey().Address()).String()
	coin := sdk.NewInt64Coin("uopen", 25)
	sha := strings.Repeat("ab", 32)
	cid := "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
	cases := []struct {
		name string
		msg  sdk.Msg
	}{
		{"models/MsgCreateModel", &types.MsgCreateModel{Owner: addr, Name: "m", Task: "text-generation", License: "MIT"}},
		{"models/MsgCreateModel", &types.MsgCreateModel{Owner: addr, Name: "m", Task: "t", License: "MIT",
			ExternalBase: &types.ExternalBase{Name: "base", ArtifactCid: cid}}},
		{"models/MsgUpdateModel", &types.MsgUpdateModel{Owner: addr, ModelId: 1, Name: &types.StringValue{Value: "x"}}},
		{"models/MsgPublishVersion", &types.MsgPublishVersion{Owner: addr, ModelId: 1, Kind: types.VERSION_KIND_PRETRAIN,
			DatasetVersions: []types.DatasetVersionRef{{DatanetId: 1, Version: 1}}, ArtifactCid: cid, ArtifactSha256: sha,
			ArtifactSize: 1, ManifestCid: cid, ManifestSha256: sha, EngineName: "e", EngineVersion: "1"}},
		{"models/MsgPublishVersion", &types.MsgPublishVersion{Owner: addr, ModelId: 1, Kind: types.VERSION_KIND_LORA,
			Parent: &types.VersionRef{ModelId: 1, Version: 1}, UpstreamShareBps: 10_000, ArtifactCid: cid, ArtifactSha256: sha,
			ArtifactSize: 1, ManifestCid: cid, ManifestSha256: sha, EngineName: "e", EngineVersion: "1",
			Metrics: &types.Metrics{EvalLossMicro: 1, TokensTrained: 2, ParameterCount: 3}}},
		{"models/MsgDeprecateVersion", &types.MsgDeprecateVersion{Owner: addr, ModelId: 1, Version: 1}},
		{"models/MsgCreateDeployment", &types.MsgCreateDeployment{Owner: addr, ModelId: 1, Version: 1,
			RoyaltyPerThousandTokens: coin, DeveloperBps: 3_000, DataBps: 7_000}},
		{"models/MsgUpdateDeployment", &types.MsgUpdateDeployment{Owner: addr, DeploymentId: 1, RoyaltyPerThousandTokens: &coin}},
		{"models/MsgUpdateDeployment", &types.MsgUpdateDeployment{Owner: addr, DeploymentId: 1, Status: types.DEPLOYMENT_STATUS_PAUSED}},
		{"models/MsgRetireDeployment", &types.MsgRetireDeployment{Owner: addr, DeploymentId: 1}},
		{"models/MsgUpdateDeployment", &types.MsgUpdateDeployment{Owner: addr, DeploymentId: 1, Version: 2}},
		{"models/MsgSubmitFeedback", &types.MsgSubmitFeedback{Rater: addr, JobId: 1, Rating: types.FEEDBACK_RATING_UP}},
		{"models/MsgSubmitFeedback", &types.MsgSubmitFeedback{Rater: addr, SessionId: 1, SettlementId: 2, Receipt: []byte{1, 2},
			Proof: [][]byte{[]byte(sha[:32])}, Rating: types.FEEDBACK_RATING_DOWN, RecordCid: cid, RecordSha256: sha, RecordSize: 9,
			PreferredCompletionCid: cid, ChosenCid: cid, RejectedCid: cid}},
		{"models/MsgUpdateParams", &types.MsgUpdateParams{Authority: addr, Params: types.DefaultParams()}},
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
