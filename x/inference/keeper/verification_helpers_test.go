package keeper_test

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	distrtypes "github.com/cosmos/cosmos-sdk/x/distribution/types"

	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/inference/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// Accounts of the verification tests: 0–2 build the fixture's deployment, 3 is the
// requester, 4..11 are providers (stakes rising by 500,000 from 2,000,000), 12 a
// challenger that is no provider, 13 a stranger.
const (
	vRequester  = 3
	vFirstProv  = 4
	vLastProv   = 11
	vChallenger = 12
	vStranger   = 13
	vAccounts   = 14
	vBond       = 200_000
)

func vStake(i int) int64 { return 2_000_000 + int64(i-vFirstProv)*500_000 }

// verif is a market with eight providers, block hashes derived from a salt, and the
// helpers to post receipts, challenge them and vote.
type verif struct {
	*market
	salt  string
	index map[string]int // operator → account index
}

// newVerif builds the env with audits off (unless edit turns them on).
func newVerif(t testing.TB, salt string, edit func(*types.Params)) *verif {
	return newVerifN(t, salt, 0, edit)
}

// newVerifN is newVerif with extra providers at accounts vAccounts, vAccounts+1, ….
func newVerifN(t testing.TB, salt string, extra int, edit func(*types.Params)) *verif {
	t.Helper()
	f := tk.NewInferenceFixture(t, vAccounts+extra)
	ctx := f.Ctx
	v := &verif{salt: salt, index: map[string]int{}}
	for i := vFirstProv; i < vAccounts+extra; i++ {
		if i > vLastProv && i < vAccounts {
			continue
		}
		f.RegisterProvider(ctx, i, vStake(min(i, vLastProv)), mktOffer)
		v.index[f.Addr(i)] = i
	}
	params, err := f.K.Params.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v.market = &market{t: t, f: f, ctx: ctx, params: params}
	v.setParams(ctx, func(p *types.Params) {
		p.AuditBps = 0
		if edit != nil {
			edit(p)
		}
	})
	v.params, _ = f.K.Params.Get(ctx)
	v.ctx = v.withHash(ctx)
	return v
}

// hashAt is the test chain's block hash at height h.
func (v *verif) hashAt(h int64) []byte {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(h))
	sum := sha256.Sum256(append([]byte("block "+v.salt), n[:]...))
	return sum[:]
}

func (v *verif) withHash(ctx sdk.Context) sdk.Context {
	info := ctx.HeaderInfo()
	info.Height, info.Hash = ctx.BlockHeight(), v.hashAt(ctx.BlockHeight())
	return ctx.WithHeaderHash(info.Hash).WithHeaderInfo(info)
}

// advance runs EndBlock (with each block's hash) up to h-1 and returns a context at h.
func (v *verif) advance(ctx sdk.Context, h int64) sdk.Context {
	v.t.Helper()
	for ctx.BlockHeight() < h {
		ctx = v.f.EndBlock(v.withHash(ctx))
	}
	return v.withHash(ctx)
}

// truth is what re-executing job id really gives.
func (v *verif) truth(id uint64) types.VerificationResult {
	sha, _ := tk.Content(fmt.Sprintf("output of job %d", id))
	_, recordCID := tk.Content(fmt.Sprintf("record of job %d", id))
	return types.VerificationResult{
		OutputSha256: sha, PromptTokens: 100, CompletionTokens: 400, RecordCid: recordCID, Summary: v.f.Summary,
	}
}

// forgedSummary credits the second contribution with almost everything.
func (v *verif) forgedSummary() rewardstypes.AttributionSummary {
	sum := sha256.Sum256([]byte("forged attribution record"))
	return rewardstypes.AttributionSummary{
		RecordSha256: fmt.Sprintf("%x", sum),
		Top: []rewardstypes.ContributionWeight{{
			DatanetId: v.f.DatanetID, Version: v.f.DatasetVersion, ContributionId: v.f.ContributionIDs[1], Ppm: 900_000,
		}},
		Pools: []rewardstypes.PoolWeight{{DatanetId: v.f.DatanetID, Version: v.f.DatasetVersion, Ppm: 100_000}},
	}
}

// postReceipt awards a new job to provider prov and posts a receipt with what
// claimed says (edit the truth to forge); it returns the job id and a context at
// the receipt's height.
func (v *verif) postReceipt(ctx sdk.Context, prov int, claimed func(id uint64, r *types.VerificationResult)) (uint64, sdk.Context) {
	v.t.Helper()
	id, ctx := v.awardTo(ctx, prov, mktOffer)
	ctx = v.withHash(ctx)
	r := v.truth(id)
	if claimed != nil {
		claimed(id, &r)
	}
	msg := &types.MsgSubmitReceipt{
		Provider: v.addr(prov), JobId: id, OutputCid: v.truthCID(id), OutputSha256: r.OutputSha256,
		PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens, EngineName: "openledger-ml", EngineVersion: "v1",
		RecordCid: r.RecordCid, Summary: r.Summary,
	}
	msg.Signature = v.sign(ctx, msg, prov)
	if _, err := v.f.Msg.SubmitReceipt(ctx, msg); err != nil {
		v.t.Fatalf("submit receipt: %v", err)
	}
	return id, ctx
}

func (v *verif) truthCID(id uint64) string {
	_, cid := tk.Content(fmt.Sprintf("output of job %d", id))
	return cid
}

func (v *verif) challengeMsg(by int, kind types.TargetKind, id uint64, claim types.Claim, bond int64) *types.MsgChallenge {
	return &types.MsgChallenge{Challenger: v.addr(by), TargetKind: kind, TargetId: id, Claim: claim, Bond: mktCoin(bond)}
}

// challenge posts a challenge of job id's receipt and returns the dispute with its
// committee drawn (a context at the next height).
func (v *verif) challenge(ctx sdk.Context, by int, id uint64, claim types.Claim) (types.Dispute, sdk.Context) {
	v.t.Helper()
	res, err := v.f.Msg.Challenge(ctx, v.challengeMsg(by, types.TARGET_KIND_JOB_RECEIPT, id, claim, vBond))
	if err != nil {
		v.t.Fatalf("challenge: %v", err)
	}
	ctx = v.advance(ctx, ctx.BlockHeight()+1)
	return v.dispute(ctx, res.DisputeId), ctx
}

func (v *verif) dispute(ctx sdk.Context, id uint64) types.Dispute {
	v.t.Helper()
	d, err := v.f.K.GetDispute(ctx, id)
	if err != nil {
		v.t.Fatal(err)
	}
	return d
}

// salt is a member's deterministic salt.
func salt(op string) []byte {
	s := sha256.Sum256([]byte("salt of " + op))
	return s[:]
}

// ballotFn says what a member votes and whether it commits and reveals.
type ballotFn func(m types.CommitteeMember) (vote types.Vote, commit, reveal bool)

// honestly votes that the claim holds exactly when the target differs from truth,
// carrying truth.
func honestly(holds bool, truth types.VerificationResult) ballotFn {
	return func(types.CommitteeMember) (types.Vote, bool, bool) {
		return types.Vote{ClaimHolds: holds, Result: truth}, true, true
	}
}

// vote runs the commit and reveal windows of dispute d with the members' ballots and
// returns a context after the tally.
func (v *verif) vote(ctx sdk.Context, d types.Dispute, ballots ballotFn) sdk.Context {
	v.t.Helper()
	if d.Status != types.DISPUTE_STATUS_VOTING {
		v.t.Fatalf("dispute %d is %s (%s)", d.Id, d.Status, d.Reason)
	}
	type rev struct {
		op   string
		vote types.Vote
	}
	var reveals []rev
	for _, m := range d.Committee {
		vote, commit, reveal := ballots(m)
		if !commit {
			continue
		}
		c, err := types.VoteCommitment(d.Id, m.Operator, vote, salt(m.Operator))
		if err != nil {
			v.t.Fatal(err)
		}
		if _, err := v.f.Msg.CommitVote(ctx, &types.MsgCommitVote{Voter: m.Operator, DisputeId: d.Id, Commitment: c}); err != nil {
			v.t.Fatalf("commit of %s: %v", m.Operator, err)
		}
		if reveal {
			reveals = append(reveals, rev{m.Operator, vote})
		}
	}
	ctx = v.advance(ctx, d.CommitEndHeight+1)
	for _, r := range reveals {
		if _, err := v.f.Msg.RevealVote(ctx, &types.MsgRevealVote{Voter: r.op, DisputeId: d.Id, Vote: r.vote, Salt: salt(r.op)}); err != nil {
			v.t.Fatalf("reveal of %s: %v", r.op, err)
		}
	}
	return v.advance(ctx, d.RevealEndHeight+1)
}

// snapshot is every balance and stake a dispute moves.
type snapshot struct {
	bal   map[int]sdkmath.Int
	stake map[int]sdkmath.Int
	pool  sdkmath.Int
}

func (v *verif) snap(ctx sdk.Context) snapshot {
	s := snapshot{bal: map[int]sdkmath.Int{}, stake: map[int]sdkmath.Int{}}
	for i := vRequester; i < vAccounts; i++ {
		s.bal[i] = v.balance(ctx, i)
	}
	for i := vFirstProv; i <= vLastProv; i++ {
		s.stake[i] = v.provider(ctx, i).Stake.Amount
	}
	s.pool = v.f.App.BankKeeper.GetBalance(ctx, authtypes.NewModuleAddress(distrtypes.ModuleName), tk.Denom).Amount
	return s
}

// members returns the committee's account indexes.
func (v *verif) members(d types.Dispute) []int {
	out := make([]int, len(d.Committee))
	for i, m := range d.Committee {
		out[i] = v.index[m.Operator]
	}
	return out
}
