package keeper_test

import (
	"crypto/ed25519"
	"fmt"
	"sort"
	"testing"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/query"

	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/inference/keeper"
	"github.com/openledger/openledger/x/inference/types"
)

// auditOf waits for job id's challenge window to end and returns its audit dispute
// (drawn at the end of that block), failing if none was drawn.
func (v *verif) auditOf(ctx sdk.Context, id uint64) (types.Dispute, sdk.Context) {
	v.t.Helper()
	r, err := v.f.K.Receipts.Get(ctx, id)
	if err != nil {
		v.t.Fatal(err)
	}
	ctx = v.advance(ctx, r.ChallengeEndHeight+1)
	res, err := v.f.Query.DisputeByTarget(ctx, &types.QueryDisputeByTargetRequest{TargetKind: types.TARGET_KIND_JOB_RECEIPT, TargetId: id})
	if err != nil {
		v.t.Fatalf("no audit of job %d: %v", id, err)
	}
	return res.Dispute, ctx
}

// TestRandomAudits: with audits on, a receipt whose window ends is held and audited
// with no challenger: a forged output is voided and slashed (no challenger reward),
// a forged attribution is replaced, an honest receipt is paid, and with audits off
// nothing is held.
func TestRandomAudits(t *testing.T) {
	cases := []struct {
		name    string
		bps     uint32
		forge   func(v *verif) func(uint64, *types.VerificationResult)
		holds   bool
		want    types.DisputeOutcome
		wantJob types.JobStatus
	}{
		{"forged output caught", types.BpsScale, func(*verif) func(uint64, *types.VerificationResult) {
			return func(_ uint64, r *types.VerificationResult) { r.OutputSha256, _ = tk.Content("forged") }
		}, true, types.DISPUTE_OUTCOME_UPHELD, types.JOB_STATUS_VOIDED},
		{"forged attribution replaced", types.BpsScale, func(v *verif) func(uint64, *types.VerificationResult) {
			return func(_ uint64, r *types.VerificationResult) { r.Summary = v.forgedSummary() }
		}, true, types.DISPUTE_OUTCOME_UPHELD, types.JOB_STATUS_FINALIZED},
		{"honest receipt paid", types.BpsScale, nil, false, types.DISPUTE_OUTCOME_REJECTED, types.JOB_STATUS_FINALIZED},
		{"audits off", 0, nil, false, types.DISPUTE_OUTCOME_UNSPECIFIED, types.JOB_STATUS_FINALIZED},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerif(t, tc.name, func(p *types.Params) { p.AuditBps = tc.bps })
			var forge func(uint64, *types.VerificationResult)
			if tc.forge != nil {
				forge = tc.forge(v)
			}
			id, ctx := v.postReceipt(v.ctx, vFirstProv+1, forge)
			before := v.snap(ctx)
			if tc.bps == 0 {
				r, _ := v.f.K.Receipts.Get(ctx, id)
				ctx = v.advance(ctx, r.ChallengeEndHeight+1)
				if j := v.job(ctx, id); j.Status != tc.wantJob {
					t.Fatalf("job %s", j.Status)
				}
				return
			}
			d, ctx := v.auditOf(ctx, id)
			if d.Claim != types.CLAIM_AUDIT || d.Challenger != "" || d.Bond.IsPositive() || d.Status != types.DISPUTE_STATUS_VOTING {
				t.Fatalf("audit %+v", d)
			}
			if j := v.job(ctx, id); j.Status != types.JOB_STATUS_CHALLENGED {
				t.Fatalf("audited job %s", j.Status)
			}
			v.invariants(ctx)
			ctx = v.vote(ctx, d, honestly(tc.holds, v.truth(id)))
			v.invariants(ctx)
			after := v.snap(ctx)
			ctx = v.advance(ctx, ctx.BlockHeight()+1)
			v.invariants(ctx)
			d = v.dispute(ctx, d.Id)
			if d.Outcome != tc.want || !d.ChallengerReward.IsZero() {
				t.Fatalf("audit %s, challenger reward %s", d.Outcome, d.ChallengerReward)
			}
			if j := v.job(ctx, id); j.Status != tc.wantJob {
				t.Fatalf("job %s, want %s", j.Status, tc.wantJob)
			}
			if tc.want == types.DISPUTE_OUTCOME_UPHELD {
				got := after.pool.Sub(before.pool)
				if want := d.ProviderSlashed.Amount.Sub(d.VoterRewards.Amount); !got.Equal(want) || !want.IsPositive() {
					t.Fatalf("community pool gained %s, want %s", got, want)
				}
			}
		})
	}
}

// TestSettlementChallenge: a session settlement that over-counts usage is voided and
// its amount refunded to the requester; the session still closes exactly.
func TestSettlementChallenge(t *testing.T) {
	v := newVerif(t, "settlement", nil)
	ctx := v.ctx
	key := sessionKey(7)
	open, err := v.f.Msg.OpenSession(ctx, &types.MsgOpenSession{
		Requester: v.addr(vRequester), Provider: v.addr(vFirstProv), DeploymentId: v.f.DeploymentID,
		Deposit: mktCoin(1_000_000), ExpiryHeight: ctx.BlockHeight() + 300, SessionPubkey: key.Public().(ed25519.PublicKey),
	})
	if err != nil {
		t.Fatal(err)
	}
	vch := signVoucher(t, key, tk.ChainID, open.SessionId, 1, sdkmath.NewInt(50_000), 50_000, 500, rootOf(1))
	st, err := v.f.Msg.SettleSession(ctx, &types.MsgSettleSession{
		Provider: v.addr(vFirstProv), SessionId: open.SessionId, Voucher: vch, RecordCid: v.truth(1).RecordCid, Summary: v.f.Summary,
	})
	if err != nil {
		t.Fatal(err)
	}
	before := v.snap(ctx)
	res, err := v.f.Msg.Challenge(ctx, v.challengeMsg(vRequester, types.TARGET_KIND_SESSION_SETTLEMENT, st.SettlementId, types.CLAIM_USAGE_OVERCOUNT, vBond))
	if err != nil {
		t.Fatal(err)
	}
	ctx = v.advance(ctx, ctx.BlockHeight()+1)
	d := v.dispute(ctx, res.DisputeId)
	for _, i := range v.members(d) {
		if i == vFirstProv || i == vRequester {
			t.Fatalf("party %d on the committee", i)
		}
	}
	truth := types.VerificationResult{CompletionTokens: 5_000, Summary: v.f.Summary}
	ctx = v.vote(ctx, d, honestly(true, truth))
	v.invariants(ctx)
	d = v.dispute(ctx, d.Id)
	stl, err := v.f.K.Settlements.Get(ctx, st.SettlementId)
	if err != nil || d.Outcome != types.DISPUTE_OUTCOME_UPHELD || stl.Status != types.SETTLEMENT_STATUS_VOIDED {
		t.Fatalf("dispute %s, settlement %s: %v", d.Outcome, stl.Status, err)
	}
	reward := bps(d.ProviderSlashed.Amount, v.params.ChallengerRewardBps)
	if got := v.balance(ctx, vRequester).Sub(before.bal[vRequester]); !got.Equal(reward.AddRaw(50_000)) {
		t.Fatalf("requester gained %s, want the refund 50000 + reward %s", got, reward)
	}
	if _, err := v.f.Msg.CloseSession(ctx, &types.MsgCloseSession{Sender: v.addr(vFirstProv), SessionId: open.SessionId}); err != nil {
		t.Fatal(err)
	}
	v.invariants(ctx)
	if s, _ := v.f.K.GetSession(ctx, open.SessionId); !keeper.SessionBalance(s).IsZero() {
		t.Fatalf("closed session still holds %s", keeper.SessionBalance(s))
	}
}

// TestVerificationGenesisRoundTrip exports a state with a resolved dispute (and its
// slashes), one VOTING mid-reveal and one SELECTING, re-imports it into a wiped
// store, and checks the export and the rebuilt dispute queue are identical and that
// the imported disputes still resolve.
func TestVerificationGenesisRoundTrip(t *testing.T) {
	v := newVerif(t, "genesis", nil)
	ctx := v.ctx
	id0, ctx := v.postReceipt(ctx, vFirstProv, func(_ uint64, r *types.VerificationResult) { r.CompletionTokens += 7 })
	d0, ctx := v.challenge(ctx, vChallenger, id0, types.CLAIM_USAGE_OVERCOUNT)
	ctx = v.vote(ctx, d0, func(m types.CommitteeMember) (types.Vote, bool, bool) {
		return types.Vote{ClaimHolds: true, Result: v.truth(id0)}, true, m.Operator != d0.Committee[0].Operator
	})
	id1, ctx := v.postReceipt(ctx, vFirstProv+1, nil)
	d1, ctx := v.challenge(ctx, vChallenger, id1, types.CLAIM_OUTPUT_MISMATCH)
	for _, m := range d1.Committee {
		c, _ := types.VoteCommitment(d1.Id, m.Operator, types.Vote{Result: v.truth(id1)}, salt(m.Operator))
		if _, err := v.f.Msg.CommitVote(ctx, &types.MsgCommitVote{Voter: m.Operator, DisputeId: d1.Id, Commitment: c}); err != nil {
			t.Fatal(err)
		}
	}
	ctx = v.advance(ctx, d1.CommitEndHeight+1)
	for _, m := range d1.Committee[:3] {
		if _, err := v.f.Msg.RevealVote(ctx, &types.MsgRevealVote{Voter: m.Operator, DisputeId: d1.Id, Vote: types.Vote{Result: v.truth(id1)}, Salt: salt(m.Operator)}); err != nil {
			t.Fatal(err)
		}
	}
	id2, ctx := v.postReceipt(ctx, vFirstProv+2, nil)
	res2, err := v.f.Msg.Challenge(ctx, v.challengeMsg(vChallenger, types.TARGET_KIND_JOB_RECEIPT, id2, types.CLAIM_ATTRIBUTION_MISMATCH, vBond))
	if err != nil {
		t.Fatal(err)
	}
	v.invariants(ctx)
	queue := func(ctx sdk.Context) (out []string) {
		if err := v.f.K.DisputeQueue.Walk(ctx, nil, func(k keeper.HeightID) (bool, error) {
			out = append(out, fmt.Sprintf("%d/%d", k.K1(), k.K2()))
			return false, nil
		}); err != nil {
			t.Fatal(err)
		}
		sort.Strings(out)
		return out
	}
	gs, err := v.f.K.ExportGenesis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, d := range gs.Disputes {
		statuses = append(statuses, d.Status.String())
	}
	if fmt.Sprint(statuses) != "[DISPUTE_STATUS_RESOLVED DISPUTE_STATUS_VOTING DISPUTE_STATUS_SELECTING]" ||
		len(gs.Votes) != 2*int(v.params.CommitteeSize) || len(gs.VerificationSlashes) < 2 || gs.NextDisputeId != res2.DisputeId+1 {
		t.Fatalf("exported %v, %d votes, %d slashes, next %d", statuses, len(gs.Votes), len(gs.VerificationSlashes), gs.NextDisputeId)
	}
	wantQueue := queue(ctx)
	fresh := tk.Branch(ctx)
	store := fresh.KVStore(v.f.App.GetKey(types.StoreKey))
	it := store.Iterator(nil, nil)
	var keys [][]byte
	for ; it.Valid(); it.Next() {
		keys = append(keys, it.Key())
	}
	it.Close()
	for _, k := range keys {
		store.Delete(k)
	}
	if err := v.f.K.InitGenesis(fresh, *gs); err != nil {
		t.Fatal(err)
	}
	again, err := v.f.K.ExportGenesis(fresh)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := gs.Marshal()
	b, _ := again.Marshal()
	if string(a) != string(b) {
		t.Fatal("genesis changed on round trip")
	}
	if got := queue(fresh); fmt.Sprint(got) != fmt.Sprint(wantQueue) || len(got) != 2 {
		t.Fatalf("queue rebuilt as %v, want %v", got, wantQueue)
	}
	for _, m := range d1.Committee {
		if has, _ := v.f.K.DisputesByMember.Has(fresh, collections.Join(v.acc(v.index[m.Operator]), d1.Id)); !has {
			t.Fatalf("member index of %s lost", m.Operator)
		}
	}
	v.invariants(fresh)
	fresh = v.advance(fresh, d1.RevealEndHeight+1)
	v.invariants(fresh)
	if d := v.dispute(fresh, d1.Id); d.Outcome != types.DISPUTE_OUTCOME_REJECTED {
		t.Fatalf("imported dispute %s (%s)", d.Outcome, d.Reason)
	}
	if d := v.dispute(fresh, res2.DisputeId); d.Status != types.DISPUTE_STATUS_VOTING || len(d.Committee) == 0 {
		t.Fatalf("imported selecting dispute %s", d.Status)
	}
}

// TestDisputeQueries lists disputes by status, accused provider and member (with
// pagination), and returns NotFound for an undisputed target or unknown dispute.
func TestDisputeQueries(t *testing.T) {
	v := newVerif(t, "queries", nil)
	ctx := v.ctx
	var ds []types.Dispute
	for _, prov := range []int{vFirstProv, vFirstProv, vFirstProv + 1} {
		var id uint64
		id, ctx = v.postReceipt(ctx, prov, nil)
		var d types.Dispute
		d, ctx = v.challenge(ctx, vChallenger, id, types.CLAIM_OUTPUT_MISMATCH)
		ds = append(ds, d)
	}
	q := v.f.Query
	count := func(req *types.QueryDisputesRequest) int {
		t.Helper()
		res, err := q.Disputes(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Disputes)
	}
	if n := count(&types.QueryDisputesRequest{}); n != 3 {
		t.Fatalf("all: %d", n)
	}
	if n := count(&types.QueryDisputesRequest{Status: types.DISPUTE_STATUS_VOTING}); n != 3 {
		t.Fatalf("voting: %d", n)
	}
	if n := count(&types.QueryDisputesRequest{Status: types.DISPUTE_STATUS_RESOLVED}); n != 0 {
		t.Fatalf("resolved: %d", n)
	}
	if n := count(&types.QueryDisputesRequest{Provider: v.addr(vFirstProv)}); n != 2 {
		t.Fatalf("accused A: %d", n)
	}
	member := ds[0].Committee[0].Operator
	want := 0
	for _, d := range ds {
		for _, m := range d.Committee {
			if m.Operator == member {
				want++
			}
		}
	}
	if n := count(&types.QueryDisputesRequest{Member: member}); n != want {
		t.Fatalf("member: %d, want %d", n, want)
	}
	page, err := q.Disputes(ctx, &types.QueryDisputesRequest{Pagination: &query.PageRequest{Limit: 2, CountTotal: true}})
	if err != nil || len(page.Disputes) != 2 || page.Pagination.Total != 3 {
		t.Fatalf("page %v: %v", page, err)
	}
	if _, err := q.Disputes(ctx, &types.QueryDisputesRequest{Provider: v.addr(vFirstProv), Member: member}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("provider and member: %v", err)
	}
	if _, err := q.Dispute(ctx, &types.QueryDisputeRequest{DisputeId: 99}); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown dispute: %v", err)
	}
	if _, err := q.DisputeByTarget(ctx, &types.QueryDisputeByTargetRequest{TargetKind: types.TARGET_KIND_JOB_RECEIPT, TargetId: 999}); status.Code(err) != codes.NotFound {
		t.Fatalf("undisputed target: %v", err)
	}
	got, err := q.DisputeByTarget(ctx, &types.QueryDisputeByTargetRequest{TargetKind: ds[1].TargetKind, TargetId: ds[1].TargetId})
	if err != nil || got.Dispute.Id != ds[1].Id {
		t.Fatalf("by target: %v %v", got, err)
	}
	votes, err := q.Votes(ctx, &types.QueryVotesRequest{DisputeId: ds[0].Id})
	if err != nil || len(votes.Votes) != 0 {
		t.Fatalf("votes before commits: %v %v", votes, err)
	}
}

// TestDisputeEvents: each step emits its typed event.
func TestDisputeEvents(t *testing.T) {
	v := newVerif(t, "events", nil)
	id, ctx := v.postReceipt(v.ctx, vFirstProv, func(_ uint64, r *types.VerificationResult) { r.Summary = v.forgedSummary() })
	ctx = ctx.WithEventManager(sdk.NewEventManager())
	res, err := v.f.Msg.Challenge(ctx, v.challengeMsg(vChallenger, types.TARGET_KIND_JOB_RECEIPT, id, types.CLAIM_ATTRIBUTION_MISMATCH, vBond))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.f.K.EndBlocker(ctx); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"EventDisputeOpened", "EventCommitteeSelected"} {
		if n := eventCount(ctx, name); n != 1 {
			t.Fatalf("%s emitted %d times", name, n)
		}
	}
	ctx = v.advance(ctx.WithBlockHeight(ctx.BlockHeight()+1), ctx.BlockHeight()+1)
	d := v.dispute(ctx, res.DisputeId)
	m := d.Committee[0].Operator
	vote := types.Vote{ClaimHolds: true, Result: v.truth(id)}
	c, _ := types.VoteCommitment(d.Id, m, vote, salt(m))
	ctx = ctx.WithEventManager(sdk.NewEventManager())
	if _, err := v.f.Msg.CommitVote(ctx, &types.MsgCommitVote{Voter: m, DisputeId: d.Id, Commitment: c}); err != nil {
		t.Fatal(err)
	}
	if eventCount(ctx, "EventVoteCommitted") != 1 {
		t.Fatal("no EventVoteCommitted")
	}
	ctx = v.advance(ctx, d.CommitEndHeight+1).WithEventManager(sdk.NewEventManager())
	if _, err := v.f.Msg.RevealVote(ctx, &types.MsgRevealVote{Voter: m, DisputeId: d.Id, Vote: vote, Salt: salt(m)}); err != nil {
		t.Fatal(err)
	}
	if eventCount(ctx, "EventVoteRevealed") != 1 {
		t.Fatal("no EventVoteRevealed")
	}
	// One revealing member of five is below quorum: the tally is INCONCLUSIVE.
	ctx = v.advance(ctx, d.RevealEndHeight).WithEventManager(sdk.NewEventManager())
	if err := v.f.K.EndBlocker(ctx); err != nil {
		t.Fatal(err)
	}
	if eventCount(ctx, "EventDisputeResolved") != 1 || eventAttr(ctx, "EventDisputeResolved", "reason") != `"no_quorum"` {
		t.Fatalf("resolved events: %d, reason %s", eventCount(ctx, "EventDisputeResolved"), eventAttr(ctx, "EventDisputeResolved", "reason"))
	}
}
