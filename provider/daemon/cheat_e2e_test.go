package daemon_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/openledger/openledger/x/inference/types"
)

// TestCheatingProviderCaughtOnChain: three real `openledgerd provider start`
// daemons on one real chain with the tiny model deployed. erin's daemon runs
// with the test-only lie OPENLEDGER_PROVIDER_CHEAT=output (provider/internal/
// cheat): her receipt claims a forged output, honestly attributed. The
// requester's `openledgerd verify receipt` exits non-zero naming the output
// mismatch; she challenges with a bond; frank's and grace's daemons serve
// committee duty by themselves; the dispute is UPHELD, erin is slashed more
// than the job could have paid her, the voters are rewarded. frank's and
// grace's honest jobs, meanwhile, are finalised and paid, and neither is ever
// slashed. The long variant (-tags long) adds attribution forgery, usage
// inflation, a frivolous challenge and a random audit.
func TestCheatingProviderCaughtOnChain(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts a chain and three provider daemons")
	}
	start := time.Now()
	r := newCheatRig(t, 0, "output")
	t.Logf("chain, model, three deployments, requester IPFS and three provider daemons up in %s", time.Since(start).Round(time.Second))
	before := r.snapshot(t)

	forged := r.post(t, "erin", 1)
	honestF := r.post(t, "frank", 2)
	honestG := r.post(t, "grace", 3)
	r.receipted(t, forged, "erin")
	d := r.catchByChallenge(t, forged, "output", "output-mismatch")
	r.receipted(t, honestF, "frank")
	r.receipted(t, honestG, "grace")
	for _, job := range []string{honestF, honestG} {
		j := r.waitJob(t, job, 90*time.Second, types.JOB_STATUS_FINALIZED)
		if !j.Paid.IsPositive() {
			t.Fatalf("honest job %s finalised unpaid: %+v", job, j)
		}
	}
	l := r.ledger(t, []types.Dispute{d})
	l.table(t)
	r.checkHonest(t, l, before)
	if l.slashed["erin"] < d.ProviderSlashed.Amount.Int64() || l.earned["erin"] != 0 || l.jobs["frank"] != 1 || l.jobs["grace"] != 1 {
		t.Fatalf("ledger: %+v", l)
	}
	t.Logf("done in %s", time.Since(start).Round(time.Second))
}

// catchByChallenge runs `verify receipt` on a lying receipt (it must exit
// non-zero naming the check), challenges it with claim, and checks the
// outcome: UPHELD, the job voided, erin slashed more than the job's escrow
// (all she could have earned from it), the members rewarded.
func (r *cheatRig) catchByChallenge(t *testing.T, job, check, claim string) types.Dispute {
	t.Helper()
	out, ok := r.verify(t, job)
	t.Logf("verify receipt %s:\n%s", job, out)
	if ok || !strings.Contains(out, check) || !strings.Contains(out, "MISMATCH") ||
		!strings.Contains(out, "challenge job-receipt "+job+" "+claim) {
		t.Fatalf("verify receipt %s of a %s lie: exit ok=%v, want non-zero naming %s", job, check, ok, claim)
	}
	r.c.MustTx("gina", "inference", "challenge", "job-receipt", job, claim, cheatBond)
	d := r.dispute(t, job)
	r.checkUpheld(t, job, d)
	if d.Challenger != r.addr["gina"] || !d.ChallengerReward.IsPositive() || !d.BondReturned.Equal(d.Bond) {
		t.Fatalf("challenge of job %s: %+v", job, d)
	}
	return d
}

// checkUpheld checks a decided dispute of one of erin's lying receipts.
func (r *cheatRig) checkUpheld(t *testing.T, job string, d types.Dispute) {
	t.Helper()
	j := r.jobOf(t, job)
	t.Logf("dispute %d (%s) on job %s: %s (%s); committee %d members, upheld %s / rejected %s; erin slashed %s, voters %s, challenger %s; job %s, paid %s, refunded %s",
		d.Id, d.Claim, job, d.Outcome, d.Reason, len(d.Committee), d.UpheldWeight, d.RejectedWeight, d.ProviderSlashed,
		d.VoterRewards, d.ChallengerReward, j.Status, j.Paid, j.Refunded)
	if d.Outcome != types.DISPUTE_OUTCOME_UPHELD || len(d.Committee) != 2 || !d.VoterRewards.IsPositive() {
		t.Fatalf("dispute on job %s: %+v", job, d)
	}
	for _, m := range d.Committee {
		if m.Operator != r.addr["frank"] && m.Operator != r.addr["grace"] {
			t.Fatalf("committee member %s is not frank or grace", m.Operator)
		}
	}
	// The escrow bounds what the job could pay her, even when the committee's
	// recomputed record or usage is adopted and the job paid by it.
	if !d.ProviderSlashed.Amount.GT(j.Escrow.Amount) {
		t.Fatalf("erin slashed %s, no more than the job's escrow %s", d.ProviderSlashed, j.Escrow)
	}
}

// checkHonest: frank and grace are never slashed and earned; their stake is
// unchanged and their balance moved by exactly what they earned and were
// rewarded less the fees they paid — a net gain.
func (r *cheatRig) checkHonest(t *testing.T, l ledger, before snapshot) {
	t.Helper()
	h, err := r.q.LatestHeight(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"frank", "grace"} {
		b, s := r.worth(t, p, h)
		fees := r.fees(t, p, before.height)
		t.Logf("%s from height %d to %d: balance %d → %d (earned %d + rewarded %d − fees %d), stake %d → %d",
			p, before.height, h, before.balance[p], b, l.earned[p], l.rewarded[p], fees, before.stake[p], s)
		if l.slashed[p] != 0 || l.earned[p] <= 0 || s != before.stake[p] || b <= before.balance[p] ||
			b-before.balance[p] != l.earned[p]+l.rewarded[p]-fees {
			t.Fatalf("%s: slashed %d, earned %d, rewarded %d, fees %d; balance %d → %d, stake %d → %d", p, l.slashed[p], l.earned[p],
				l.rewarded[p], fees, before.balance[p], b, before.stake[p], s)
		}
	}
}
