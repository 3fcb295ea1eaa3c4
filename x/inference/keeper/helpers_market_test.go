package keeper_test

import (
	"errors"
	"fmt"
	"testing"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/inference/voucher"
	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/inference/keeper"
	"github.com/openledger/openledger/x/inference/types"
)

// Accounts of the market tests (0–2 build the fixture's deployment).
const (
	mktRequester = 3
	mktProvA     = 4
	mktProvB     = 5
	mktProvC     = 6
	mktStranger  = 7
	mktAccounts  = 8

	mktStake     = 2_000_000 // bonded by each provider (min 1,000,000)
	mktOffer     = 900       // each provider's offer per 1,000 tokens
	mktMaxPrice  = 1_000     // the jobs' max compute price per 1,000 tokens
	mktMaxTokens = 10_000
	mktWindow    = 5
	mktExec      = 20
)

// market is an inference fixture with three ACTIVE providers (A, B, C) offering the
// fixture deployment.
type market struct {
	t      testing.TB
	f      *tk.InferenceFixture
	ctx    sdk.Context
	params types.Params
}

func newMarket(t testing.TB) *market {
	t.Helper()
	f := tk.NewInferenceFixture(t, mktAccounts)
	ctx := f.Ctx
	for _, i := range []int{mktProvA, mktProvB, mktProvC} {
		f.RegisterProvider(ctx, i, mktStake, mktOffer)
	}
	params, err := f.K.Params.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &market{t: t, f: f, ctx: ctx, params: params}
}

func (m *market) addr(i int) string { return m.f.Addr(i) }

func (m *market) acc(i int) sdk.AccAddress { return m.f.Accounts[i].Addr }

func (m *market) balance(ctx sdk.Context, i int) sdkmath.Int { return m.f.Balance(ctx, m.addr(i)) }

func (m *market) moduleBalance(ctx sdk.Context) sdkmath.Int {
	return m.f.App.BankKeeper.GetBalance(ctx, m.f.K.ModuleAddress(), tk.Denom).Amount
}

func (m *market) supply(ctx sdk.Context) sdkmath.Int {
	return m.f.App.BankKeeper.GetSupply(ctx, tk.Denom).Amount
}

// setParams replaces the inference params.
func (m *market) setParams(ctx sdk.Context, edit func(*types.Params)) {
	m.t.Helper()
	p, err := m.f.K.Params.Get(ctx)
	if err != nil {
		m.t.Fatal(err)
	}
	edit(&p)
	if err := p.Validate(); err != nil {
		m.t.Fatal(err)
	}
	if err := m.f.K.Params.Set(ctx, p); err != nil {
		m.t.Fatal(err)
	}
}

func mktCoin(n int64) sdk.Coin { return sdk.NewInt64Coin(tk.Denom, n) }

// jobMsg is a valid MsgCreateJob from account i.
func (m *market) jobMsg(i int) *types.MsgCreateJob {
	sha, cid := tk.Content(fmt.Sprintf("prompt of %d", i))
	return &types.MsgCreateJob{
		Requester: m.addr(i), DeploymentId: m.f.DeploymentID, InputCid: cid, InputSha256: sha,
		MaxTokens: mktMaxTokens, MaxComputePricePerThousandTokens: mktCoin(mktMaxPrice),
		BidWindowBlocks: mktWindow, ExecutionBlocks: mktExec,
		Params: types.GenerationParams{TemperatureMilli: 700, TopK: 40, TopPPpm: 900_000, Seed: 42, Stop: []string{"\n\n"}},
	}
}

// createJob posts jobMsg(i) and returns the job id.
func (m *market) createJob(ctx sdk.Context, i int) uint64 {
	m.t.Helper()
	res, err := m.f.Msg.CreateJob(ctx, m.jobMsg(i))
	if err != nil {
		m.t.Fatalf("create job: %v", err)
	}
	return res.JobId
}

func (m *market) bid(ctx sdk.Context, i int, job uint64, price int64) error {
	_, err := m.f.Msg.Bid(ctx, &types.MsgBid{Provider: m.addr(i), JobId: job, Price: mktCoin(price)})
	return err
}

func (m *market) mustBid(ctx sdk.Context, i int, job uint64, price int64) {
	m.t.Helper()
	if err := m.bid(ctx, i, job, price); err != nil {
		m.t.Fatalf("bid of %d on job %d: %v", i, job, err)
	}
}

func (m *market) job(ctx sdk.Context, id uint64) types.Job {
	m.t.Helper()
	j, err := m.f.K.GetJob(ctx, id)
	if err != nil {
		m.t.Fatal(err)
	}
	return j
}

func (m *market) provider(ctx sdk.Context, i int) types.Provider {
	m.t.Helper()
	p, err := m.f.K.GetProvider(ctx, m.acc(i))
	if err != nil {
		m.t.Fatal(err)
	}
	return p
}

// awardTo creates a job from the requester, has provider i bid price alone and
// closes the auction; it returns the job id and a context after the award.
func (m *market) awardTo(ctx sdk.Context, i int, price int64) (uint64, sdk.Context) {
	m.t.Helper()
	id := m.createJob(ctx, mktRequester)
	m.mustBid(ctx, i, id, price)
	ctx = m.f.AdvanceTo(ctx, m.job(ctx, id).BidCloseHeight+1)
	if j := m.job(ctx, id); j.Status != types.JOB_STATUS_AWARDED || j.Winner != m.addr(i) {
		m.t.Fatalf("job %d: %s to %s, want AWARDED to %s", id, j.Status, j.Winner, m.addr(i))
	}
	return id, ctx
}

// receiptMsg is provider i's receipt for job id, signed with its peer key (signer
// = -1 leaves it unsigned, another index signs with that account's key).
func (m *market) receiptMsg(ctx sdk.Context, i int, id uint64, prompt, completion uint64, signer int) *types.MsgSubmitReceipt {
	m.t.Helper()
	sha, outCID := tk.Content(fmt.Sprintf("output of job %d", id))
	_, recordCID := tk.Content(fmt.Sprintf("record of job %d", id))
	msg := &types.MsgSubmitReceipt{
		Provider: m.addr(i), JobId: id, OutputCid: outCID, OutputSha256: sha,
		PromptTokens: prompt, CompletionTokens: completion, EngineName: "openledger-ml", EngineVersion: "v1",
		RecordCid: recordCID, Summary: m.f.Summary,
	}
	if signer >= 0 {
		msg.Signature = m.sign(ctx, msg, signer)
	}
	return msg
}

// sign returns account signer's peer-key signature over msg's canonical receipt.
func (m *market) sign(ctx sdk.Context, msg *types.MsgSubmitReceipt, signer int) []byte {
	m.t.Helper()
	j, err := m.f.K.GetJob(ctx, msg.JobId)
	if err != nil { // unknown job: any model version
		j = types.Job{ModelId: 1, ModelVersion: 1}
	}
	r, err := keeper.CanonicalJobReceipt(ctx.ChainID(), types.Receipt{
		JobId: msg.JobId, Provider: msg.Provider, OutputCid: msg.OutputCid, OutputSha256: msg.OutputSha256,
		PromptTokens: msg.PromptTokens, CompletionTokens: msg.CompletionTokens,
		EngineName: msg.EngineName, EngineVersion: msg.EngineVersion, ModelId: j.ModelId, ModelVersion: j.ModelVersion,
		RecordCid: msg.RecordCid, Summary: msg.Summary,
	})
	if err != nil {
		m.t.Fatal(err)
	}
	key, _ := m.f.PeerKey(signer)
	signed, err := voucher.SignReceipt(r, key)
	if err != nil {
		m.t.Fatalf("sign receipt: %v", err)
	}
	return signed.Signature
}

func (m *market) invariants(ctx sdk.Context) {
	m.t.Helper()
	m.f.CheckInferenceInvariants(ctx)
}

// wantErr fails unless err matches want (nil: no error).
func mktWantErr(t testing.TB, err, want error) {
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
