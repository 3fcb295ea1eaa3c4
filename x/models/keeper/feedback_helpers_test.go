package keeper_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/inference/voucher"
	tk "github.com/openledger/openledger/testutil/keeper"
	datanettypes "github.com/openledger/openledger/x/datanet/types"
	inferencekeeper "github.com/openledger/openledger/x/inference/keeper"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
	"github.com/openledger/openledger/x/models/keeper"
	"github.com/openledger/openledger/x/models/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// Accounts of the feedback tests (0–2 build the inference fixture: 0 datanet owner,
// 1 curator, 2 contributor and model developer).
const (
	fbDev       = 2
	fbRequester = 3
	fbProvider  = 4
	fbStranger  = 7
	fbAccounts  = 8

	fbComputePrice = 800 // per 1,000 tokens
	fbRoyalty      = 200 // per 1,000 tokens
	fbBaseLoss     = 2_000_000
)

// fbEnv is an app-backed fixture with a deployment of a base version (v2 of the
// fixture model, eval loss 2.0, trained on the fixture's dataset version) offered by
// one provider; the tests rate jobs and session requests served by it through the
// real x/inference keeper.
type fbEnv struct {
	t       testing.TB
	f       *tk.InferenceFixture
	ctx     sdk.Context
	models  types.MsgServer
	query   types.QueryServer
	infer   inferencetypes.MsgServer
	dnMsg   datanettypes.MsgServer
	base    uint64 // base version number
	deploy  uint64 // deployment of the base version
	sessKey ed25519.PrivateKey
}

func newFbEnv(t testing.TB) *fbEnv {
	t.Helper()
	f := tk.NewInferenceFixture(t, fbAccounts)
	ctx := f.Ctx
	e := &fbEnv{
		t: t, f: f, ctx: ctx,
		models: keeper.NewMsgServerImpl(f.App.ModelsKeeper), query: keeper.NewQueryServerImpl(f.App.ModelsKeeper),
		infer: f.Msg, dnMsg: f.Fixture.Msg,
	}
	e.base = e.publish(ctx, types.VERSION_KIND_SFT, f.ModelVersion,
		[]types.DatasetVersionRef{{DatanetId: f.DatanetID, Version: f.DatasetVersion}}, 0,
		types.Metrics{EvalLossMicro: fbBaseLoss, ParentEvalLossMicro: fbBaseLoss})
	dep, err := e.models.CreateDeployment(ctx, &types.MsgCreateDeployment{
		Owner: f.Addr(fbDev), ModelId: f.ModelID, Version: e.base,
		RoyaltyPerThousandTokens: sdk.NewInt64Coin(tk.Denom, fbRoyalty), DeveloperBps: 4_000, DataBps: 6_000,
	})
	if err != nil {
		t.Fatalf("deploy base: %v", err)
	}
	e.deploy = dep.DeploymentId
	f.RegisterProvider(ctx, fbProvider, 2_000_000, fbComputePrice)
	if _, err := e.infer.SetOffer(ctx, &inferencetypes.MsgSetOffer{
		Operator: f.Addr(fbProvider), DeploymentId: e.deploy,
		ComputePricePerThousandTokens: sdk.NewInt64Coin(tk.Denom, fbComputePrice), MaxConcurrency: 4,
	}); err != nil {
		t.Fatalf("offer: %v", err)
	}
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, "feedback session key")
	e.sessKey = ed25519.NewKeyFromSeed(seed)
	return e
}

func (e *fbEnv) addr(i int) string { return e.f.Addr(i) }

// publish publishes a version of the fixture model with a parent (version number of
// the same model), dataset versions, upstream share and metrics; it returns its number.
func (e *fbEnv) publish(ctx sdk.Context, kind types.VersionKind, parent uint64, datasets []types.DatasetVersionRef,
	upstream uint32, metrics types.Metrics,
) uint64 {
	e.t.Helper()
	v, err := e.publishErr(ctx, kind, parent, datasets, upstream, metrics)
	if err != nil {
		e.t.Fatalf("publish: %v", err)
	}
	return v
}

func (e *fbEnv) publishErr(ctx sdk.Context, kind types.VersionKind, parent uint64, datasets []types.DatasetVersionRef,
	upstream uint32, metrics types.Metrics,
) (uint64, error) {
	sha, cid := tk.Content(fmt.Sprintf("weights %d %d %v", kind, parent, metrics))
	res, err := e.models.PublishVersion(ctx, &types.MsgPublishVersion{
		Owner: e.addr(fbDev), ModelId: e.f.ModelID, Kind: kind, Parent: &types.VersionRef{ModelId: e.f.ModelID, Version: parent},
		DatasetVersions: datasets, ArtifactCid: cid, ArtifactSha256: sha, ArtifactSize: 100, ManifestCid: cid, ManifestSha256: sha,
		EngineName: "openledger-ml", EngineVersion: "v1", Metrics: &metrics, UpstreamShareBps: upstream,
	})
	if err != nil {
		return 0, err
	}
	return res.Version, nil
}

// job runs a job of requester on the base deployment to a PENDING receipt of tokens
// tokens with summary (the zero summary: the fixture's) and returns its id and a
// context at the receipt's height.
func (e *fbEnv) job(ctx sdk.Context, requester int, tokens uint64, summary *rewardstypes.AttributionSummary) (uint64, sdk.Context) {
	e.t.Helper()
	id, ctx := e.awardedJob(ctx, requester)
	sha, outCID := tk.Content(fmt.Sprintf("output of job %d", id))
	_, recordCID := tk.Content(fmt.Sprintf("record of job %d", id))
	s := e.fixtureSummary()
	if summary != nil {
		s = *summary
	}
	msg := &inferencetypes.MsgSubmitReceipt{
		Provider: e.addr(fbProvider), JobId: id, OutputCid: outCID, OutputSha256: sha,
		PromptTokens: tokens / 2, CompletionTokens: tokens - tokens/2, EngineName: "openledger-ml", EngineVersion: "v1",
		RecordCid: recordCID, Summary: s,
	}
	j, err := e.f.K.GetJob(ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := inferencekeeper.CanonicalJobReceipt(ctx.ChainID(), inferencetypes.Receipt{
		JobId: id, Provider: msg.Provider, OutputCid: msg.OutputCid, OutputSha256: msg.OutputSha256,
		PromptTokens: msg.PromptTokens, CompletionTokens: msg.CompletionTokens,
		EngineName: msg.EngineName, EngineVersion: msg.EngineVersion, ModelId: j.ModelId, ModelVersion: j.ModelVersion,
		RecordCid: msg.RecordCid, Summary: msg.Summary,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	key, _ := e.f.PeerKey(fbProvider)
	signed, err := voucher.SignReceipt(r, key)
	if err != nil {
		e.t.Fatal(err)
	}
	msg.Signature = signed.Signature
	if _, err := e.infer.SubmitReceipt(ctx, msg); err != nil {
		e.t.Fatalf("receipt of job %d: %v", id, err)
	}
	return id, ctx
}

// fixtureSummary attributes everything to the fixture's first contribution.
func (e *fbEnv) fixtureSummary() rewardstypes.AttributionSummary {
	s := e.f.Summary
	s.Top = []rewardstypes.ContributionWeight{{DatanetId: e.f.DatanetID, Version: e.f.DatasetVersion, ContributionId: e.f.ContributionIDs[0], Ppm: 1_000_000}}
	s.Pools = nil
	return s
}

// awardedJob creates a job of requester on the deployment and has the provider win it.
func (e *fbEnv) awardedJob(ctx sdk.Context, requester int) (uint64, sdk.Context) {
	e.t.Helper()
	sha, cid := tk.Content(fmt.Sprintf("prompt of %d at %d", requester, ctx.BlockHeight()))
	res, err := e.infer.CreateJob(ctx, &inferencetypes.MsgCreateJob{
		Requester: e.addr(requester), DeploymentId: e.deploy, InputCid: cid, InputSha256: sha,
		MaxTokens: 10_000, MaxComputePricePerThousandTokens: sdk.NewInt64Coin(tk.Denom, 1_000),
		BidWindowBlocks: 5, ExecutionBlocks: 20,
		Params: inferencetypes.GenerationParams{TemperatureMilli: 700, TopK: 40, TopPPpm: 900_000, Seed: 42},
	})
	if err != nil {
		e.t.Fatalf("create job: %v", err)
	}
	if _, err := e.infer.Bid(ctx, &inferencetypes.MsgBid{Provider: e.addr(fbProvider), JobId: res.JobId, Price: sdk.NewInt64Coin(tk.Denom, fbComputePrice)}); err != nil {
		e.t.Fatalf("bid: %v", err)
	}
	j, err := e.f.K.GetJob(ctx, res.JobId)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx = e.f.AdvanceTo(ctx, j.BidCloseHeight+1)
	if j, _ = e.f.K.GetJob(ctx, res.JobId); j.Status != inferencetypes.JOB_STATUS_AWARDED {
		e.t.Fatalf("job %d is %s, want AWARDED", res.JobId, j.Status)
	}
	return res.JobId, ctx
}

// sessionReq is one served session request: its signed receipt and proof.
type sessionReq struct {
	receipt []byte
	proof   [][]byte
}

// session opens a session of requester with the provider and settles n requests of
// 100 tokens each in one voucher (1 uopen per token). It returns the session id, the
// settlement id, the requests and a context at the settlement's height.
func (e *fbEnv) session(ctx sdk.Context, requester int, n int) (uint64, uint64, []sessionReq, sdk.Context) {
	e.t.Helper()
	open, err := e.infer.OpenSession(ctx, &inferencetypes.MsgOpenSession{
		Requester: e.addr(requester), Provider: e.addr(fbProvider), DeploymentId: e.deploy,
		Deposit: sdk.NewInt64Coin(tk.Denom, 1_000_000), ExpiryHeight: ctx.BlockHeight() + 100,
		SessionPubkey: e.sessKey.Public().(ed25519.PublicKey),
	})
	if err != nil {
		e.t.Fatalf("open session: %v", err)
	}
	key, _ := e.f.PeerKey(fbProvider)
	wires := make([][]byte, n)
	leaves := make([][32]byte, n)
	for i := range n {
		_, outCID := tk.Content(fmt.Sprintf("session %d output %d", open.SessionId, i))
		r, err := voucher.SignReceipt(voucher.Receipt{
			ChainID: ctx.ChainID(), Provider: e.addr(fbProvider), SessionID: open.SessionId, RequestSeq: uint64(i + 1), RequestSHA256: sha256.Sum256([]byte(fmt.Sprintf("request %d", i+1))),
			OutputCID: outCID, PromptTokens: 50, CompletionTokens: 50, EngineName: "openledger-ml", EngineVersion: "v1",
			ModelID: e.f.ModelID, ModelVersion: e.base,
		}, key)
		if err != nil {
			e.t.Fatalf("sign receipt: %v", err)
		}
		wires[i], leaves[i] = r.Marshal(), r.LeafHash()
	}
	root := voucher.Root(leaves)
	tokens := uint64(100 * n)
	v, err := voucher.Sign(voucher.Voucher{
		ChainID: ctx.ChainID(), SessionID: open.SessionId, Sequence: 1, Denom: tk.Denom,
		CumulativeAmount: sdkmath.NewIntFromUint64(tokens), CumulativeTokens: tokens, ReceiptCount: uint64(n), ReceiptsRoot: root,
	}, e.sessKey)
	if err != nil {
		e.t.Fatalf("sign voucher: %v", err)
	}
	_, recordCID := tk.Content("session record")
	res, err := e.infer.SettleSession(ctx, &inferencetypes.MsgSettleSession{
		Provider: e.addr(fbProvider), SessionId: open.SessionId, RecordCid: recordCID, Summary: e.fixtureSummary(),
		Voucher: inferencetypes.Voucher{
			Sequence: 1, CumulativeAmount: sdkmath.NewIntFromUint64(tokens), CumulativeTokens: tokens, ReceiptCount: uint64(n),
			ReceiptsRoot: root[:], Signature: v.Signature,
		},
	})
	if err != nil {
		e.t.Fatalf("settle session: %v", err)
	}
	reqs := make([]sessionReq, n)
	for i := range n {
		p, err := voucher.Proof(leaves, i)
		if err != nil {
			e.t.Fatal(err)
		}
		reqs[i].receipt = wires[i]
		for _, h := range p {
			reqs[i].proof = append(reqs[i].proof, append([]byte(nil), h[:]...))
		}
	}
	return open.SessionId, res.SettlementId, reqs, ctx
}

// setParams edits the models params.
func (e *fbEnv) setParams(ctx sdk.Context, edit func(*types.Params)) {
	e.t.Helper()
	p, err := e.f.App.ModelsKeeper.Params.Get(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	edit(&p)
	if err := p.Validate(); err != nil {
		e.t.Fatal(err)
	}
	if err := e.f.App.ModelsKeeper.Params.Set(ctx, p); err != nil {
		e.t.Fatal(err)
	}
}

// invariants runs the models, datanet, inference and rewards invariants.
func (e *fbEnv) invariants(ctx sdk.Context) {
	e.t.Helper()
	if err := e.f.App.ModelsKeeper.CheckInvariants(ctx); err != nil {
		e.t.Fatalf("models invariant: %v", err)
	}
	e.f.CheckInvariants(ctx)
	e.f.CheckInferenceInvariants(ctx)
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && err == nil:
		t.Fatalf("expected %v, got success", want)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("expected %v, got %v", want, err)
	}
}
