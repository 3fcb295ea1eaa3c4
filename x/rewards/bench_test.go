package rewards_test

import (
	"fmt"
	"testing"

	sdk "github.com/cosmos/cosmos-sdk/types"
	minttypes "github.com/cosmos/cosmos-sdk/x/mint/types"

	testkeeper "github.com/openledger/openledger/testutil/keeper"
	datanettypes "github.com/openledger/openledger/x/datanet/types"
	modelskeeper "github.com/openledger/openledger/x/models/keeper"
	modelstypes "github.com/openledger/openledger/x/models/types"
	"github.com/openledger/openledger/x/rewards/types"
)

var settlementSeq uint64

// nextSettlement is a fresh settlement id for every call of every run.
func nextSettlement() uint64 { settlementSeq++; return settlementSeq }

// BenchmarkSettle compares one Settle (K = 32 contributions over an 8-entry table, the
// full app's x/bank and x/distribution) with one bank send, in the same run and store.
func BenchmarkSettle(b *testing.B) {
	f := testkeeper.NewFixture(b, 4)
	ctx := f.Ctx
	owner, curator, dev := f.Addr(0), f.Addr(1), f.Addr(2)
	var refs []modelstypes.DatasetVersionRef
	var summary types.AttributionSummary
	for d := 0; d < 8; d++ {
		id := f.CreateDatanet(ctx, testkeeper.CreateDatanetMsg(owner, []string{curator}, 1, 100, datanettypes.Requirements{}, 1_000))
		for c := 0; c < 4; c++ {
			cid := f.Submit(ctx, dev, id, fmt.Sprintf("datanet %d contribution %d", d, c))
			f.Review(ctx, curator, cid, datanettypes.REVIEW_DECISION_APPROVE)
			summary.Top = append(summary.Top, types.ContributionWeight{DatanetId: id, Version: 1, ContributionId: cid, Ppm: 25_000})
		}
		if _, err := f.Msg.CreateDatasetVersion(ctx, &datanettypes.MsgCreateDatasetVersion{Creator: owner, DatanetId: id}); err != nil {
			b.Fatal(err)
		}
		refs = append(refs, modelstypes.DatasetVersionRef{DatanetId: id, Version: 1})
		summary.Pools = append(summary.Pools, types.PoolWeight{DatanetId: id, Version: 1, Ppm: 25_000})
	}
	mm := modelskeeper.NewMsgServerImpl(f.App.ModelsKeeper)
	if _, err := mm.CreateModel(ctx, &modelstypes.MsgCreateModel{Owner: dev, Name: "tiny", Task: "text-generation", License: "MIT"}); err != nil {
		b.Fatal(err)
	}
	sha := "9a129038d9a00aed0cf6a7ea059ca50a813449061ab87848cf1a13eafdf33b2c"
	cid := "bafkreie2ckidrwnablwqz5vh5iczzjikqe2esbq2xb4erty2cpvp34z3fq"
	if _, err := mm.PublishVersion(ctx, &modelstypes.MsgPublishVersion{Owner: dev, ModelId: 1, Kind: modelstypes.VERSION_KIND_PRETRAIN,
		DatasetVersions: refs, ArtifactCid: cid, ArtifactSha256: sha, ArtifactSize: 10,
		ManifestCid: cid, ManifestSha256: sha, EngineName: "openledger-ml", EngineVersion: "v1"}); err != nil {
		b.Fatal(err)
	}
	if _, err := mm.CreateDeployment(ctx, &modelstypes.MsgCreateDeployment{Owner: dev, ModelId: 1, Version: 1,
		RoyaltyPerThousandTokens: sdk.NewInt64Coin(testkeeper.Denom, 20), DeveloperBps: 4_000, DataBps: 6_000}); err != nil {
		b.Fatal(err)
	}
	dep, err := f.App.ModelsKeeper.GetActiveDeployment(ctx, 1)
	if err != nil || len(dep.DataShares) != 8 {
		b.Fatalf("deployment: %v, %d table entries", err, len(dep.DataShares))
	}
	k := f.App.RewardsKeeper
	prov := sdk.MustAccAddressFromBech32(f.Addr(3))
	from := sdk.MustAccAddressFromBech32(owner)
	compute, royalty := sdk.NewInt64Coin(testkeeper.Denom, 10_000), sdk.NewInt64Coin(testkeeper.Denom, 1_000_000)

	b.Run("settle-k32-table8", func(b *testing.B) {
		total := sdk.NewCoins(compute.Add(royalty))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			if err := f.App.BankKeeper.MintCoins(ctx, minttypes.ModuleName, total); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := k.Settle(ctx, minttypes.ModuleName, nextSettlement(), prov, compute, royalty, 1, summary); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bank-send", func(b *testing.B) {
		amt := sdk.NewCoins(sdk.NewInt64Coin(testkeeper.Denom, 1))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := f.App.BankKeeper.SendCoins(ctx, from, prov, amt); err != nil {
				b.Fatal(err)
			}
		}
	})
	if err := k.BalanceInvariant(ctx); err != nil {
		b.Fatal(err)
	}
}
