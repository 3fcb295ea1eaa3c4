package duty

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/attribution"
	"github.com/openledger/openledger/inference/batchrecord"
	"github.com/openledger/openledger/provider/store"
	"github.com/openledger/openledger/provider/verifier"
	"github.com/openledger/openledger/provider/verifier/verifiertest"
	"github.com/openledger/openledger/storage"
	"github.com/openledger/openledger/x/inference/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

var (
	worldOnce sync.Once
	theWorld  *verifiertest.World
	worldErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if theWorld != nil {
		os.RemoveAll(theWorld.Dir)
	}
	os.Exit(code)
}

func getWorld(t testing.TB) *verifiertest.World {
	t.Helper()
	worldOnce.Do(func() { theWorld, worldErr = verifiertest.Build() })
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return theWorld
}

const me = "open1member"

// simChain is x/inference's verification at the process boundary: disputes
// with windows, and the commit and reveal rules of the msg server (windows
// by inclusion height, one commitment and one reveal per member, the reveal
// must match the commitment). Each tx is included in the next block.
type simChain struct {
	t        *testing.T
	st       *store.Store // the member's store: a commit must find its vote there first
	height   int64
	disputes map[uint64]*types.Dispute
	commits  map[uint64][]byte
	reveals  map[uint64]types.Vote
	txs      []string
	// failNext fails the next submission before it is broadcast (a crash).
	failNext bool
}

func (c *simChain) MemberDisputes(_ context.Context, member string) ([]types.Dispute, error) {
	var out []types.Dispute
	for _, d := range c.disputes {
		if d.Status == types.DISPUTE_STATUS_VOTING {
			out = append(out, *d)
		}
	}
	return out, nil
}

func (c *simChain) Dispute(_ context.Context, id uint64) (types.Dispute, error) {
	d, ok := c.disputes[id]
	if !ok {
		return types.Dispute{}, fmt.Errorf("dispute %d: not found", id)
	}
	return *d, nil
}

func (c *simChain) MemberState(_ context.Context, id uint64, member string) (bool, bool, error) {
	_, committed := c.commits[id]
	_, revealed := c.reveals[id]
	return committed, revealed, nil
}

func (c *simChain) Height(context.Context) (int64, error) { return c.height, nil }

func (c *simChain) SubmitAndWait(_ context.Context, note string, msgs ...sdk.Msg) (*sdk.TxResponse, error) {
	if c.failNext {
		c.failNext = false
		return nil, errors.New("crashed before broadcasting")
	}
	c.height++ // included in the next block
	c.txs = append(c.txs, note)
	switch m := msgs[0].(type) {
	case *types.MsgCommitVote:
		d := c.disputes[m.DisputeId]
		if m.Voter != me || c.height > d.CommitEndHeight {
			return nil, types.ErrWindowClosed
		}
		if _, ok := c.commits[m.DisputeId]; ok {
			return nil, types.ErrAlreadyCommitted
		}
		var rec store.CommitteeVote
		var ok bool
		if err := c.st.View(func(tx *store.Tx) (err error) { rec, ok, err = tx.CommitteeVote(m.DisputeId); return err }); err != nil || !ok ||
			!bytes.Equal(rec.Commitment, m.Commitment) || len(rec.Salt) != 32 {
			c.t.Errorf("dispute %d: commitment broadcast before its vote and salt were stored (%v %v)", m.DisputeId, ok, err)
		}
		c.commits[m.DisputeId] = m.Commitment
	case *types.MsgRevealVote:
		d := c.disputes[m.DisputeId]
		if c.height <= d.CommitEndHeight || c.height > d.RevealEndHeight {
			return nil, types.ErrWindowClosed
		}
		if _, ok := c.reveals[m.DisputeId]; ok {
			return nil, types.ErrAlreadyRevealed
		}
		want, err := types.VoteCommitment(m.DisputeId, m.Voter, m.Vote, m.Salt)
		if err != nil || !bytes.Equal(want, c.commits[m.DisputeId]) {
			return nil, types.ErrCommitmentMismatch
		}
		c.reveals[m.DisputeId] = m.Vote
	default:
		return nil, fmt.Errorf("unexpected msg %T", m)
	}
	return &sdk.TxResponse{}, nil
}

type fixture struct {
	w     *verifiertest.World
	dir   string
	st    *store.Store
	chain *simChain
	jobs  *verifiertest.Chain
	// honest is job 7's honest receipt.
	honest types.Receipt
	// served is the honest session; settlement 21 forges one receipt's
	// attribution.
	served     *verifiertest.Served
	settlement types.SessionSettlement
}

// newFixture: job 7 with an honest receipt, job 8 with an inflated one, job 9
// crediting contribution 13 with everything, settlement 21 one of whose
// receipts does the same; disputes 1–4 on them.
func newFixture(t *testing.T) *fixture {
	w := getWorld(t)
	j7 := w.Job(verifiertest.VSpan)
	r7, _ := w.Honest(t, j7)
	j8, r8 := j7, r7
	j8.Id, r8.JobId = 8, 8
	r8.CompletionTokens += 25
	j9, r9 := j7, r7
	j9.Id, r9.JobId = 9, 9
	r9.Summary = rewardstypes.AttributionSummary{RecordSha256: hex.EncodeToString(make([]byte, 32)),
		Top: []rewardstypes.ContributionWeight{{DatanetId: 1, Version: 1, ContributionId: 13, Ppm: 1_000_000}}}
	// Settlement 21: honest receipts but request 3's, which credits its
	// provider (contribution 13) with everything.
	served := w.Serve(t, 3)
	forged := served.Clone()
	w.SelfCredit(t, forged, 1)
	rec := forged.Record(t)
	st := w.Settle(t, rec, verifiertest.Encode(t, rec))
	chain := forged.SessionChain(st)
	chain.Jobs = map[uint64]types.Job{7: j7, 8: j8, 9: j9}
	chain.Receipts = map[uint64]types.Receipt{7: r7, 8: r8, 9: r9}
	f := &fixture{w: w, dir: t.TempDir(), honest: r7, jobs: chain, served: served, settlement: st}
	f.open(t)
	voting := func(id, job uint64, claim types.Claim) *types.Dispute {
		return &types.Dispute{Id: id, TargetKind: types.TARGET_KIND_JOB_RECEIPT, TargetId: job, Claim: claim,
			Status: types.DISPUTE_STATUS_VOTING, CommitEndHeight: 20, RevealEndHeight: 40}
	}
	f.chain = &simChain{t: t, st: f.st, height: 10, commits: map[uint64][]byte{}, reveals: map[uint64]types.Vote{},
		disputes: map[uint64]*types.Dispute{
			1: voting(1, 7, types.CLAIM_USAGE_OVERCOUNT),
			2: voting(2, 8, types.CLAIM_USAGE_OVERCOUNT),
			3: voting(3, 9, types.CLAIM_AUDIT),
			4: {Id: 4, TargetKind: types.TARGET_KIND_SESSION_SETTLEMENT, TargetId: verifiertest.SettlementID, Claim: types.CLAIM_ATTRIBUTION_MISMATCH,
				Status: types.DISPUTE_STATUS_VOTING, CommitEndHeight: 20, RevealEndHeight: 40},
		}}
	return f
}

func (f *fixture) open(t *testing.T) {
	st, err := store.Open(f.dir, nil, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.st = st
	if f.chain != nil {
		f.chain.st = st
	}
	t.Cleanup(func() { st.Close() })
}

// service is a fresh daemon's duty: a new verifier pool over the same store.
func (f *fixture) service(t *testing.T) *Service {
	v, err := verifier.New(f.w.NewPool(t), f.jobs, f.w.St, verifier.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Operator: me}, f.chain, v, f.st, f.w.St, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) votes(t *testing.T) map[uint64]store.CommitteeVote {
	out := map[uint64]store.CommitteeVote{}
	if err := f.st.View(func(tx *store.Tx) error {
		vs, err := tx.CommitteeVotes()
		for _, v := range vs {
			out[v.DisputeID] = v
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDutyCommitsThenRevealsWhatItVerified(t *testing.T) {
	f := newFixture(t)
	s := f.service(t)
	ctx := context.Background()
	if err := s.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if len(f.chain.commits) != 4 || len(f.chain.reveals) != 0 {
		t.Fatalf("after the first step: %d commits, %d reveals (txs %v)", len(f.chain.commits), len(f.chain.reveals), f.chain.txs)
	}
	for id, v := range f.votes(t) {
		if v.State != store.VoteCommitted {
			t.Fatalf("dispute %d: %s", id, v.State)
		}
	}
	// Still inside the commit window: nothing to do.
	n := len(f.chain.txs)
	if err := s.Step(ctx); err != nil || len(f.chain.txs) != n {
		t.Fatalf("second step in the commit window: %v, txs %v", err, f.chain.txs)
	}
	f.chain.height = 20
	if err := s.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if len(f.chain.reveals) != 4 {
		t.Fatalf("%d reveals (txs %v)", len(f.chain.reveals), f.chain.txs)
	}
	rv := f.chain.reveals
	if rv[1].ClaimHolds || !rv[2].ClaimHolds || !rv[3].ClaimHolds || !rv[4].ClaimHolds {
		t.Fatalf("claim holds: honest usage %v, inflated usage %v, forged attribution audit %v, forged settlement attribution %v",
			rv[1].ClaimHolds, rv[2].ClaimHolds, rv[3].ClaimHolds, rv[4].ClaimHolds)
	}
	h := f.honest
	for _, id := range []uint64{1, 2, 3} {
		r := rv[id].Result
		if r.OutputSha256 != h.OutputSha256 || r.PromptTokens != h.PromptTokens || r.CompletionTokens != h.CompletionTokens ||
			r.Summary.RecordSha256 != h.Summary.RecordSha256 {
			t.Fatalf("dispute %d: result %+v, honest receipt %+v", id, r, h)
		}
	}
	if rv[1].Result.RecordCid != "" {
		t.Fatalf("record CID %q on a usage vote", rv[1].Result.RecordCid)
	}
	f.checkSettlementVote(t, rv[4])
	// The audit found the attribution forged: the recomputed record is on IPFS.
	id, err := storage.ParseCID(rv[3].Result.RecordCid)
	if err != nil {
		t.Fatalf("record CID %q: %v", rv[3].Result.RecordCid, err)
	}
	rc, err := f.w.St.Cat(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := io.ReadAll(rc)
	rc.Close()
	if d := sha256.Sum256(rec); hex.EncodeToString(d[:]) != h.Summary.RecordSha256 {
		t.Fatalf("record on IPFS hashes to %x, the honest summary names %s", d, h.Summary.RecordSha256)
	}

	// Resolved disputes are forgotten; a voting one is kept.
	for _, id := range []uint64{1, 2, 3} {
		f.chain.disputes[id].Status = types.DISPUTE_STATUS_RESOLVED
	}
	if err := s.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if vs := f.votes(t); len(vs) != 1 || vs[4].State != store.VoteRevealed {
		t.Fatalf("after resolution: %+v", vs)
	}
}

// A daemon that dies after storing its vote but before broadcasting, and one
// that dies between commit and reveal, commit and reveal exactly what was
// stored after a restart.
func TestDutySurvivesRestarts(t *testing.T) {
	f := newFixture(t)
	for id := range f.chain.disputes {
		if id != 2 {
			delete(f.chain.disputes, id)
		}
	}
	ctx := context.Background()
	f.chain.failNext = true
	if err := f.service(t).Step(ctx); err == nil {
		t.Fatal("the crashed commit reported no error")
	}
	stored := f.votes(t)[2]
	if stored.State != store.VoteCommitting || len(stored.Salt) != 32 || len(f.chain.commits) != 0 {
		t.Fatalf("after a crash before broadcasting: %+v, commits %d", stored, len(f.chain.commits))
	}

	// Restart: the same commitment goes out (not a fresh salt).
	f.st.Close()
	f.open(t)
	if err := f.service(t).Step(ctx); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.chain.commits[2], stored.Commitment) || f.votes(t)[2].State != store.VoteCommitted {
		t.Fatalf("commitment after restart %x, stored %x", f.chain.commits[2], stored.Commitment)
	}

	// Restart again inside the reveal window: the stored vote and salt reveal.
	f.st.Close()
	f.open(t)
	f.chain.height = 25
	if err := f.service(t).Step(ctx); err != nil {
		t.Fatal(err)
	}
	if v, ok := f.chain.reveals[2]; !ok || !v.ClaimHolds || f.votes(t)[2].State != store.VoteRevealed {
		t.Fatalf("after the second restart: revealed %v %+v, txs %v", ok, v, f.chain.txs)
	}
}

// Selected too late to commit, or back after the reveal window: no tx, the
// vote is recorded as missed.
func TestDutyMissedWindows(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.chain.height = 20 // a commitment would land at 21
	if err := f.service(t).Step(ctx); err != nil {
		t.Fatal(err)
	}
	if len(f.chain.txs) != 0 {
		t.Fatalf("txs after the commit window: %v", f.chain.txs)
	}
	for id, v := range f.votes(t) {
		if v.State != store.VoteMissed {
			t.Fatalf("dispute %d: %s", id, v.State)
		}
	}

	g := newFixture(t)
	s := g.service(t)
	if err := s.Step(ctx); err != nil {
		t.Fatal(err)
	}
	g.chain.height = 40 // a reveal would land at 41
	if err := s.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if len(g.chain.reveals) != 0 {
		t.Fatalf("revealed after the window: %v", g.chain.txs)
	}
	for id, v := range g.votes(t) {
		if v.State != store.VoteMissed {
			t.Fatalf("dispute %d: %s", id, v.State)
		}
	}
}

// A target that cannot be verified (here: no such job) is retried until the
// commit window is about to close, then voted the status quo.
func TestDutyVotesStatusQuoWhenItCannotVerify(t *testing.T) {
	f := newFixture(t)
	f.chain.disputes = map[uint64]*types.Dispute{5: {Id: 5, TargetKind: types.TARGET_KIND_JOB_RECEIPT, TargetId: 99,
		Claim: types.CLAIM_OUTPUT_MISMATCH, Status: types.DISPUTE_STATUS_VOTING, CommitEndHeight: 20, RevealEndHeight: 40}}
	s := f.service(t)
	ctx := context.Background()
	if err := s.Step(ctx); err == nil || len(f.votes(t)) != 0 || len(f.chain.txs) != 0 {
		t.Fatalf("first step: %v, votes %v, txs %v", err, f.votes(t), f.chain.txs)
	}
	f.chain.height = 17 // the default margin: 3 blocks
	if err := s.Step(ctx); err != nil {
		t.Fatal(err)
	}
	f.chain.height = 20
	if err := s.Step(ctx); err != nil {
		t.Fatal(err)
	}
	v, ok := f.chain.reveals[5]
	if !ok || v.ClaimHolds || v.Result.OutputSha256 != "" {
		t.Fatalf("revealed %v: %+v (txs %v)", ok, v, f.chain.txs)
	}
}

func TestClaimHolds(t *testing.T) {
	P, F, U := verifier.Pass, verifier.Fail, verifier.Unknown
	vd := func(o, a, u verifier.Status) verifier.Verdict {
		return verifier.Verdict{Output: verifier.Check{Status: o}, Attribution: verifier.Check{Status: a}, Usage: verifier.Check{Status: u}}
	}
	for _, c := range []struct {
		claim types.Claim
		vd    verifier.Verdict
		want  bool
	}{
		{types.CLAIM_OUTPUT_MISMATCH, vd(F, P, P), true},
		{types.CLAIM_OUTPUT_MISMATCH, vd(P, F, F), false},
		{types.CLAIM_OUTPUT_MISMATCH, vd(U, P, P), false},
		{types.CLAIM_ATTRIBUTION_MISMATCH, vd(P, F, P), true},
		{types.CLAIM_ATTRIBUTION_MISMATCH, vd(F, U, F), false},
		{types.CLAIM_USAGE_OVERCOUNT, vd(P, P, F), true},
		{types.CLAIM_USAGE_OVERCOUNT, vd(F, F, P), false},
		{types.CLAIM_AUDIT, vd(P, P, F), true},
		{types.CLAIM_AUDIT, vd(P, U, P), false},
		{types.CLAIM_UNSPECIFIED, vd(F, F, F), false},
	} {
		if got := ClaimHolds(c.claim, c.vd); got != c.want {
			t.Errorf("%s on %s: %v, want %v", c.claim, c.vd, got, c.want)
		}
	}
}

// checkSettlementVote: the vote on settlement 21 is recomputed, not the
// status quo — its output and tokens are the settlement's, its attribution
// the corrected batch record's, which is on IPFS (with the recomputed
// per-request record it names) and credits what the honest receipts do.
func (f *fixture) checkSettlementVote(t *testing.T, v types.Vote) {
	t.Helper()
	st, r := f.settlement, v.Result
	if r.OutputSha256 != hex.EncodeToString(st.ReceiptsRoot) || r.CompletionTokens != st.Tokens || r.PromptTokens != 0 {
		t.Fatalf("settlement result %+v, settlement root %x tokens %d", r, st.ReceiptsRoot, st.Tokens)
	}
	raw := f.cat(t, r.RecordCid)
	if d := sha256.Sum256(raw); hex.EncodeToString(d[:]) != r.Summary.RecordSha256 {
		t.Fatalf("the corrected record on IPFS hashes to %x, the vote's summary names %s", d, r.Summary.RecordSha256)
	}
	rec, err := batchrecord.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Corrections) != 1 || rec.Corrections[0].RequestSeq != 3 {
		t.Fatalf("corrections %+v", rec.Corrections)
	}
	honest := f.served.Receipts[1]
	if c := rec.Corrections[0]; c.RecordCID != honest.RecordCID || c.Summary.RecordSha256 != honest.Summary.RecordSha256 {
		t.Fatalf("correction %+v, honest receipt's record %s", c, honest.RecordCID)
	}
	f.cat(t, rec.Corrections[0].RecordCID)
	want := batchrecord.MergeSummaries(f.served.Receipts, rec.TopK)
	want.RecordSha256 = r.Summary.RecordSha256
	wb, _ := want.Marshal()
	gb, _ := r.Summary.Marshal()
	if !bytes.Equal(wb, gb) {
		t.Fatalf("corrected summary %+v, the honest receipts merge to %+v", r.Summary, want)
	}
}

// cat reads a CID from the member's IPFS node.
func (f *fixture) cat(t *testing.T, cidStr string) []byte {
	t.Helper()
	id, err := storage.ParseCID(cidStr)
	if err != nil {
		t.Fatalf("CID %q: %v", cidStr, err)
	}
	rc, err := f.w.St.Cat(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A settlement whose batch record cannot be fetched is retried until the
// commit window is about to close, then voted: the claim holds, the result
// empty (the provider must keep its record available).
func TestDutySettlementRecordUnavailable(t *testing.T) {
	f := newFixture(t)
	st := f.settlement
	art, err := attribution.ReaderArtifact(strings.NewReader("a record nobody published"))
	if err != nil {
		t.Fatal(err)
	}
	st.RecordCid = art.Cid
	f.jobs.Settlements[st.Id] = st
	f.chain.disputes = map[uint64]*types.Dispute{6: {Id: 6, TargetKind: types.TARGET_KIND_SESSION_SETTLEMENT, TargetId: st.Id,
		Claim: types.CLAIM_OUTPUT_MISMATCH, Status: types.DISPUTE_STATUS_VOTING, CommitEndHeight: 20, RevealEndHeight: 40}}
	s := f.service(t)
	ctx := context.Background()
	if err := s.Step(ctx); err == nil || !strings.Contains(err.Error(), "unavailable") || len(f.votes(t)) != 0 || len(f.chain.txs) != 0 {
		t.Fatalf("first step: %v, votes %v, txs %v", err, f.votes(t), f.chain.txs)
	}
	f.chain.height = 17
	if err := s.Step(ctx); err != nil {
		t.Fatal(err)
	}
	f.chain.height = 20
	if err := s.Step(ctx); err != nil {
		t.Fatal(err)
	}
	v, ok := f.chain.reveals[6]
	if !ok || !v.ClaimHolds || v.Result.OutputSha256 != "" || v.Result.CompletionTokens != 0 || v.Result.RecordCid != "" {
		t.Fatalf("revealed %v: %+v (txs %v)", ok, v, f.chain.txs)
	}
}
