package keeper_test

import (
	"slices"
	"testing"

	sdkmath "cosmossdk.io/math"

	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/inference/types"
)

func bps(a sdkmath.Int, b uint32) sdkmath.Int { return a.MulRaw(int64(b)).QuoRaw(types.BpsScale) }

// TestVerificationAttacks runs the attacks on job receipts through a real
// challenge, committee draw, commit–reveal and tally, and checks every coin moved.
func TestVerificationAttacks(t *testing.T) {
	const prov = vFirstProv + 2
	forgeOutput := func(_ uint64, r *types.VerificationResult) { r.OutputSha256, _ = tk.Content("forged output") }
	inflate := func(_ uint64, r *types.VerificationResult) { r.CompletionTokens *= 10 }
	cases := []struct {
		name        string
		claim       types.Claim
		forge       func(uint64, *types.VerificationResult)
		ballots     func(v *verif, d types.Dispute, truth types.VerificationResult) ballotFn
		want        types.DisputeOutcome
		wantJob     types.JobStatus
		wantReceipt types.SettlementStatus
		colluders   bool
	}{
		{
			name: "output forgery caught by a challenge", claim: types.CLAIM_OUTPUT_MISMATCH, forge: forgeOutput,
			ballots: func(_ *verif, _ types.Dispute, tr types.VerificationResult) ballotFn { return honestly(true, tr) },
			want:    types.DISPUTE_OUTCOME_UPHELD, wantJob: types.JOB_STATUS_VOIDED, wantReceipt: types.SETTLEMENT_STATUS_VOIDED,
		},
		{
			name: "usage inflation", claim: types.CLAIM_USAGE_OVERCOUNT, forge: inflate,
			ballots: func(_ *verif, _ types.Dispute, tr types.VerificationResult) ballotFn { return honestly(true, tr) },
			want:    types.DISPUTE_OUTCOME_UPHELD, wantJob: types.JOB_STATUS_VOIDED, wantReceipt: types.SETTLEMENT_STATUS_VOIDED,
		},
		{
			name: "attribution forgery replaced by the committee's record", claim: types.CLAIM_ATTRIBUTION_MISMATCH,
			ballots: func(_ *verif, _ types.Dispute, tr types.VerificationResult) ballotFn { return honestly(true, tr) },
			want:    types.DISPUTE_OUTCOME_UPHELD, wantJob: types.JOB_STATUS_FINALIZED, wantReceipt: types.SETTLEMENT_STATUS_FINALIZED,
		},
		{
			name: "frivolous challenge loses the bond", claim: types.CLAIM_OUTPUT_MISMATCH,
			ballots: func(_ *verif, _ types.Dispute, tr types.VerificationResult) ballotFn { return honestly(false, tr) },
			want:    types.DISPUTE_OUTCOME_REJECTED, wantJob: types.JOB_STATUS_FINALIZED, wantReceipt: types.SETTLEMENT_STATUS_FINALIZED,
		},
		{
			name: "minority stake colluding with the forger loses", claim: types.CLAIM_OUTPUT_MISMATCH, forge: forgeOutput,
			ballots: func(v *verif, d types.Dispute, tr types.VerificationResult) ballotFn {
				bad := minorityColluders(d)
				return func(m types.CommitteeMember) (types.Vote, bool, bool) {
					if slices.Contains(bad, m.Operator) { // vouch for the forged receipt
						return types.Vote{ClaimHolds: false, Result: tr}, true, true
					}
					return types.Vote{ClaimHolds: true, Result: tr}, true, true
				}
			},
			want: types.DISPUTE_OUTCOME_UPHELD, wantJob: types.JOB_STATUS_VOIDED, wantReceipt: types.SETTLEMENT_STATUS_VOIDED,
			colluders: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerif(t, tc.name, nil)
			forge := tc.forge
			if tc.claim == types.CLAIM_ATTRIBUTION_MISMATCH {
				forge = func(_ uint64, r *types.VerificationResult) { r.Summary = v.forgedSummary() }
			}
			id, ctx := v.postReceipt(v.ctx, prov, forge)
			escrow := v.job(ctx, id).Escrow.Amount
			before := v.snap(ctx)
			d, ctx := v.challenge(ctx, vChallenger, id, tc.claim)
			if j := v.job(ctx, id); j.Status != types.JOB_STATUS_CHALLENGED {
				t.Fatalf("job %s while disputed", j.Status)
			}
			if got := v.balance(ctx, vChallenger); !got.Equal(before.bal[vChallenger].SubRaw(vBond)) {
				t.Fatalf("bond not escrowed: %s", got)
			}
			v.invariants(ctx)
			ctx = v.vote(ctx, d, tc.ballots(v, d, v.truth(id)))
			v.invariants(ctx)
			after := v.snap(ctx)                      // the dispute's own transfers
			ctx = v.advance(ctx, ctx.BlockHeight()+1) // a re-queued target pays at the next block
			v.invariants(ctx)
			d = v.dispute(ctx, d.Id)
			if d.Status != types.DISPUTE_STATUS_RESOLVED || d.Outcome != tc.want {
				t.Fatalf("dispute %s %s (%s), want %s", d.Status, d.Outcome, d.Reason, tc.want)
			}
			if j := v.job(ctx, id); j.Status != tc.wantJob {
				t.Fatalf("job %s, want %s", j.Status, tc.wantJob)
			}
			r, err := v.f.K.Receipts.Get(ctx, id)
			if err != nil || r.Status != tc.wantReceipt || r.DisputeId != d.Id {
				t.Fatalf("receipt %s (dispute %d), want %s: %v", r.Status, r.DisputeId, tc.wantReceipt, err)
			}
			delta := func(i int) sdkmath.Int { return after.bal[i].Sub(before.bal[i]) }
			majority, wrong := sdkmath.ZeroInt(), sdkmath.ZeroInt()
			var voterPaid sdkmath.Int = sdkmath.ZeroInt()
			colluders := minorityColluders(d)
			for _, m := range d.Committee {
				i := v.index[m.Operator]
				voterPaid = voterPaid.Add(delta(i))
				if tc.colluders && slices.Contains(colluders, m.Operator) {
					want := bps(before.stake[i], v.params.WrongVoteSlashBps)
					if got := before.stake[i].Sub(after.stake[i]); !got.Equal(want) || !delta(i).IsZero() {
						t.Fatalf("colluder %d: slashed %s (want %s), paid %s", i, got, want, delta(i))
					}
					wrong = wrong.Add(want)
					continue
				}
				majority = majority.Add(m.Weight)
			}
			if !voterPaid.Equal(d.VoterRewards.Amount) {
				t.Fatalf("voters received %s, dispute says %s", voterPaid, d.VoterRewards)
			}
			switch tc.want {
			case types.DISPUTE_OUTCOME_UPHELD:
				slashed := bps(before.stake[prov], v.params.FraudSlashBps)
				if !d.ProviderSlashed.Amount.Equal(slashed) || !before.stake[prov].Sub(after.stake[prov]).Equal(slashed) {
					t.Fatalf("provider slashed %s, want %s", d.ProviderSlashed, slashed)
				}
				reward := bps(slashed, v.params.ChallengerRewardBps)
				if !delta(vChallenger).Equal(reward) || !d.ChallengerReward.Amount.Equal(reward) {
					t.Fatalf("challenger gained %s, want the bond back plus %s", delta(vChallenger), reward)
				}
				pool := bps(slashed, v.params.VoterRewardBps)
				if d.VoterRewards.Amount.GT(pool) || pool.Sub(d.VoterRewards.Amount).GT(sdkmath.NewInt(int64(len(d.Committee)))) {
					t.Fatalf("voter rewards %s of a pool of %s", d.VoterRewards, pool)
				}
				wantPool := slashed.Sub(reward).Sub(d.VoterRewards.Amount).Add(wrong)
				if got := after.pool.Sub(before.pool); !got.Equal(wantPool) {
					t.Fatalf("community pool gained %s, want %s", got, wantPool)
				}
				if p := v.provider(ctx, prov); p.VerificationFaults != 1 {
					t.Fatalf("faults %d", p.VerificationFaults)
				}
				if tc.wantJob == types.JOB_STATUS_VOIDED && !delta(vRequester).Equal(escrow) {
					t.Fatalf("requester refunded %s, want the escrow %s", delta(vRequester), escrow)
				}
				if tc.claim == types.CLAIM_ATTRIBUTION_MISMATCH && r.Summary.RecordSha256 != v.f.Summary.RecordSha256 {
					t.Fatalf("summary not replaced: %s", r.Summary.RecordSha256)
				}
			case types.DISPUTE_OUTCOME_REJECTED:
				if !delta(vChallenger).Equal(sdkmath.NewInt(-vBond)) || !d.BondSlashed.Amount.Equal(sdkmath.NewInt(vBond)) {
					t.Fatalf("challenger delta %s, bond slashed %s", delta(vChallenger), d.BondSlashed)
				}
				if got := after.pool.Sub(before.pool); !got.Equal(d.BondSlashed.Amount.Sub(d.VoterRewards.Amount)) {
					t.Fatalf("community pool gained %s", got)
				}
				if paid := v.balance(ctx, prov).Sub(before.bal[prov]); !after.stake[prov].Equal(before.stake[prov]) || !paid.IsPositive() {
					t.Fatalf("honest provider: stake %s → %s, paid %s", before.stake[prov], after.stake[prov], paid)
				}
			}
			if tc.colluders && (len(colluders) == 0 || !majority.GT(d.CommitteeWeight.QuoRaw(2))) {
				t.Fatalf("colluders %v are not a minority", colluders)
			}
		})
	}
}

// minorityColluders is the largest prefix of the lightest members whose weight stays
// below half the committee's (never empty when the committee has two members).
func minorityColluders(d types.Dispute) []string {
	ms := slices.Clone(d.Committee)
	slices.SortFunc(ms, func(a, b types.CommitteeMember) int { return a.Weight.BigInt().Cmp(b.Weight.BigInt()) })
	var out []string
	w := sdkmath.ZeroInt()
	for _, m := range ms {
		if w.Add(m.Weight).MulRaw(2).GTE(d.CommitteeWeight) {
			break
		}
		w = w.Add(m.Weight)
		out = append(out, m.Operator)
	}
	return out
}
