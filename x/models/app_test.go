package models_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	sdk "github.com/cosmos/cosmos-sdk/types"

	testkeeper "github.com/openledger/openledger/testutil/keeper"
	datanettypes "github.com/openledger/openledger/x/datanet/types"
	"github.com/openledger/openledger/x/models/types"
)

// TestModelsInRealBlocks runs the ModelFactory msgs as signed txs in real blocks of
// the full app (ante handler, fees, x/datanet, EndBlock): a failing msg fails alone
// with a models error code, and a scheduled price is applied by EndBlock exactly at
// its effective height.
func TestModelsInRealBlocks(t *testing.T) {
	c := testkeeper.NewChain(t, 3)
	owner, curator, dev := c.Accounts[0], c.Accounts[1], c.Accounts[2]
	k := c.App.ModelsKeeper

	c.MustBlock([][]byte{c.Sign(0, &datanettypes.MsgCreateDatanet{
		Owner: owner.Bech32, Name: "proverbs", License: "CC-BY-4.0",
		Curation:            datanettypes.Curation{Curators: []string{curator.Bech32}, ApprovalQuorum: 1, ReviewWindowBlocks: 100},
		ContributionDeposit: sdk.NewInt64Coin(testkeeper.Denom, 1_000),
	})})
	c.MustBlock([][]byte{c.Sign(2, &datanettypes.MsgSubmitContribution{
		Contributor: dev.Bech32, DatanetId: 1, Cid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
		Sha256: "8e2b6f4f0e7bda4cd7d1b5b2a9c0f7f3b0b7a3f5d1e2c4b6a8d0f1e3c5b7a9d1", SizeBytes: 30, RecordCount: 1, MediaType: "text/plain",
	})})
	c.MustBlock([][]byte{c.Sign(1, &datanettypes.MsgReviewContribution{Curator: curator.Bech32, ContributionId: 1, Decision: datanettypes.REVIEW_DECISION_APPROVE})})
	c.MustBlock([][]byte{c.Sign(0, &datanettypes.MsgCreateDatasetVersion{Creator: owner.Bech32, DatanetId: 1})})

	sha := "9a129038d9a00aed0cf6a7ea059ca50a813449061ab87848cf1a13eafdf33b2c"
	cid := "bafkreie2ckidrwnablwqz5vh5iczzjikqe2esbq2xb4erty2cpvp34z3fq"
	c.MustBlock([][]byte{c.Sign(2, &types.MsgCreateModel{Owner: dev.Bech32, Name: "tiny", Task: "text-generation", License: "MIT"})})
	c.MustBlock([][]byte{c.Sign(2, &types.MsgPublishVersion{Owner: dev.Bech32, ModelId: 1, Kind: types.VERSION_KIND_PRETRAIN,
		DatasetVersions: []types.DatasetVersionRef{{DatanetId: 1, Version: 1}}, ArtifactCid: cid, ArtifactSha256: sha, ArtifactSize: 10,
		ManifestCid: cid, ManifestSha256: sha, EngineName: "openledger-ml", EngineVersion: "v1"})})

	// In one block: the owner deploys; a stranger's deployment of the same version
	// fails alone with the models codespace.
	res := c.Block([][]byte{
		c.Sign(2, &types.MsgCreateDeployment{Owner: dev.Bech32, ModelId: 1, Version: 1,
			RoyaltyPerThousandTokens: sdk.NewInt64Coin(testkeeper.Denom, 20), DeveloperBps: 4_000, DataBps: 6_000}),
		c.Sign(1, &types.MsgCreateDeployment{Owner: curator.Bech32, ModelId: 1, Version: 1,
			RoyaltyPerThousandTokens: sdk.NewInt64Coin(testkeeper.Denom, 1), DeveloperBps: 10_000}),
	})
	require.Zero(t, res[0].Code, res[0].Log)
	require.Equal(t, types.ModuleName, res[1].Codespace)
	require.Equal(t, types.ErrUnauthorized.ABCICode(), res[1].Code)

	active, err := k.GetActiveDeployment(c.Context(), 1)
	require.NoError(t, err)
	require.Equal(t, []types.DataShare{{DatanetId: 1, Version: 1, Bps: 10_000}}, active.DataShares)
	_, err = k.GetDeployment(c.Context(), 2)
	require.ErrorIs(t, err, types.ErrDeploymentNotFound)

	newPrice := sdk.NewInt64Coin(testkeeper.Denom, 35)
	c.MustBlock([][]byte{c.Sign(2, &types.MsgUpdateDeployment{Owner: dev.Bech32, DeploymentId: 1, RoyaltyPerThousandTokens: &newPrice})})
	d, err := k.GetDeployment(c.Context(), 1)
	require.NoError(t, err)
	effective := d.PendingEffectiveHeight
	require.Equal(t, c.Height+int64(types.DefaultParams().PriceNoticeBlocks), effective)

	for c.Height < effective-1 {
		c.MustBlock(nil)
	}
	d, err = k.GetDeployment(c.Context(), 1)
	require.NoError(t, err)
	require.Equal(t, int64(20), d.RoyaltyPerThousandTokens.Amount.Int64(), "price changed before the notice ended")
	c.MustBlock(nil) // the effective height: EndBlock applies the price
	d, err = k.GetDeployment(c.Context(), 1)
	require.NoError(t, err)
	require.Equal(t, newPrice, d.RoyaltyPerThousandTokens)
	require.Nil(t, d.PendingRoyaltyPerThousandTokens)
	require.NoError(t, k.CheckInvariants(c.Context()))
}
