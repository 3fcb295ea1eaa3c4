package inference_test

import (
	"context"
	"strings"
	"testing"

	dbm "github.com/cosmos/cosmos-db"

	"cosmossdk.io/log/v2"
	sdkmath "cosmossdk.io/math"

	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	simtestutil "github.com/cosmos/cosmos-sdk/testutil/sims"
	sdk "github.com/cosmos/cosmos-sdk/types"
	signingtypes "github.com/cosmos/cosmos-sdk/types/tx/signing"
	authsigning "github.com/cosmos/cosmos-sdk/x/auth/signing"

	"github.com/openledger/openledger/app"
	"github.com/openledger/openledger/x/inference/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// TestAminoJSONSignBytes checks that every inference msg renders legacy amino-JSON sign
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
		{"inference/MsgRegisterProvider", &types.MsgRegisterProvider{Operator: addr, PeerId: "12D3KooW", Multiaddrs: []string{"/ip4/127.0.0.1/tcp/4001"},
			Engines: []string{"openledger-ml"}, Stake: coin(1_000_000)}},
		{"inference/MsgRegisterProvider", &types.MsgRegisterProvider{Operator: addr}},
		{"inference/MsgUpdateProvider", &types.MsgUpdateProvider{Operator: addr, Moniker: "m"}},
		{"inference/MsgAddStake", &types.MsgAddStake{Operator: addr, Amount: coin(5)}},
		{"inference/MsgUnbondStake", &types.MsgUnbondStake{Operator: addr, Amount: coin(5)}},
		{"inference/MsgUnjailProvider", &types.MsgUnjailProvider{Operator: addr}},
		{"inference/MsgSetOffer", &types.MsgSetOffer{Operator: addr, DeploymentId: 1, ComputePricePerThousandTokens: coin(0), MaxConcurrency: 1}},
		{"inference/MsgRemoveOffer", &types.MsgRemoveOffer{Operator: addr, DeploymentId: 1}},
		{"inference/MsgCreateJob", &types.MsgCreateJob{Requester: addr, DeploymentId: 1, MaxTokens: 10, MaxComputePricePerThousandTokens: coin(3),
			Params: types.GenerationParams{Seed: 7, Stop: []string{"\n"}}}},
		{"inference/MsgCreateJob", &types.MsgCreateJob{Requester: addr}},
		{"inference/MsgCancelJob", &types.MsgCancelJob{Requester: addr, JobId: 1}},
		{"inference/MsgBid", &types.MsgBid{Provider: addr, JobId: 1, Price: coin(2)}},
		{"inference/MsgSubmitReceipt", &types.MsgSubmitReceipt{Provider: addr, JobId: 1, Signature: []byte{1, 2},
			Summary: rewardstypes.AttributionSummary{Top: []rewardstypes.ContributionWeight{{DatanetId: 1, Version: 1, ContributionId: 1, Ppm: 1_000_000}}}}},
		{"inference/MsgSubmitReceipt", &types.MsgSubmitReceipt{Provider: addr}},
		{"inference/MsgOpenSession", &types.MsgOpenSession{Requester: addr, Provider: addr, DeploymentId: 1, Deposit: coin(9), SessionPubkey: make([]byte, 32)}},
		{"inference/MsgTopUpSession", &types.MsgTopUpSession{Requester: addr, SessionId: 1, Amount: coin(0)}},
		{"inference/MsgSettleSession", &types.MsgSettleSession{Provider: addr, SessionId: 1,
			Voucher: types.Voucher{Sequence: 1, CumulativeAmount: sdkmath.NewInt(3), ReceiptsRoot: make([]byte, 32)}}},
		{"inference/MsgSettleSession", &types.MsgSettleSession{Provider: addr, Voucher: types.Voucher{CumulativeAmount: sdkmath.ZeroInt()}}},
		{"inference/MsgCloseSession", &types.MsgCloseSession{Sender: addr, SessionId: 1}},
		{"inference/MsgUpdateParams", &types.MsgUpdateParams{Authority: addr, Params: types.DefaultParams()}},
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

func coin(n int64) sdk.Coin { return sdk.NewInt64Coin("uopen", n) }
