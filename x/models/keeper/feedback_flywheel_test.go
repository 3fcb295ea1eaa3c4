package keeper_test

import (
	"fmt"
	"testing"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	tk "github.com/openledger/openledger/testutil/keeper"
	datanettypes "github.com/openledger/openledger/x/datanet/types"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
	"github.com/openledger/openledger/x/models/types"
	rewardskeeper "github.com/openledger/openledger/x/rewards/keeper"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

const fbRater2 = 5

// preferenceRecord is a feedback record as the porcelain uploads it (one JSON line).
func preferenceRecord(i int) (sha, cid string, size uint64) {
	line := fmt.Sprintf(`{"prompt":"proverb %d","chosen":"a stitch in time saves nine","rejected":"a stitch saves time"}`+"\n", i)
	sha, cid = tk.Content(line)
	return sha, cid, uint64(len(line))
}

// flywheel is the state after two raters' records were accepted and frozen as
// version 1 of the deployment's feedback datanet.
type flywheel struct {
	*fbEnv
	ctx            sdk.Context
	fdn            uint64 // feedback datanet
	c1, c2         uint64 // the raters' contributions
	balanceBefore  sdkmath.Int
	raterAfterFeed sdkmath.Int
}

func newFlywheel(t *testing.T) *flywheel {
	e := newFbEnv(t)
	ctx := e.ctx
	jobA, ctx := e.job(ctx, fbRequester, 1_000, nil)
	jobB, ctx := e.job(ctx, fbRater2, 1_000, nil)
	jobC, ctx := e.job(ctx, fbRequester, 1_000, nil)
	sess, settlement, reqs, ctx := e.session(ctx, fbRequester, 2)
	w := &flywheel{fbEnv: e}
	w.balanceBefore = e.f.Balance(ctx, e.addr(fbRequester))

	sha, cid, size := preferenceRecord(1)
	_, chosen := tk.Content("a stitch in time saves nine")
	_, rejected := tk.Content("a stitch saves time")
	res := mustFeedback(t, e, ctx, &types.MsgSubmitFeedback{
		Rater: e.addr(fbRequester), JobId: jobA, Rating: types.FEEDBACK_RATING_DOWN,
		RecordCid: cid, RecordSha256: sha, RecordSize: size, ChosenCid: chosen, RejectedCid: rejected,
	})
	if res.DatanetId == 0 || res.ContributionId == 0 {
		t.Fatalf("record feedback made no contribution: %+v", res)
	}
	w.fdn, w.c1 = res.DatanetId, res.ContributionId
	if n := countEvents(ctx, "EventFeedbackDatanetCreated"); n != 1 {
		t.Fatalf("%d EventFeedbackDatanetCreated", n)
	}

	// Same datanet for the second rater; a rating-only feedback is counted, not contributed.
	sha2, cid2, size2 := preferenceRecord(2)
	res2 := mustFeedback(t, e, ctx, &types.MsgSubmitFeedback{
		Rater: e.addr(fbRater2), JobId: jobB, Rating: types.FEEDBACK_RATING_UP, RecordCid: cid2, RecordSha256: sha2, RecordSize: size2,
	})
	if res2.DatanetId != w.fdn {
		t.Fatalf("second record went to datanet %d, want %d", res2.DatanetId, w.fdn)
	}
	w.c2 = res2.ContributionId
	only := mustFeedback(t, e, ctx, &types.MsgSubmitFeedback{
		Rater: e.addr(fbRequester), SessionId: sess, SettlementId: settlement, Receipt: reqs[1].receipt, Proof: reqs[1].proof,
		Rating: types.FEEDBACK_RATING_UP,
	})
	if only.DatanetId != 0 || only.ContributionId != 0 {
		t.Fatalf("rating-only feedback contributed: %+v", only)
	}
	// x/datanet's own checks apply: the same record twice is a duplicate.
	_, err := e.models.SubmitFeedback(tk.Branch(ctx), &types.MsgSubmitFeedback{
		Rater: e.addr(fbRequester), JobId: jobC, Rating: types.FEEDBACK_RATING_UP, RecordCid: cid, RecordSha256: sha, RecordSize: size,
	})
	wantErr(t, err, datanettypes.ErrDuplicateContent)
	w.raterAfterFeed = e.f.Balance(ctx, e.addr(fbRequester))

	// The deployment's owner curates: both accepted, the datanet is READY, version 1 frozen.
	for _, c := range []uint64{w.c1, w.c2} {
		if _, err := e.dnMsg.ReviewContribution(ctx, &datanettypes.MsgReviewContribution{
			Curator: e.addr(fbDev), ContributionId: c, Decision: datanettypes.REVIEW_DECISION_APPROVE,
		}); err != nil {
			t.Fatalf("review %d: %v", c, err)
		}
	}
	if _, err := e.dnMsg.CreateDatasetVersion(ctx, &datanettypes.MsgCreateDatasetVersion{Creator: e.addr(fbDev), DatanetId: w.fdn}); err != nil {
		t.Fatalf("freeze feedback version: %v", err)
	}
	w.ctx = ctx
	return w
}

// TestFeedbackDatanet: the first record creates the deployment's feedback datanet
// (owned and curated by the deployment owner, requirements from the params), each
// record is a deposit-free PENDING contribution of its rater through x/datanet's
// path, curators accept them like any other, and the version freezes them.
func TestFeedbackDatanet(t *testing.T) {
	w := newFlywheel(t)
	ctx, e := w.ctx, w.fbEnv
	d, err := e.f.App.ModelsKeeper.GetDeployment(ctx, e.deploy)
	if err != nil {
		t.Fatal(err)
	}
	if d.FeedbackDatanetId != w.fdn {
		t.Fatalf("deployment feedback datanet %d, want %d", d.FeedbackDatanetId, w.fdn)
	}
	dn := e.f.Datanet(ctx, w.fdn)
	params, _ := e.f.App.ModelsKeeper.Params.Get(ctx)
	if dn.Owner != e.addr(fbDev) || len(dn.Curation.Curators) != 1 || dn.Curation.Curators[0] != e.addr(fbDev) ||
		dn.Curation.ReviewWindowBlocks != params.FeedbackReviewWindowBlocks ||
		dn.Requirements.MinAcceptedContributions != params.FeedbackMinContributions || dn.Status != datanettypes.DATANET_STATUS_READY {
		t.Fatalf("feedback datanet %+v", dn)
	}
	if dn.Stats.AcceptedContributions != 2 || dn.Stats.DistinctContributors != 2 || dn.Stats.Versions != 1 {
		t.Fatalf("stats %+v", dn.Stats)
	}
	c := e.f.Contribution(ctx, w.c1)
	if c.Contributor != e.addr(fbRequester) || !c.Deposit.IsZero() || c.MediaType != types.FeedbackMediaType || c.RecordCount != 1 ||
		c.Status != datanettypes.CONTRIBUTION_STATUS_ACCEPTED {
		t.Fatalf("contribution %+v", c)
	}
	if !w.raterAfterFeed.Equal(w.balanceBefore) {
		t.Fatalf("feedback moved the rater's coins: %s → %s", w.balanceBefore, w.raterAfterFeed)
	}
	counts, err := e.query.FeedbackCounts(ctx, &types.QueryFeedbackCountsRequest{DeploymentId: e.deploy})
	if err != nil {
		t.Fatal(err)
	}
	if counts.Counts != (types.FeedbackCounts{Up: 2, Down: 1, Records: 2}) || counts.FeedbackDatanetId != w.fdn {
		t.Fatalf("counts %+v", counts)
	}
	e.invariants(ctx)

	// An archived feedback datanet refuses records (x/datanet's rule); ratings still count.
	if _, err := e.dnMsg.ArchiveDatanet(ctx, &datanettypes.MsgArchiveDatanet{Owner: e.addr(fbDev), DatanetId: w.fdn}); err != nil {
		t.Fatal(err)
	}
	job, ctx := e.job(ctx, fbRequester, 1_000, nil)
	sha, cid, size := preferenceRecord(9)
	_, err = e.models.SubmitFeedback(ctx, &types.MsgSubmitFeedback{Rater: e.addr(fbRequester), JobId: job,
		Rating: types.FEEDBACK_RATING_UP, RecordCid: cid, RecordSha256: sha, RecordSize: size})
	wantErr(t, err, datanettypes.ErrWrongStatus)
	mustFeedback(t, e, ctx, &types.MsgSubmitFeedback{Rater: e.addr(fbRequester), JobId: job, Rating: types.FEEDBACK_RATING_UP})
	e.invariants(ctx)
}

// TestQualityGate switches the deployment only to a descendant whose declared loss on
// its parent's held-out set is no worse than the parent's (within the tolerance).
func TestQualityGate(t *testing.T) {
	w := newFlywheel(t)
	ctx, e := w.ctx, w.fbEnv
	fdv := []types.DatasetVersionRef{{DatanetId: w.fdn, Version: 1}}
	dpo := func(c sdk.Context, parentLoss uint64) uint64 {
		return e.publish(c, types.VERSION_KIND_DPO, e.base, fdv, 5_000,
			types.Metrics{EvalLossMicro: 1_900_000, ParentEvalLossMicro: parentLoss, PreferenceAccuracyBps: 7_000})
	}
	update := func(c sdk.Context, v uint64) error {
		_, err := e.models.UpdateDeployment(c, &types.MsgUpdateDeployment{Owner: e.addr(fbDev), DeploymentId: e.deploy, Version: v})
		return err
	}
	cases := []struct {
		name      string
		tolerance uint32
		version   func(sdk.Context) uint64
		owner     int
		want      error
	}{
		{name: "better than the parent", version: func(c sdk.Context) uint64 { return dpo(c, 1_950_000) }},
		{name: "equal to the parent", version: func(c sdk.Context) uint64 { return dpo(c, fbBaseLoss) }},
		{name: "regresses by one micro", version: func(c sdk.Context) uint64 { return dpo(c, fbBaseLoss+1) }, want: types.ErrQualityGate},
		{name: "within a 1 bps tolerance", tolerance: 1, version: func(c sdk.Context) uint64 { return dpo(c, fbBaseLoss+200) }},
		{name: "beyond a 1 bps tolerance", tolerance: 1, version: func(c sdk.Context) uint64 { return dpo(c, fbBaseLoss+201) }, want: types.ErrQualityGate},
		{name: "no loss on the parent's held-out set", version: func(c sdk.Context) uint64 { return dpo(c, 0) }, want: types.ErrQualityGate},
		{
			name: "not a descendant (a sibling of the deployed version)",
			version: func(c sdk.Context) uint64 {
				return e.publish(c, types.VERSION_KIND_DPO, e.f.ModelVersion, fdv, 5_000, types.Metrics{ParentEvalLossMicro: 1})
			},
			want: types.ErrNotDescendant,
		},
		{
			name: "drops the deployed version's dataset version",
			version: func(c sdk.Context) uint64 {
				return e.publish(c, types.VERSION_KIND_SFT, e.base, fdv, 0, types.Metrics{ParentEvalLossMicro: fbBaseLoss})
			},
			want: types.ErrSwitchDropsShares,
		},
		{name: "the deployed version itself", version: func(sdk.Context) uint64 { return e.base }, want: types.ErrInvalidField},
		{name: "unknown version", version: func(sdk.Context) uint64 { return 99 }, want: types.ErrVersionNotFound},
		{name: "not the owner", owner: fbStranger, version: func(c sdk.Context) uint64 { return dpo(c, 1) }, want: types.ErrUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tk.Branch(ctx)
			e.setParams(c, func(p *types.Params) { p.QualityToleranceBps = tc.tolerance })
			v := tc.version(c)
			var err error
			if tc.owner != 0 {
				_, err = e.models.UpdateDeployment(c, &types.MsgUpdateDeployment{Owner: e.addr(tc.owner), DeploymentId: e.deploy, Version: v})
			} else {
				err = update(c, v)
			}
			wantErr(t, err, tc.want)
			d, gerr := e.f.App.ModelsKeeper.GetDeployment(c, e.deploy)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if tc.want != nil {
				if d.Version != e.base {
					t.Fatalf("a refused switch moved the deployment to version %d", d.Version)
				}
				return
			}
			if d.Version != v || countEvents(c, "EventDeploymentVersionSwitched") != 1 {
				t.Fatalf("deployment on version %d (want %d), events %d", d.Version, v, countEvents(c, "EventDeploymentVersionSwitched"))
			}
			e.invariants(c)
		})
	}
}

// TestSwitchPaysRatersAndUpstream switches the deployment to a DPO version trained on
// the frozen feedback (upstream share 50%): the new share table holds both dataset
// versions, and a job served after the switch pays, through the real x/rewards
// settlement at finalisation, the rater and the original contributor exact to the unit.
func TestSwitchPaysRatersAndUpstream(t *testing.T) {
	w := newFlywheel(t)
	ctx, e := w.ctx, w.fbEnv
	fdv := types.DatasetVersionRef{DatanetId: w.fdn, Version: 1}
	v := e.publish(ctx, types.VERSION_KIND_DPO, e.base, []types.DatasetVersionRef{fdv}, 5_000,
		types.Metrics{EvalLossMicro: 1_900_000, ParentEvalLossMicro: 1_950_000, PreferenceAccuracyBps: 7_000})
	if _, err := e.models.UpdateDeployment(ctx, &types.MsgUpdateDeployment{Owner: e.addr(fbDev), DeploymentId: e.deploy, Version: v}); err != nil {
		t.Fatalf("switch: %v", err)
	}
	orig := types.DataShare{DatanetId: e.f.DatanetID, Version: e.f.DatasetVersion, Bps: 5_000}
	want := []types.DataShare{orig, {DatanetId: w.fdn, Version: 1, Bps: 5_000}}
	shares, err := e.query.DataShares(ctx, &types.QueryDataSharesRequest{DeploymentId: e.deploy})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(shares.DataShares) != fmt.Sprint(want) {
		t.Fatalf("share table %v, want %v", shares.DataShares, want)
	}

	// Let the earlier work (paid to the original contributor) finalise first.
	params, err := e.f.K.Params.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ctx = e.f.AdvanceTo(ctx, ctx.BlockHeight()+int64(params.ChallengeWindowBlocks)+1)
	upstreamBefore := accrual(t, e, ctx, fbDev, e.f.ContributionIDs[0])

	summary := e.fixtureSummary()
	summary.Top = []rewardstypes.ContributionWeight{
		{DatanetId: w.fdn, Version: 1, ContributionId: w.c1, Ppm: 600_000},
		{DatanetId: e.f.DatanetID, Version: e.f.DatasetVersion, ContributionId: e.f.ContributionIDs[0], Ppm: 400_000},
	}
	job, ctx := e.job(ctx, fbRequester, 1_000, &summary)
	if j, _ := e.f.K.GetJob(ctx, job); j.ModelVersion != v {
		t.Fatalf("job runs version %d, want %d", j.ModelVersion, v)
	}
	r, err := e.f.K.Receipts.Get(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	ctx = e.f.AdvanceTo(ctx, r.ChallengeEndHeight+1)
	if j, _ := e.f.K.GetJob(ctx, job); j.Status != inferencetypes.JOB_STATUS_FINALIZED {
		t.Fatalf("job %d is %s", job, j.Status)
	}

	// By hand (ADR-003): 1,000 tokens at 800 + 200 per 1,000 → compute 800, royalty 200;
	// fee 2% = 20, of which 4 from the royalty → net royalty 196; developer 40% = 78;
	// data 118 → 59 per dataset version; each version's only top entry takes all of it.
	rater := accrual(t, e, ctx, fbRequester, w.c1)
	upstream := accrual(t, e, ctx, fbDev, e.f.ContributionIDs[0]).Sub(upstreamBefore)
	if !rater.Equal(sdkmath.NewInt(59)) || !upstream.Equal(sdkmath.NewInt(59)) {
		t.Fatalf("rater %s, original contributor %s; want 59 each", rater, upstream)
	}
	// The same through x/rewards' own split function.
	rp, err := e.f.App.RewardsKeeper.Params.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	split := rewardskeeper.ComputeSplit(rp.ProtocolFeeBps, sdkmath.NewInt(800), sdkmath.NewInt(200), 4_000, want, summary, []int{1, 0}, nil)
	if !split.Top[0].Equal(rater) || !split.Top[1].Equal(upstream) || !split.Total().Equal(sdkmath.NewInt(1_000)) {
		t.Fatalf("split %+v vs rater %s upstream %s", split, rater, upstream)
	}
	// The rater can still rate the job that paid them (FINALIZED is paid).
	mustFeedback(t, e, ctx, &types.MsgSubmitFeedback{Rater: e.addr(fbRequester), JobId: job, Rating: types.FEEDBACK_RATING_UP})
	e.invariants(ctx)
}

// accrual is account i's x/rewards credit from a contribution.
func accrual(t testing.TB, e *fbEnv, ctx sdk.Context, i int, contribution uint64) sdkmath.Int {
	t.Helper()
	amt, err := e.f.App.RewardsKeeper.Accruals.Get(ctx, collections.Join3(e.f.Accounts[i].Addr, int32(rewardstypes.SOURCE_KIND_CONTRIBUTION), contribution))
	if err != nil {
		t.Fatalf("accrual of %d from contribution %d: %v", i, contribution, err)
	}
	return amt
}

// countEvents counts the typed events of a proto message name on ctx.
func countEvents(ctx sdk.Context, name string) int {
	n := 0
	for _, ev := range ctx.EventManager().Events() {
		if ev.Type == "openledger.models.v1."+name {
			n++
		}
	}
	return n
}
