package keeper_test

import (
	"testing"

	"cosmossdk.io/collections"

	sdk "github.com/cosmos/cosmos-sdk/types"

	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/models/types"
)

// TestSubmitFeedbackRules runs every feedback rule against the real x/inference
// keeper: a job with a PENDING receipt, a job awarded but without a receipt, and a
// session settlement of four requests, each case on a branch of the same state.
func TestSubmitFeedbackRules(t *testing.T) {
	e := newFbEnv(t)
	ctx := e.ctx
	paidJob, ctx := e.job(ctx, fbRequester, 1_000, nil)
	unpaidJob, ctx := e.awardedJob(ctx, fbRequester)
	sess, settlement, reqs, ctx := e.session(ctx, fbRequester, 4)
	_, otherSettlement, otherReqs, ctx := e.session(ctx, fbRequester, 2)
	e.setParams(ctx, func(p *types.Params) { p.FeedbackWindowBlocks = 50 })
	receiptHeight, err := e.f.K.Receipts.Get(ctx, paidJob)
	if err != nil {
		t.Fatal(err)
	}

	rater := e.addr(fbRequester)
	up := types.FEEDBACK_RATING_UP
	jobMsg := func(job uint64) *types.MsgSubmitFeedback {
		return &types.MsgSubmitFeedback{Rater: rater, JobId: job, Rating: up}
	}
	reqMsg := func(i int) *types.MsgSubmitFeedback {
		return &types.MsgSubmitFeedback{
			Rater: rater, SessionId: sess, SettlementId: settlement, Receipt: reqs[i].receipt, Proof: reqs[i].proof,
			Rating: types.FEEDBACK_RATING_DOWN,
		}
	}
	badProof := func() *types.MsgSubmitFeedback {
		m := reqMsg(1)
		m.Proof = [][]byte{append([]byte(nil), reqs[0].proof[0]...), append([]byte(nil), reqs[0].proof[1]...)}
		m.Proof[0][0] ^= 1
		return m
	}
	cases := []struct {
		name   string
		before func(sdk.Context) sdk.Context
		msg    *types.MsgSubmitFeedback
		want   error
	}{
		{name: "job: requester rates a paid job", msg: jobMsg(paidJob)},
		{name: "session: requester rates a proven request", msg: reqMsg(2)},
		{name: "non-requester", msg: &types.MsgSubmitFeedback{Rater: e.addr(fbStranger), JobId: paidJob, Rating: up}, want: types.ErrNotRequester},
		{
			name:   "twice",
			before: func(c sdk.Context) sdk.Context { mustFeedback(t, e, c, jobMsg(paidJob)); return c },
			msg:    &types.MsgSubmitFeedback{Rater: rater, JobId: paidJob, Rating: types.FEEDBACK_RATING_DOWN}, want: types.ErrFeedbackExists,
		},
		{
			name:   "twice: same session request",
			before: func(c sdk.Context) sdk.Context { mustFeedback(t, e, c, reqMsg(0)); return c },
			msg:    reqMsg(0), want: types.ErrFeedbackExists,
		},
		{
			name:   "last block of the window",
			before: func(c sdk.Context) sdk.Context { return c.WithBlockHeight(receiptHeight.SubmittedHeight + 50) },
			msg:    jobMsg(paidJob),
		},
		{
			name:   "after the window",
			before: func(c sdk.Context) sdk.Context { return c.WithBlockHeight(receiptHeight.SubmittedHeight + 51) },
			msg:    jobMsg(paidJob), want: types.ErrFeedbackWindowClosed,
		},
		{name: "unknown job", msg: jobMsg(999), want: types.ErrInferenceNotFound},
		{
			name: "unknown settlement",
			msg:  &types.MsgSubmitFeedback{Rater: rater, SessionId: sess, SettlementId: 999, Receipt: reqs[0].receipt, Proof: reqs[0].proof, Rating: up},
			want: types.ErrInferenceNotFound,
		},
		{
			name: "settlement of another session",
			msg:  &types.MsgSubmitFeedback{Rater: rater, SessionId: sess, SettlementId: otherSettlement, Receipt: reqs[0].receipt, Proof: reqs[0].proof, Rating: up},
			want: types.ErrInferenceNotFound,
		},
		{
			name: "receipt of another session",
			msg:  &types.MsgSubmitFeedback{Rater: rater, SessionId: sess, SettlementId: settlement, Receipt: otherReqs[0].receipt, Proof: otherReqs[0].proof, Rating: up},
			want: types.ErrInvalidProof,
		},
		{name: "unpaid: no receipt yet", msg: jobMsg(unpaidJob), want: types.ErrInferenceNotPaid},
		{name: "session request with a bad proof", msg: badProof(), want: types.ErrInvalidProof},
		{
			name: "session request with another request's proof",
			msg:  &types.MsgSubmitFeedback{Rater: rater, SessionId: sess, SettlementId: settlement, Receipt: reqs[1].receipt, Proof: reqs[2].proof, Rating: up},
			want: types.ErrInvalidProof,
		},
		{
			name: "garbage receipt",
			msg:  &types.MsgSubmitFeedback{Rater: rater, SessionId: sess, SettlementId: settlement, Receipt: []byte("not a receipt"), Rating: up},
			want: types.ErrInvalidProof,
		},
		{
			name: "flooding bound: the job paid less than the minimum",
			before: func(c sdk.Context) sdk.Context {
				e.setParams(c, func(p *types.Params) { p.MinFeedbackPayment = sdk.NewInt64Coin(tk.Denom, 1_001) })
				return c
			},
			msg: jobMsg(paidJob), want: types.ErrPaymentTooSmall,
		},
		{
			name: "flooding bound: the job paid exactly the minimum",
			before: func(c sdk.Context) sdk.Context {
				e.setParams(c, func(p *types.Params) { p.MinFeedbackPayment = sdk.NewInt64Coin(tk.Denom, 1_000) })
				return c
			},
			msg: jobMsg(paidJob),
		},
		{
			name: "flooding bound: a session request's share of its settlement (100) is below the minimum",
			before: func(c sdk.Context) sdk.Context {
				e.setParams(c, func(p *types.Params) { p.MinFeedbackPayment = sdk.NewInt64Coin(tk.Denom, 101) })
				return c
			},
			msg: reqMsg(3), want: types.ErrPaymentTooSmall,
		},
		{name: "malformed: no inference", msg: &types.MsgSubmitFeedback{Rater: rater, Rating: up}, want: types.ErrInvalidField},
		{name: "malformed: no rating", msg: &types.MsgSubmitFeedback{Rater: rater, JobId: paidJob}, want: types.ErrInvalidField},
		{name: "malformed: bad rater", msg: &types.MsgSubmitFeedback{Rater: "open1nope", JobId: paidJob, Rating: up}, want: types.ErrInvalidAddress},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tk.Branch(ctx)
			if tc.before != nil {
				c = tc.before(c)
			}
			res, err := e.models.SubmitFeedback(c, tc.msg)
			wantErr(t, err, tc.want)
			if tc.want != nil {
				return
			}
			fb, err := e.f.App.ModelsKeeper.Feedbacks.Get(c, res.FeedbackId)
			if err != nil {
				t.Fatal(err)
			}
			if fb.Rater != rater || fb.DeploymentId != e.deploy || fb.ModelVersion != e.base || fb.ContributionId != 0 {
				t.Fatalf("stored %+v", fb)
			}
			byInference, err := e.query.Feedback(c, &types.QueryFeedbackRequest{JobId: fb.JobId, SessionId: fb.SessionId, RequestSeq: fb.RequestSeq})
			if err != nil || byInference.Feedback.Id != res.FeedbackId {
				t.Fatalf("Feedback query for job %d / session %d request %d: %v, %+v", fb.JobId, fb.SessionId, fb.RequestSeq, err, byInference)
			}
			e.invariants(c)
		})
	}
}

// TestFeedbackOncePerPaidInference: a rater gets exactly one feedback per paid
// inference — N paid inferences admit N feedbacks, the N+1st attempt on any of them
// fails, and the counts say so.
func TestFeedbackOncePerPaidInference(t *testing.T) {
	e := newFbEnv(t)
	ctx := e.ctx
	var jobs []uint64
	for range 3 {
		var id uint64
		id, ctx = e.job(ctx, fbRequester, 500, nil)
		jobs = append(jobs, id)
	}
	rater := e.addr(fbRequester)
	for i, id := range jobs {
		rating := types.FEEDBACK_RATING_UP
		if i == 2 {
			rating = types.FEEDBACK_RATING_DOWN
		}
		mustFeedback(t, e, ctx, &types.MsgSubmitFeedback{Rater: rater, JobId: id, Rating: rating})
	}
	for _, id := range jobs {
		_, err := e.models.SubmitFeedback(ctx, &types.MsgSubmitFeedback{Rater: rater, JobId: id, Rating: types.FEEDBACK_RATING_UP})
		wantErr(t, err, types.ErrFeedbackExists)
	}
	counts, err := e.query.FeedbackCounts(ctx, &types.QueryFeedbackCountsRequest{DeploymentId: e.deploy})
	if err != nil {
		t.Fatal(err)
	}
	if counts.Counts != (types.FeedbackCounts{Up: 2, Down: 1}) || counts.FeedbackDatanetId != 0 {
		t.Fatalf("counts %+v", counts)
	}
	page, err := e.query.DeploymentFeedback(ctx, &types.QueryDeploymentFeedbackRequest{DeploymentId: e.deploy})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Feedbacks) != 3 || page.Feedbacks[0].JobId != jobs[0] || page.Feedbacks[2].Rating != types.FEEDBACK_RATING_DOWN {
		t.Fatalf("page %+v", page.Feedbacks)
	}
	one, err := e.query.Feedback(ctx, &types.QueryFeedbackRequest{JobId: jobs[1]})
	if err != nil || one.Feedback.JobId != jobs[1] {
		t.Fatalf("feedback of job %d: %+v %v", jobs[1], one, err)
	}
	_, err = e.query.Feedback(ctx, &types.QueryFeedbackRequest{JobId: 999})
	wantErr(t, err, types.ErrFeedbackNotFound)
	_, err = e.query.Feedback(ctx, &types.QueryFeedbackRequest{JobId: 1, SessionId: 1})
	wantErr(t, err, types.ErrInvalidField)
	// Nothing moved: the requester's balance only paid the escrow of the jobs.
	has, err := e.f.App.ModelsKeeper.FeedbackByInference.Has(ctx, collections.Join3(int32(types.INFERENCE_KIND_JOB), jobs[0], uint64(0)))
	if err != nil || !has {
		t.Fatalf("once-per-inference key of job %d: %v %v", jobs[0], has, err)
	}
	e.invariants(ctx)
}

func mustFeedback(t testing.TB, e *fbEnv, ctx sdk.Context, msg *types.MsgSubmitFeedback) *types.MsgSubmitFeedbackResponse {
	t.Helper()
	res, err := e.models.SubmitFeedback(ctx, msg)
	if err != nil {
		t.Fatalf("feedback: %v", err)
	}
	return res
}
