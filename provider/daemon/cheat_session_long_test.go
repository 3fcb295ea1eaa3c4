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
// count in the response and the receipt (session-usage). gina pays each
// session's vouchers as `openledgerd infer` does; erin settles; `openledgerd
// verify settlement` fails on the lie's check; gina challenges with the claim
// it names; frank's and grace's daemons uphold it. Each time erin is slashed
// more than the settlement's amount, and the settlement is VOIDED with its
// amount refunded to gina. frank's and grace's sessions are paid; neither is
// ever slashed and their balance only goes up.
func TestEverySessionLieLosesMoney(t *testing.T) {
	start := time.Now()
	r := newCheatRig(t, 0, "session-output")
	t.Logf("set up in %s", time.Since(start).Round(time.Second))
	before := r.snapshot(t)
	// frank's and grace's honest sessions first: they settle and are paid
	// while erin's are disputed.
	honest := map[string]uint64{"frank": r.inferTwice(t, r.c.Home, "frank", 100), "grace": r.inferTwice(t, r.c.Home, "grace", 101)}
	var disputes []types.Dispute
	for i, lie := range []struct{ kind, check, claim string }{
		{"session-output", "output", "output-mismatch"},
		{"session-usage", "usage", "usage-overcount"},
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
		voided := r.waitSettlement(t, session, st.Id, 60*time.Second, types.SETTLEMENT_STATUS_VOIDED, types.SETTLEMENT_STATUS_FINALIZED)
		after := r.refunded(t, session)
		t.Logf("%s: settlement %d %s, session %d refunded %s → %s", lie.kind, st.Id, voided.Status, session, refunded, after)
		if voided.Status != types.SETTLEMENT_STATUS_VOIDED || !after.Sub(refunded).Equal(st.Amount.Amount) {
			t.Fatalf("%s: settlement %d is %s, session refunds %s → %s, want VOIDED and %s refunded", lie.kind, st.Id, voided.Status,
				refunded, after, st.Amount)
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
	if l.slashed["erin"] != lies || l.earned["erin"] != 0 || l.jobs["frank"] != 1 || l.jobs["grace"] != 1 {
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
