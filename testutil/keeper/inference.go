package keeper

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"

	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	datanettypes "github.com/openledger/openledger/x/datanet/types"
	inferencekeeper "github.com/openledger/openledger/x/inference/keeper"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
	modelskeeper "github.com/openledger/openledger/x/models/keeper"
	modelstypes "github.com/openledger/openledger/x/models/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// InferenceFixture is an app-backed fixture with one ACTIVE deployment whose model
// version was trained on a frozen dataset version of two accepted contributions.
// Accounts: 0 datanet owner, 1 curator, 2 contributor and model developer; the
// others are free for requesters and providers.
type InferenceFixture struct {
	*Fixture
	K     inferencekeeper.Keeper
	Msg   inferencetypes.MsgServer
	Query inferencetypes.QueryServer

	DatanetID, DatasetVersion uint64
	ContributionIDs           []uint64
	ModelID, ModelVersion     uint64
	DeploymentID              uint64
	// Royalty is the deployment's royalty per 1,000 tokens.
	Royalty sdk.Coin
	// Summary is a valid attribution summary for the deployment.
	Summary rewardstypes.AttributionSummary
}

// InferenceRoyalty is the fixture deployment's royalty per 1,000 tokens.
const InferenceRoyalty = 200

// NewInferenceFixture starts an app with n ≥ 5 funded accounts and builds the
// dataset version, the model version and the deployment through the real msg servers.
func NewInferenceFixture(tb testing.TB, n int) *InferenceFixture {
	tb.Helper()
	if n < 5 {
		n = 5
	}
	base := NewFixture(tb, n)
	ctx := base.Ctx
	owner, curator, dev := base.Addr(0), base.Addr(1), base.Addr(2)
	dn := base.CreateDatanet(ctx, CreateDatanetMsg(owner, []string{curator}, 1, 100, datanettypes.Requirements{}, 1_000))
	var ids []uint64
	for _, text := range []string{"a stitch in time saves nine", "the early bird catches the worm"} {
		id := base.Submit(ctx, dev, dn, text)
		if st := base.Review(ctx, curator, id, datanettypes.REVIEW_DECISION_APPROVE); st != datanettypes.CONTRIBUTION_STATUS_ACCEPTED {
			tb.Fatalf("contribution %d: %s", id, st)
		}
		ids = append(ids, id)
	}
	ver, err := base.Msg.CreateDatasetVersion(ctx, &datanettypes.MsgCreateDatasetVersion{Creator: owner, DatanetId: dn})
	if err != nil {
		tb.Fatalf("create dataset version: %v", err)
	}

	a := base.App
	models := modelskeeper.NewMsgServerImpl(a.ModelsKeeper)
	model, err := models.CreateModel(ctx, &modelstypes.MsgCreateModel{Owner: dev, Name: "tiny", Task: "text-generation", License: "MIT"})
	if err != nil {
		tb.Fatalf("create model: %v", err)
	}
	sha, cid := Content("tiny model weights")
	pub, err := models.PublishVersion(ctx, &modelstypes.MsgPublishVersion{
		Owner: dev, ModelId: model.ModelId, Kind: modelstypes.VERSION_KIND_PRETRAIN,
		DatasetVersions: []modelstypes.DatasetVersionRef{{DatanetId: dn, Version: ver.Version.Version}},
		ArtifactCid:     cid, ArtifactSha256: sha, ArtifactSize: 18, ManifestCid: cid, ManifestSha256: sha,
		EngineName: "openledger-ml", EngineVersion: "v1",
	})
	if err != nil {
		tb.Fatalf("publish version: %v", err)
	}
	royalty := sdk.NewInt64Coin(Denom, InferenceRoyalty)
	dep, err := models.CreateDeployment(ctx, &modelstypes.MsgCreateDeployment{
		Owner: dev, ModelId: model.ModelId, Version: pub.Version,
		RoyaltyPerThousandTokens: royalty, DeveloperBps: 4_000, DataBps: 6_000,
	})
	if err != nil {
		tb.Fatalf("create deployment: %v", err)
	}
	recordSHA := sha256.Sum256([]byte("fixture attribution record"))
	return &InferenceFixture{
		Fixture: base, K: a.InferenceKeeper,
		Msg:       inferencekeeper.NewMsgServerImpl(a.InferenceKeeper),
		Query:     inferencekeeper.NewQueryServerImpl(a.InferenceKeeper),
		DatanetID: dn, DatasetVersion: ver.Version.Version, ContributionIDs: ids,
		ModelID: model.ModelId, ModelVersion: pub.Version, DeploymentID: dep.DeploymentId, Royalty: royalty,
		Summary: rewardstypes.AttributionSummary{
			RecordSha256: fmt.Sprintf("%x", recordSHA),
			Top:          []rewardstypes.ContributionWeight{{DatanetId: dn, Version: ver.Version.Version, ContributionId: ids[0], Ppm: 600_000}},
			Pools:        []rewardstypes.PoolWeight{{DatanetId: dn, Version: ver.Version.Version, Ppm: 400_000}},
		},
	}
}

// PeerKey returns account i's deterministic libp2p identity (ed25519) and peer id.
func (f *InferenceFixture) PeerKey(i int) (libp2pcrypto.PrivKey, string) {
	return PeerKey(f.T, i)
}

// PeerKey returns the i-th deterministic libp2p ed25519 identity and its peer id.
func PeerKey(tb testing.TB, i int) (libp2pcrypto.PrivKey, string) {
	tb.Helper()
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, "openledger-test-peer")
	binary.BigEndian.PutUint32(seed[ed25519.SeedSize-4:], uint32(i))
	priv, _, err := libp2pcrypto.KeyPairFromStdKey(ptr(ed25519.NewKeyFromSeed(seed)))
	if err != nil {
		tb.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	return priv, id.String()
}

func ptr[T any](v T) *T { return &v }

// RegisterProvider registers account i as an ACTIVE provider (CPU, built-in engine)
// with its PeerKey, stake in uopen, and an offer for the fixture deployment at price
// uopen per 1,000 tokens.
func (f *InferenceFixture) RegisterProvider(ctx sdk.Context, i int, stake, price int64) {
	f.T.Helper()
	_, peerID := f.PeerKey(i)
	if _, err := f.Msg.RegisterProvider(ctx, &inferencetypes.MsgRegisterProvider{
		Operator: f.Addr(i), PeerId: peerID,
		Multiaddrs: []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", 4001+i)},
		Hardware:   inferencetypes.Hardware{Accelerator: "cpu", MemoryMib: 4_096, Count: 2},
		Engines:    []string{"openledger-ml"}, Moniker: fmt.Sprintf("provider-%d", i),
		Stake: sdk.NewCoin(Denom, sdkmath.NewInt(stake)),
	}); err != nil {
		f.T.Fatalf("register provider %d: %v", i, err)
	}
	if _, err := f.Msg.SetOffer(ctx, &inferencetypes.MsgSetOffer{
		Operator: f.Addr(i), DeploymentId: f.DeploymentID,
		ComputePricePerThousandTokens: sdk.NewCoin(Denom, sdkmath.NewInt(price)), MaxConcurrency: 4,
	}); err != nil {
		f.T.Fatalf("set offer %d: %v", i, err)
	}
}

// EndBlock runs the inference and rewards EndBlockers at ctx's height and returns
// a context at the next height.
func (f *InferenceFixture) EndBlock(ctx sdk.Context) sdk.Context {
	f.T.Helper()
	if err := f.K.EndBlocker(ctx); err != nil {
		f.T.Fatalf("inference EndBlocker at %d: %v", ctx.BlockHeight(), err)
	}
	if err := f.App.RewardsKeeper.EndBlocker(ctx); err != nil {
		f.T.Fatalf("rewards EndBlocker at %d: %v", ctx.BlockHeight(), err)
	}
	return ctx.WithBlockHeight(ctx.BlockHeight() + 1).WithEventManager(sdk.NewEventManager())
}

// AdvanceTo runs EndBlock at every height from ctx's up to h-1 and returns a
// context at height h.
func (f *InferenceFixture) AdvanceTo(ctx sdk.Context, h int64) sdk.Context {
	f.T.Helper()
	for ctx.BlockHeight() < h {
		ctx = f.EndBlock(ctx)
	}
	return ctx
}

// CheckInferenceInvariants fails the test if any x/inference or x/rewards
// invariant is broken.
func (f *InferenceFixture) CheckInferenceInvariants(ctx sdk.Context) {
	f.T.Helper()
	if err := f.K.AllInvariants(ctx); err != nil {
		f.T.Fatalf("inference invariant: %v", err)
	}
	if err := f.App.RewardsKeeper.BalanceInvariant(ctx); err != nil {
		f.T.Fatalf("rewards invariant: %v", err)
	}
}
