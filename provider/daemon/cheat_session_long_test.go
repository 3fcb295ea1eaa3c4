//go:build long

package daemon_test

import (
	"context"
	"strings"
	"testing"
	"time"

	sdkmath "cosmossdk.io/math"

	"github.com/openledger/openledger/x/inference/types"
)

// TestEverySessionLieLosesMoney (-tags long, make test-long): the rig of
// TestCheatingSessionProviderCaughtOnChain, and erin's daemon restarted with
// each per-request session lie in turn — a forged output served, receipted
// and attributed as if generated (session-output), an inflated completion
// count in the response and the receipt (session-usage), receipts whose
// summaries credit her contribution (session-attribution). gina pays each
// session's vouchers as `openledgerd infer` does; erin settles; `openledgerd
// verify settlement` fails on the lie's check; gina challenges with the claim
// it names; frank's and grace's daemons uphold it. Each time erin is slashed
// more than the settlement's amount; the output and usage lies' settlements
// are VOIDED with their amount refunded to gina, the attribution lie's record
// is replaced by the committee's corrected batch record and paid by it.
// frank's and grace's sessions are paid; neither is ever slashed and their
// balance only goes up.
func TestEverySessionLieLosesMoney(t *testing.T) {
	start := time.Now()
	r := newCheatRig(t, 0, "session-output")
	t.Logf("set up in %s", time.Since(start).Round(time.Second))
	before := r.snapshot(t)
	// frank's and grace's honest sessions first: they settle and are paid
	// while erin's are disputed.
	honest := map[string]uint64{"frank": r.inferTwice(t, r.c.Home, "frank", 100), "grace": r.inferTwice(t, r.c.Home, "grace", 101)}
	var disputes []types.Dispute
	erinPaid := 0
	for i, lie := range []struct {
		kind, check, claim string
		want               types.SettlementStatus
	}{
		{"session-output", "output", "output-mismatch", types.SETTLEMENT_STATUS_VOIDED},
		{"session-usage", "usage", "usage-overcount", types.SETTLEMENT_STATUS_VOIDED},
		// Per-receipt attribution: the committee publishes a corrected batch
		// record, which replaces erin's, and the settlement is paid by it.
		{"session-attribution:" + r.contrib, "attribution", "attribution-mismatch", types.SETTLEMENT_STATUS_FINALIZED},
	} {
		if i > 0 {
			r.restart(t, "erin", lie.kind)
		}
		// A fresh home: a new session with erin, not the one already settled.
		session := r.inferTwice(t, t.TempDir(), "erin", 10*(i+1))
		st := r.settled(t, session, "erin")
		refunded := r.refunded(t, session)
		r.challengeSettlement(t, st, lie.check, lie.claim)
		d := r.disputeOf(t, types.TARGET_KIND_SESSION_SETTLEMENT, st.Id)
		r.checkSettlementUpheld(t, st, d)
		if d.Challenger != r.addr["gina"] || !d.ChallengerReward.IsPositive() || !d.BondReturned.Equal(d.Bond) {
			t.Fatalf("challenge of settlement %d (%s): %+v", st.Id, lie.kind, d)
		}
		got := r.waitSettlement(t, session, st.Id, 60*time.Second, types.SETTLEMENT_STATUS_VOIDED, types.SETTLEMENT_STATUS_FINALIZED)
		after := r.refunded(t, session)
		t.Logf("%s: settlement %d %s, record %s → %s, session %d refunded %s → %s", lie.kind, st.Id, got.Status, st.RecordCid,
			got.RecordCid, session, refunded, after)
		if got.Status != lie.want {
			t.Fatalf("%s: settlement %d is %s, want %s", lie.kind, st.Id, got.Status, lie.want)
		}
		if lie.want == types.SETTLEMENT_STATUS_VOIDED && !after.Sub(refunded).Equal(st.Amount.Amount) {
			t.Fatalf("%s: voided settlement %d, session refunds %s → %s, want %s refunded", lie.kind, st.Id, refunded, after, st.Amount)
		}
		if lie.want == types.SETTLEMENT_STATUS_FINALIZED {
			paid := r.paidRecord(t, st.Id)
			if got.RecordCid == st.RecordCid || got.RecordCid != d.Adopted.RecordCid || paid.Summary.String() != d.Adopted.Summary.String() ||
				ppmOf(st.Summary, 1) <= ppmOf(paid.Summary, 1) || !after.Equal(refunded) {
				t.Fatalf("%s: settlement %d %+v paid %+v; the committee adopted %+v", lie.kind, st.Id, got, paid, d.Adopted)
			}
			erinPaid++
		}
		disputes = append(disputes, d)
	}

	for _, p := range []string{"frank", "grace"} {
		st := r.settled(t, honest[p], p)
		if out, ok := r.verifySettlement(t, st.Id); !ok || !strings.Contains(out, "Every claim holds") {
			t.Fatalf("verify settlement %d of %s's honest settlement failed:\n%s", st.Id, p, out)
		}
		r.waitSettlement(t, honest[p], st.Id, 90*time.Second, types.SETTLEMENT_STATUS_FINALIZED)
	}
	l := r.ledger(t, disputes)
	l.table(t)
	r.checkHonest(t, l, before)
	var lies int64
	for _, d := range disputes {
		lies += d.ProviderSlashed.Amount.Int64()
	}
	if l.slashed["erin"] != lies || l.earned["erin"]-l.slashed["erin"] >= 0 || l.jobs["erin"] != erinPaid || l.jobs["frank"] != 1 || l.jobs["grace"] != 1 {
		t.Fatalf("ledger: %+v", l)
	}
	t.Logf("done in %s", time.Since(start).Round(time.Second))
}

// refunded is what a session has refunded to its requester so far.
func (r *cheatRig) refunded(t *testing.T, session uint64) sdkmath.Int {
	t.Helper()
	res, err := r.q.Inference().Session(context.Background(), &types.QuerySessionRequest{SessionId: session})
	if err != nil {
		t.Fatal(err)
	}
	return res.Session.Refunded
}
