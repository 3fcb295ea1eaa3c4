package daemon_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openledger/openledger/x/inference/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// TestCheatingSessionProviderCaughtOnChain: the rig of
// TestCheatingProviderCaughtOnChain (three real `openledgerd provider start`
// daemons on one real chain), with erin's daemon lying only where a session
// is settled: OPENLEDGER_PROVIDER_CHEAT=session-settlement:<her contribution>
// keeps every request receipt honest and makes the settlement's merged
// attribution summary credit her contribution. gina runs `openledgerd infer`
// on erin's deployment; erin settles the session; gina's `openledgerd verify
// settlement` exits non-zero naming the attribution mismatch and prints the
// challenge command; gina challenges with a bond; frank's and grace's daemons
// serve committee duty by themselves. The dispute is UPHELD: erin is slashed
// more than the settlement could have paid her, gina gets her bond back and a
// challenger reward, and — the finding being about attribution only — the
// committee's recomputed summary replaces erin's and the settlement is paid
// by it. Meanwhile gina's sessions with frank and grace settle, verify
// ("Every claim holds") and are paid; frank and grace are never slashed.
func TestCheatingSessionProviderCaughtOnChain(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts a chain and three provider daemons")
	}
	start := time.Now()
	// erin's contribution is the fresh chain's first (checked below): the lie
	// names it when the daemon starts.
	r := newCheatRig(t, 0, "session-settlement:1")
	if r.contrib != "1" {
		t.Fatalf("erin's contribution is %s; the lie was armed with 1", r.contrib)
	}
	t.Logf("chain, model, three deployments, requester IPFS and three provider daemons up in %s", time.Since(start).Round(time.Second))
	before := r.snapshot(t)

	// erin's session: honest receipts, a lying settlement.
	lying := r.inferTwice(t, r.c.Home, "erin", 1)
	lie := r.settled(t, lying, "erin")
	challenged := r.challengeSettlement(t, lie, "attribution", "attribution-mismatch")

	// frank's and grace's honest sessions, while the committee works.
	honest := map[string]uint64{"frank": r.inferTwice(t, r.c.Home, "frank", 2), "grace": r.inferTwice(t, r.c.Home, "grace", 3)}
	settlements := map[string]types.SessionSettlement{}
	for _, p := range []string{"frank", "grace"} {
		settlements[p] = r.settled(t, honest[p], p)
	}
	out, ok := r.verifySettlement(t, settlements["frank"].Id)
	t.Logf("verify settlement %d (frank's, honest):\n%s", settlements["frank"].Id, out)
	if !ok || !strings.Contains(out, "Every claim holds") || strings.Contains(out, "MISMATCH") {
		t.Fatalf("verify settlement %d of an honest settlement: exit ok=%v", settlements["frank"].Id, ok)
	}

	d := r.disputeOf(t, types.TARGET_KIND_SESSION_SETTLEMENT, lie.Id)
	r.checkSettlementUpheld(t, lie, d)
	if d.Challenger != r.addr["gina"] || !d.ChallengerReward.IsPositive() || !d.BondReturned.Equal(d.Bond) || d.Bond.String() != cheatBond {
		t.Fatalf("challenge of settlement %d: %+v", lie.Id, d)
	}
	if challenged.Claim != types.CLAIM_ATTRIBUTION_MISMATCH {
		t.Fatalf("challenge of settlement %d: claim %s", lie.Id, challenged.Claim)
	}

	// An attribution-only finding (x/inference correctTarget): the committee's
	// summary replaces erin's, and the settlement is paid by it.
	fixed := r.waitSettlement(t, lying, lie.Id, 60*time.Second, types.SETTLEMENT_STATUS_FINALIZED, types.SETTLEMENT_STATUS_VOIDED)
	t.Logf("settlement %d after the dispute: %s, record %s → %s, summary %s → %s", lie.Id, fixed.Status, lie.RecordCid, fixed.RecordCid,
		lie.Summary.String(), fixed.Summary.String())
	if fixed.Status != types.SETTLEMENT_STATUS_FINALIZED || fixed.Summary.String() != d.Adopted.Summary.String() ||
		fixed.Summary.String() == lie.Summary.String() || (d.Adopted.RecordCid != "" && fixed.RecordCid != d.Adopted.RecordCid) {
		t.Fatalf("settlement %d after an upheld attribution mismatch: %+v; the committee adopted %+v", lie.Id, fixed, d.Adopted)
	}
	paid := r.paidRecord(t, lie.Id)
	t.Logf("settlement %d paid: compute %s to erin, developer %s, direct %s, pooled %s, by summary %s", lie.Id, paid.Compute,
		paid.Developer, paid.Direct, paid.Pooled, paid.Summary.String())
	if paid.Provider != r.addr["erin"] || paid.Summary.String() != d.Adopted.Summary.String() {
		t.Fatalf("settlement %d paid by %+v, not by the committee's summary %s", lie.Id, paid, d.Adopted.Summary.String())
	}
	if claimed, got := ppmOf(lie.Summary, 1), ppmOf(paid.Summary, 1); claimed <= got {
		t.Fatalf("erin's summary credited her contribution %d ppm, the paid one %d: the lie was no lie", claimed, got)
	}

	for _, p := range []string{"frank", "grace"} {
		st := r.waitSettlement(t, honest[p], settlements[p].Id, 90*time.Second, types.SETTLEMENT_STATUS_FINALIZED)
		if rec := r.paidRecord(t, st.Id); rec.Provider != r.addr[p] || !rec.Compute.IsPositive() || st.DisputeId != 0 {
			t.Fatalf("%s's honest settlement %d: %+v, paid %+v", p, st.Id, st, rec)
		}
	}
	l := r.ledger(t, []types.Dispute{d})
	l.table(t)
	r.checkHonest(t, l, before)
	if l.slashed["erin"] != d.ProviderSlashed.Amount.Int64() || l.earned["erin"]-l.slashed["erin"] >= 0 ||
		l.jobs["erin"] != 1 || l.jobs["frank"] != 1 || l.jobs["grace"] != 1 {
		t.Fatalf("ledger: %+v", l)
	}
	t.Logf("done in %s", time.Since(start).Round(time.Second))
}

// challengeSettlement runs `verify settlement` on a lying settlement (it must
// exit non-zero naming the check and print the challenge command), and
// challenges it with claim and the rig's bond. It returns the dispute as the
// challenge opened it.
func (r *cheatRig) challengeSettlement(t *testing.T, st types.SessionSettlement, check, claim string) types.Dispute {
	t.Helper()
	id := strconv.FormatUint(st.Id, 10)
	out, ok := r.verifySettlement(t, st.Id)
	t.Logf("verify settlement %s:\n%s", id, out)
	if ok || !strings.Contains(out, check) || !strings.Contains(out, "MISMATCH") ||
		!strings.Contains(out, "challenge session-settlement "+id+" "+claim) {
		t.Fatalf("verify settlement %s of a %s lie: exit ok=%v, want non-zero naming %s", id, check, ok, claim)
	}
	res := r.c.MustTx("gina", "inference", "challenge", "session-settlement", id, claim, cheatBond)
	did, err := strconv.ParseUint(res.Attr("openledger.inference.v1.EventDisputeOpened", "dispute_id"), 10, 64)
	if err != nil {
		t.Fatalf("challenge of settlement %s: no dispute id in its events: %v", id, err)
	}
	d, err := r.q.Inference().Dispute(t.Context(), &types.QueryDisputeRequest{DisputeId: did})
	if err != nil {
		t.Fatal(err)
	}
	return d.Dispute
}

// checkSettlementUpheld checks a decided dispute of one of erin's lying
// settlements: UPHELD by frank and grace, the voters rewarded, and erin
// slashed more than the settlement's whole amount (all it could pay her).
func (r *cheatRig) checkSettlementUpheld(t *testing.T, st types.SessionSettlement, d types.Dispute) {
	t.Helper()
	t.Logf("dispute %d (%s) on settlement %d: %s (%s); committee %d members, upheld %s / rejected %s; erin slashed %s, voters %s, challenger %s; settlement amount %s",
		d.Id, d.Claim, st.Id, d.Outcome, d.Reason, len(d.Committee), d.UpheldWeight, d.RejectedWeight, d.ProviderSlashed,
		d.VoterRewards, d.ChallengerReward, st.Amount)
	if d.Outcome != types.DISPUTE_OUTCOME_UPHELD || len(d.Committee) != 2 || !d.VoterRewards.IsPositive() || d.Provider != r.addr["erin"] {
		t.Fatalf("dispute on settlement %d: %+v", st.Id, d)
	}
	for _, m := range d.Committee {
		if m.Operator != r.addr["frank"] && m.Operator != r.addr["grace"] {
			t.Fatalf("committee member %s is not frank or grace", m.Operator)
		}
	}
	if !d.ProviderSlashed.Amount.GT(st.Amount.Amount) {
		t.Fatalf("erin slashed %s, no more than the settlement's amount %s", d.ProviderSlashed, st.Amount)
	}
}

// ppmOf is the direct share a summary credits a contribution with.
func ppmOf(s rewardstypes.AttributionSummary, contribution uint64) uint64 {
	var ppm uint64
	for _, c := range s.Top {
		if c.ContributionId == contribution {
			ppm += uint64(c.Ppm)
		}
	}
	return ppm
}
