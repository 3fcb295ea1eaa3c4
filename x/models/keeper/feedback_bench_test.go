package keeper_test

import (
	"testing"

	storetypes "github.com/cosmos/cosmos-sdk/store/v2/types"

	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/models/types"
)

// BenchmarkSubmitFeedback measures MsgSubmitFeedback (time and gas) on a branch of an app state:
// a job rating, a session request proven under a settlement of 1,024 requests (a
// 10-hash audit path), and a job rating with a record (a contribution to the existing
// feedback datanet). Each iteration rates on a fresh branch, so the once rule holds.
func BenchmarkSubmitFeedback(b *testing.B) {
	e := newFbEnv(b)
	ctx := e.ctx
	job, ctx := e.job(ctx, fbRequester, 1_000, nil)
	recJob, ctx := e.job(ctx, fbRequester, 1_000, nil)
	sess, settlement, reqs, ctx := e.session(ctx, fbRequester, 1_024)
	sha0, cid0, size0 := preferenceRecord(0) // the first record creates the feedback datanet
	mustFeedback(b, e, ctx, &types.MsgSubmitFeedback{Rater: e.addr(fbRequester), JobId: job, Rating: types.FEEDBACK_RATING_UP,
		RecordCid: cid0, RecordSha256: sha0, RecordSize: size0})
	rater := e.addr(fbRequester)
	sha, cid, size := preferenceRecord(1)
	for _, bc := range []struct {
		name string
		msg  *types.MsgSubmitFeedback
	}{
		{"job", &types.MsgSubmitFeedback{Rater: rater, JobId: recJob, Rating: types.FEEDBACK_RATING_UP}},
		{"session-request-of-1024", &types.MsgSubmitFeedback{Rater: rater, SessionId: sess, SettlementId: settlement,
			Receipt: reqs[700].receipt, Proof: reqs[700].proof, Rating: types.FEEDBACK_RATING_DOWN}},
		{"job-with-record", &types.MsgSubmitFeedback{Rater: rater, JobId: recJob, Rating: types.FEEDBACK_RATING_DOWN,
			RecordCid: cid, RecordSha256: sha, RecordSize: size}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var gas storetypes.Gas
			for b.Loop() {
				c := tk.Branch(ctx).WithGasMeter(storetypes.NewInfiniteGasMeter())
				if _, err := e.models.SubmitFeedback(c, bc.msg); err != nil {
					b.Fatal(err)
				}
				gas = c.GasMeter().GasConsumed()
			}
			b.ReportMetric(float64(gas), "gas/op")
		})
	}
}
