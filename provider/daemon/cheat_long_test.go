//go:build long

package daemon_test

import (
	"context"
	"testing"
	"time"

	"github.com/openledger/openledger/x/inference/types"
)

// TestEveryLieLosesMoney (-tags long, make test-long): the rig of
// TestCheatingProviderCaughtOnChain, and erin's daemon restarted with each
// lie in turn — a forged output, an attribution crediting her own
// contribution instead of the dataset version's pool, an inflated completion
// count. Each receipt fails `openledgerd verify receipt` on the lie's check,
// is challenged with the claim verify names, and the dispute decided by
// frank's and grace's daemons is UPHELD: erin is slashed more than the job's
// escrow each time. A frivolous challenge of frank's honest receipt is
// REJECTED and costs the challenger the bond; frank's and grace's jobs are
// paid; neither is ever slashed and their balance plus stake only goes up.
func TestEveryLieLosesMoney(t *testing.T) {
	start := time.Now()
	r := newCheatRig(t, 0, "output")
	t.Logf("set up in %s", time.Since(start).Round(time.Second))
	before := r.snapshot(t)
	erinStake := func() int64 {
		h, err := r.q.LatestHeight(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_, s := r.worth(t, "erin", h)
		return s
	}
	var disputes []types.Dispute

	// A forged output; frank's and grace's honest jobs meanwhile.
	forged := r.post(t, "erin", 1)
	honestF := r.post(t, "frank", 2)
	honestG := r.post(t, "grace", 3)
	r.receipted(t, forged, "erin")
	r.receipted(t, honestF, "frank")
	r.receipted(t, honestG, "grace")

	// A frivolous challenge of frank's honest receipt: verify says it holds.
	if out, ok := r.verify(t, honestF); !ok {
		t.Fatalf("verify receipt %s of an honest receipt failed:\n%s", honestF, out)
	}
	r.c.MustTx("gina", "inference", "challenge", "job-receipt", honestF, "usage-overcount", cheatBond)
	s0 := erinStake()
	disputes = append(disputes, r.catchByChallenge(t, forged, "output", "output-mismatch"))
	if got := erinStake(); s0-got != disputes[0].ProviderSlashed.Amount.Int64() {
		t.Fatalf("erin's stake %d → %d, the dispute slashed %s", s0, got, disputes[0].ProviderSlashed)
	}
	frivolous := r.dispute(t, honestF)
	t.Logf("frivolous dispute %d on job %s: %s (%s), bond slashed %s, voters %s", frivolous.Id, honestF, frivolous.Outcome,
		frivolous.Reason, frivolous.BondSlashed, frivolous.VoterRewards)
	if frivolous.Outcome != types.DISPUTE_OUTCOME_REJECTED || !frivolous.BondSlashed.Equal(frivolous.Bond) ||
		frivolous.Bond.String() != cheatBond || !frivolous.ProviderSlashed.IsZero() {
		t.Fatalf("frivolous challenge: %+v", frivolous)
	}
	disputes = append(disputes, frivolous)
	for _, job := range []string{honestF, honestG} {
		if j := r.waitJob(t, job, 90*time.Second, types.JOB_STATUS_FINALIZED); !j.Paid.IsPositive() {
			t.Fatalf("honest job %s finalised unpaid: %+v", job, j)
		}
	}

	// Attribution forgery: the pool's share credited to erin's contribution.
	r.restart(t, "erin", "attribution:"+r.contrib)
	job := r.post(t, "erin", 4)
	r.receipted(t, job, "erin")
	disputes = append(disputes, r.catchByChallenge(t, job, "attribution", "attribution-mismatch"))

	// Usage inflation: more completion tokens than were generated.
	r.restart(t, "erin", "usage")
	job = r.post(t, "erin", 5)
	r.receipted(t, job, "erin")
	disputes = append(disputes, r.catchByChallenge(t, job, "usage", "usage-overcount"))

	l := r.ledger(t, disputes)
	l.table(t)
	r.checkHonest(t, l, before)
	var lies int64
	for _, d := range disputes {
		if d.Outcome == types.DISPUTE_OUTCOME_UPHELD {
			lies += d.ProviderSlashed.Amount.Int64()
		}
	}
	if net := l.earned["erin"] - l.slashed["erin"]; net >= 0 || l.slashed["erin"] != lies {
		t.Fatalf("erin: earned %d, slashed %d", l.earned["erin"], l.slashed["erin"])
	}
	t.Logf("done in %s", time.Since(start).Round(time.Second))
}

// TestAuditCatchesForgery (-tags long): with audit_bps at 100 %, every
// receipt whose window ends unchallenged is audited. erin's forged output is
// never challenged: the audit's committee (frank and grace) upholds it and
// erin is slashed; frank's and grace's honest receipts are audited too (each
// by erin's honest committee duty and the other), hold, and are paid.
func TestAuditCatchesForgery(t *testing.T) {
	start := time.Now()
	r := newCheatRig(t, 10_000, "output")
	before := r.snapshot(t)
	forged := r.post(t, "erin", 1)
	honest := r.post(t, "frank", 2)
	honestG := r.post(t, "grace", 3)
	r.receipted(t, forged, "erin")
	r.receipted(t, honest, "frank")
	r.receipted(t, honestG, "grace")
	d := r.dispute(t, forged)
	r.checkUpheld(t, forged, d)
	if d.Claim != types.CLAIM_AUDIT || d.Challenger != "" {
		t.Fatalf("audit of job %s: %+v", forged, d)
	}
	a := r.dispute(t, honest)
	t.Logf("audit %d of frank's job %s: %s (%s), frank slashed %s", a.Id, honest, a.Outcome, a.Reason, a.ProviderSlashed)
	if a.Claim != types.CLAIM_AUDIT || a.Outcome != types.DISPUTE_OUTCOME_REJECTED || !a.ProviderSlashed.IsZero() {
		t.Fatalf("audit of frank's honest job %s: %+v", honest, a)
	}
	g := r.dispute(t, honestG)
	if g.Claim != types.CLAIM_AUDIT || g.Outcome != types.DISPUTE_OUTCOME_REJECTED || !g.ProviderSlashed.IsZero() {
		t.Fatalf("audit of grace's honest job %s: %+v", honestG, g)
	}
	for _, job := range []string{honest, honestG} {
		if j := r.waitJob(t, job, 90*time.Second, types.JOB_STATUS_FINALIZED); !j.Paid.IsPositive() {
			t.Fatalf("audited honest job %s finalised unpaid: %+v", job, j)
		}
	}
	l := r.ledger(t, []types.Dispute{d, a, g})
	l.table(t)
	r.checkHonest(t, l, before)
	if l.earned["erin"]-l.slashed["erin"] >= 0 {
		t.Fatalf("erin: %+v", l)
	}
	t.Logf("done in %s", time.Since(start).Round(time.Second))
}
