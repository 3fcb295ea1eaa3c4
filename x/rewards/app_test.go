package rewards_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
	minttypes "github.com/cosmos/cosmos-sdk/x/mint/types"

	testkeeper "github.com/openledger/openledger/testutil/keeper"
	datanettypes "github.com/openledger/openledger/x/datanet/types"
	modelstypes "github.com/openledger/openledger/x/models/types"
	"github.com/openledger/openledger/x/rewards/keeper"
	"github.com/openledger/openledger/x/rewards/types"
)

// TestSettleWithRealBankAndDistribution builds a dataset version and a deployment
// through signed txs in real blocks, then settles a payment held by a module account
// with the app's real x/bank and x/distribution: the fee lands in the community
// pool, the provider is paid, the contributor and the developer claim exactly their
// shares, and a claim tx with nothing to claim fails alone with the rewards codespace.
func TestSettleWithRealBankAndDistribution(t *testing.T) {
	c := testkeeper.NewChain(t, 4)
	owner, curator, dev, prov := c.Accounts[0], c.Accounts[1], c.Accounts[2], c.Accounts[3]

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
	c.MustBlock([][]byte{c.Sign(2, &modelstypes.MsgCreateModel{Owner: dev.Bech32, Name: "tiny", Task: "text-generation", License: "MIT"})})
	c.MustBlock([][]byte{c.Sign(2, &modelstypes.MsgPublishVersion{Owner: dev.Bech32, ModelId: 1, Kind: modelstypes.VERSION_KIND_PRETRAIN,
		DatasetVersions: []modelstypes.DatasetVersionRef{{DatanetId: 1, Version: 1}}, ArtifactCid: cid, ArtifactSha256: sha, ArtifactSize: 10,
		ManifestCid: cid, ManifestSha256: sha, EngineName: "openledger-ml", EngineVersion: "v1"})})
	c.MustBlock([][]byte{c.Sign(2, &modelstypes.MsgCreateDeployment{Owner: dev.Bech32, ModelId: 1, Version: 1,
		RoyaltyPerThousandTokens: sdk.NewInt64Coin(testkeeper.Denom, 20), DeveloperBps: 4_000, DataBps: 6_000})})

	// Nothing accrued yet: the claim tx fails alone with the rewards codespace.
	res := c.Block([][]byte{c.Sign(3, &types.MsgClaimRewards{Claimant: prov.Bech32})})
	require.Equal(t, types.ModuleName, res[0].Codespace)
	require.Equal(t, types.ErrBelowMinClaim.ABCICode(), res[0].Code)

	ctx := c.Context()
	a := c.App
	k := a.RewardsKeeper
	bal := func(addr sdk.AccAddress) sdkmath.Int {
		return a.BankKeeper.GetBalance(ctx, addr, testkeeper.Denom).Amount
	}
	pool := func() sdkmath.Int {
		fp, err := a.DistrKeeper.FeePool.Get(ctx)
		require.NoError(t, err)
		return fp.CommunityPool.AmountOf(testkeeper.Denom).TruncateInt()
	}
	payment := sdk.NewCoins(sdk.NewInt64Coin(testkeeper.Denom, 110_000))
	require.NoError(t, a.BankKeeper.MintCoins(ctx, minttypes.ModuleName, payment)) // the payer module holds the payment
	provAddr, devAddr := sdk.MustAccAddressFromBech32(prov.Bech32), sdk.MustAccAddressFromBech32(dev.Bech32)
	pool0, prov0, dev0 := pool(), bal(provAddr), bal(devAddr)

	summary := types.AttributionSummary{
		Top:   []types.ContributionWeight{{DatanetId: 1, Version: 1, ContributionId: 1, Ppm: 600_000}},
		Pools: []types.PoolWeight{{DatanetId: 1, Version: 1, Ppm: 400_000}},
	}
	rec, err := k.Settle(ctx, minttypes.ModuleName, 1, provAddr,
		sdk.NewInt64Coin(testkeeper.Denom, 10_000), sdk.NewInt64Coin(testkeeper.Denom, 100_000), 1, summary)
	require.NoError(t, err)
	require.NoError(t, k.BalanceInvariant(ctx))
	// fee 2% of 110,000 = 2,200 (200 of compute); royalty net 98,000: developer 39,200,
	// data 58,800 = 35,280 direct + 23,520 to the pool of the only contribution.
	require.Equal(t, int64(2_200), rec.ProtocolFee.Amount.Int64())
	require.Equal(t, pool0.AddRaw(2_200), pool())
	require.Equal(t, prov0.AddRaw(9_800), bal(provAddr))
	require.Equal(t, int64(39_200), rec.Developer.Amount.Int64())

	// dev is both the contributor and the developer: one claim pays all of it.
	msg := keeper.NewMsgServerImpl(k)
	out, err := msg.ClaimRewards(ctx, &types.MsgClaimRewards{Claimant: dev.Bech32})
	require.NoError(t, err)
	require.Equal(t, int64(39_200+58_800), out.Amount.Amount.Int64())
	require.Equal(t, dev0.AddRaw(98_000), bal(devAddr))
	require.NoError(t, k.BalanceInvariant(ctx))
	require.True(t, bal(k.ModuleAddress()).IsZero())
}
