package keeper_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	"github.com/cosmos/cosmos-sdk/codec"
	addresscodec "github.com/cosmos/cosmos-sdk/codec/address"
	"github.com/cosmos/cosmos-sdk/runtime"
	storetypes "github.com/cosmos/cosmos-sdk/store/v2/types"
	"github.com/cosmos/cosmos-sdk/testutil"
	sdk "github.com/cosmos/cosmos-sdk/types"
	moduletestutil "github.com/cosmos/cosmos-sdk/types/module/testutil"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	govtypes "github.com/cosmos/cosmos-sdk/x/gov/types"

	datanetkeeper "github.com/openledger/openledger/x/datanet/keeper"
	datanettypes "github.com/openledger/openledger/x/datanet/types"
	"github.com/openledger/openledger/x/models/keeper"
	"github.com/openledger/openledger/x/models/types"
)

// fixture is a models keeper over a real x/datanet keeper (with stub bank, account
// and distribution keepers: deposits are not what these tests are about).
type fixture struct {
	t         testing.TB
	ctx       sdk.Context
	k         keeper.Keeper
	msg       types.MsgServer
	query     types.QueryServer
	dn        datanetkeeper.Keeper
	dnMsg     datanettypes.MsgServer
	authority string
	alice     string
	bob       string
	carol     string
	contents  int
}

type stubAccounts struct{}

func (stubAccounts) GetModuleAddress(name string) sdk.AccAddress {
	return authtypes.NewModuleAddress(name)
}

type stubBank struct{}

func (stubBank) SendCoinsFromAccountToModule(context.Context, sdk.AccAddress, string, sdk.Coins) error {
	return nil
}

func (stubBank) SendCoinsFromModuleToAccount(context.Context, string, sdk.AccAddress, sdk.Coins) error {
	return nil
}
func (stubBank) GetAllBalances(context.Context, sdk.AccAddress) sdk.Coins { return sdk.NewCoins() }
func (stubBank) SpendableCoins(context.Context, sdk.AccAddress) sdk.Coins {
	return sdk.NewCoins(sdk.NewInt64Coin("uopen", 1_000_000_000))
}

type stubDistr struct{}

func (stubDistr) FundCommunityPool(context.Context, sdk.Coins, sdk.AccAddress) error { return nil }

func newFixture(t testing.TB) *fixture {
	t.Helper()
	enc := encoding()
	keys := storetypes.NewKVStoreKeys(types.StoreKey, datanettypes.StoreKey)
	tkeys := storetypes.NewTransientStoreKeys("transient_test")
	ctx := testutil.DefaultContextWithKeys(keys, tkeys, nil).WithBlockHeight(10)
	ac := addresscodec.NewBech32Codec("open")
	authority, err := ac.BytesToString(authtypes.NewModuleAddress(govtypes.ModuleName))
	if err != nil {
		t.Fatal(err)
	}
	dn := datanetkeeper.NewKeeper(enc.Codec, runtime.NewKVStoreService(keys[datanettypes.StoreKey]), ac, authority,
		stubAccounts{}, stubBank{}, stubDistr{})
	if err := dn.InitGenesis(ctx, *datanettypes.DefaultGenesis()); err != nil {
		t.Fatal(err)
	}
	k := keeper.NewKeeper(enc.Codec, runtime.NewKVStoreService(keys[types.StoreKey]), ac, authority, dn)
	if err := k.InitGenesis(ctx, *types.DefaultGenesis()); err != nil {
		t.Fatal(err)
	}
	addr := func(name string) string {
		s, err := ac.BytesToString(sdk.AccAddress([]byte(fmt.Sprintf("%-20s", name))))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return &fixture{
		t: t, ctx: ctx, k: k, msg: keeper.NewMsgServerImpl(k), query: keeper.NewQueryServerImpl(k),
		dn: dn, dnMsg: datanetkeeper.NewMsgServerImpl(dn), authority: authority,
		alice: addr("alice"), bob: addr("bob"), carol: addr("carol"),
	}
}

// digest returns the sha256 hex and a CIDv1 (raw, sha2-256) of s.
func digest(s string) (string, string) {
	sum := sha256.Sum256([]byte(s))
	h, _ := mh.Encode(sum[:], mh.SHA2_256)
	return hex.EncodeToString(sum[:]), cid.NewCidV1(cid.Raw, h).String()
}

// datasetVersion creates a datanet owned by alice with one accepted contribution
// and freezes its version 1, through x/datanet's own msg server.
func (f *fixture) datasetVersion() types.DatasetVersionRef {
	f.t.Helper()
	res, err := f.dnMsg.CreateDatanet(f.ctx, &datanettypes.MsgCreateDatanet{
		Owner: f.alice, Name: "proverbs", License: "CC-BY-4.0",
		Curation:            datanettypes.Curation{Curators: []string{f.bob}, ApprovalQuorum: 1, ReviewWindowBlocks: 100},
		ContributionDeposit: sdk.NewCoin("uopen", sdkmath.NewInt(1000)),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.contents++
	sum, c := digest(fmt.Sprintf("record %d\n", f.contents))
	sub, err := f.dnMsg.SubmitContribution(f.ctx, &datanettypes.MsgSubmitContribution{
		Contributor: f.carol, DatanetId: res.DatanetId, Cid: c, Sha256: sum, SizeBytes: 10, RecordCount: 1, MediaType: "text/plain",
	})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.dnMsg.ReviewContribution(f.ctx, &datanettypes.MsgReviewContribution{
		Curator: f.bob, ContributionId: sub.ContributionId, Decision: datanettypes.REVIEW_DECISION_APPROVE,
	}); err != nil {
		f.t.Fatal(err)
	}
	v, err := f.dnMsg.CreateDatasetVersion(f.ctx, &datanettypes.MsgCreateDatasetVersion{Creator: f.alice, DatanetId: res.DatanetId})
	if err != nil {
		f.t.Fatal(err)
	}
	return types.DatasetVersionRef{DatanetId: v.Version.DatanetId, Version: v.Version.Version}
}

// createModel registers a model owned by owner.
func (f *fixture) createModel(owner string) uint64 {
	f.t.Helper()
	res, err := f.msg.CreateModel(f.ctx, &types.MsgCreateModel{Owner: owner, Name: "tiny", Task: "text-generation", License: "MIT"})
	if err != nil {
		f.t.Fatal(err)
	}
	return res.ModelId
}

// publishMsg is a valid PublishVersion msg for model id, trained on datasets.
func (f *fixture) publishMsg(owner string, id uint64, datasets ...types.DatasetVersionRef) *types.MsgPublishVersion {
	asum, acid := digest(fmt.Sprintf("weights of %d", id))
	msum, mcid := digest(fmt.Sprintf("manifest of %d", id))
	return &types.MsgPublishVersion{
		Owner: owner, ModelId: id, Kind: types.VERSION_KIND_PRETRAIN, DatasetVersions: datasets,
		ArtifactCid: acid, ArtifactSha256: asum, ArtifactSize: 1234, ManifestCid: mcid, ManifestSha256: msum,
		EngineName: "openledger-ml", EngineVersion: "v0.1.0",
		Metrics: &types.Metrics{EvalLossMicro: 2_500_000, TokensTrained: 10_000, ParameterCount: 840_000},
	}
}

// publish publishes msg and returns the version number.
func (f *fixture) publish(msg *types.MsgPublishVersion) uint64 {
	f.t.Helper()
	res, err := f.msg.PublishVersion(f.ctx, msg)
	if err != nil {
		f.t.Fatal(err)
	}
	return res.Version
}

func (f *fixture) checkInvariants() {
	f.t.Helper()
	if err := f.k.CheckInvariants(f.ctx); err != nil {
		f.t.Fatal(err)
	}
}

func royalty(n int64) sdk.Coin { return sdk.NewInt64Coin("uopen", n) }

func joinQ(h int64, id uint64) collections.Pair[int64, uint64] { return collections.Join(h, id) }

func joinV(m, v uint64) collections.Pair[uint64, uint64] { return collections.Join(m, v) }

func codecJSON() codec.JSONCodec { return encoding().Codec }

// encoding registers the two modules' types without importing the module packages
// (whose CLI pulls in the off-chain storage and ml packages).
func encoding() moduletestutil.TestEncodingConfig {
	enc := moduletestutil.MakeTestEncodingConfig()
	types.RegisterInterfaces(enc.InterfaceRegistry)
	types.RegisterLegacyAminoCodec(enc.Amino)
	datanettypes.RegisterInterfaces(enc.InterfaceRegistry)
	datanettypes.RegisterLegacyAminoCodec(enc.Amino)
	return enc
}
