package keeper_test

import (
	"fmt"
	"slices"
	"testing"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/inference/types"
)

// TestLazyMemberCopiesCommit: a member that copies another's commitment cannot
// reveal it (the commitment binds the voter), so it ends absent and is slashed;
// revealing a different vote than committed fails too.
func TestLazyMemberCopiesCommit(t *testing.T) {
	v := newVerif(t, "lazy", nil)
	id, ctx := v.postReceipt(v.ctx, vFirstProv, func(_ uint64, r *types.VerificationResult) { r.OutputSha256, _ = tk.Content("forged") })
	d, ctx := v.challenge(ctx, vChallenger, id, types.CLAIM_OUTPUT_MISMATCH)
	honest, lazy := d.Committee[0].Operator, d.Committee[1].Operator
	vote := types.Vote{ClaimHolds: true, Result: v.truth(id)}
	c, err := types.VoteCommitment(d.Id, honest, vote, salt(honest))
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{honest, lazy} { // the lazy member posts the honest one's bytes
		if _, err := v.f.Msg.CommitVote(ctx, &types.MsgCommitVote{Voter: op, DisputeId: d.Id, Commitment: c}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = v.f.Msg.CommitVote(ctx, &types.MsgCommitVote{Voter: lazy, DisputeId: d.Id, Commitment: c})
	mktWantErr(t, err, types.ErrAlreadyCommitted)
	// Revealing during the commit window is refused: nobody can copy a revealed vote.
	_, err = v.f.Msg.RevealVote(ctx, &types.MsgRevealVote{Voter: honest, DisputeId: d.Id, Vote: vote, Salt: salt(honest)})
	mktWantErr(t, err, types.ErrWindowClosed)
	for _, m := range d.Committee[2:] {
		mv := types.Vote{ClaimHolds: true, Result: v.truth(id)}
		mc, _ := types.VoteCommitment(d.Id, m.Operator, mv, salt(m.Operator))
		if _, err := v.f.Msg.CommitVote(ctx, &types.MsgCommitVote{Voter: m.Operator, DisputeId: d.Id, Commitment: mc}); err != nil {
			t.Fatal(err)
		}
	}
	ctx = v.advance(ctx, d.CommitEndHeight+1)
	// The copier learns the honest vote and salt once revealed, and still cannot match.
	if _, err := v.f.Msg.RevealVote(ctx, &types.MsgRevealVote{Voter: honest, DisputeId: d.Id, Vote: vote, Salt: salt(honest)}); err != nil {
		t.Fatal(err)
	}
	_, err = v.f.Msg.RevealVote(ctx, &types.MsgRevealVote{Voter: lazy, DisputeId: d.Id, Vote: vote, Salt: salt(honest)})
	mktWantErr(t, err, types.ErrCommitmentMismatch)
	flipped := types.Vote{ClaimHolds: false, Result: v.truth(id)}
	_, err = v.f.Msg.RevealVote(ctx, &types.MsgRevealVote{Voter: d.Committee[2].Operator, DisputeId: d.Id, Vote: flipped, Salt: salt(d.Committee[2].Operator)})
	mktWantErr(t, err, types.ErrCommitmentMismatch)
	for _, m := range d.Committee[2:] {
		mv := types.Vote{ClaimHolds: true, Result: v.truth(id)}
		if _, err := v.f.Msg.RevealVote(ctx, &types.MsgRevealVote{Voter: m.Operator, DisputeId: d.Id, Vote: mv, Salt: salt(m.Operator)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = v.f.Msg.RevealVote(ctx, &types.MsgRevealVote{Voter: honest, DisputeId: d.Id, Vote: vote, Salt: salt(honest)})
	mktWantErr(t, err, types.ErrAlreadyRevealed)
	lazyIdx := v.index[lazy]
	stake := v.provider(ctx, lazyIdx).Stake.Amount
	ctx = v.advance(ctx, d.RevealEndHeight+1)
	v.invariants(ctx)
	if d = v.dispute(ctx, d.Id); d.Outcome != types.DISPUTE_OUTCOME_UPHELD {
		t.Fatalf("outcome %s", d.Outcome)
	}
	want := bps(stake, v.params.AbsenceSlashBps)
	if got := stake.Sub(v.provider(ctx, lazyIdx).Stake.Amount); !got.Equal(want) {
		t.Fatalf("lazy member slashed %s, want %s", got, want)
	}
	s, err := v.f.K.VerificationSlashes.Get(ctx, collections.Join(v.acc(lazyIdx), d.Id))
	if err != nil || s.Reason != "absent" || !s.Amount.Amount.Equal(want) {
		t.Fatalf("slash record %v: %v", s, err)
	}
}

// TestAbsenceSlashing: a member that never commits and one that commits but never
// reveals are both slashed for absence; the rest decide; the query lists the slashes.
func TestAbsenceSlashing(t *testing.T) {
	v := newVerif(t, "absence", nil)
	id, ctx := v.postReceipt(v.ctx, vFirstProv, nil)
	d, ctx := v.challenge(ctx, vChallenger, id, types.CLAIM_USAGE_OVERCOUNT)
	silent, hidden := d.Committee[0].Operator, d.Committee[1].Operator
	stakes := map[string]sdkmath.Int{}
	for _, m := range d.Committee {
		stakes[m.Operator] = v.provider(ctx, v.index[m.Operator]).Stake.Amount
	}
	ctx = v.vote(ctx, d, func(m types.CommitteeMember) (types.Vote, bool, bool) {
		return types.Vote{ClaimHolds: false, Result: v.truth(id)}, m.Operator != silent, m.Operator != hidden
	})
	v.invariants(ctx)
	d = v.dispute(ctx, d.Id)
	if d.Outcome != types.DISPUTE_OUTCOME_REJECTED {
		t.Fatalf("outcome %s (%s)", d.Outcome, d.Reason)
	}
	for _, m := range d.Committee {
		i := v.index[m.Operator]
		got := stakes[m.Operator].Sub(v.provider(ctx, i).Stake.Amount)
		want := sdkmath.ZeroInt()
		if m.Operator == silent || m.Operator == hidden {
			want = bps(stakes[m.Operator], v.params.AbsenceSlashBps)
		}
		if !got.Equal(want) {
			t.Fatalf("member %d slashed %s, want %s", i, got, want)
		}
		res, err := v.f.Query.ProviderSlashes(ctx, &types.QueryProviderSlashesRequest{Operator: m.Operator})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(res.Slashes); (n == 1) != want.IsPositive() {
			t.Fatalf("member %d: %d slash records", i, n)
		}
	}
	committee, err := v.f.Query.Committee(ctx, &types.QueryCommitteeRequest{DisputeId: d.Id})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range committee.Members {
		if m.Committed != (m.Member.Operator != silent) || m.Revealed != (m.Member.Operator != silent && m.Member.Operator != hidden) {
			t.Fatalf("member state %+v", m)
		}
	}
}

// TestTooFewEligible: with fewer eligible providers than min_committee_size the
// dispute resolves at once for the status quo, the bond comes back and the receipt
// is paid; a quorum failure does the same after the windows.
func TestTooFewEligible(t *testing.T) {
	for _, tc := range []struct {
		name     string
		edit     func(*types.Params)
		reveal   bool
		wantWhy  string
		drawNone bool
	}{
		{name: "too few eligible", edit: func(p *types.Params) { p.MinCommitteeSize, p.CommitteeSize, p.MaxCommitteeCandidates = 8, 8, 8 }, wantWhy: "too_few_eligible", drawNone: true},
		{name: "no quorum", reveal: false, wantWhy: "no_quorum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerif(t, tc.name, tc.edit)
			id, ctx := v.postReceipt(v.ctx, vFirstProv, nil)
			before := v.snap(ctx)
			d, ctx := v.challenge(ctx, vChallenger, id, types.CLAIM_OUTPUT_MISMATCH)
			if tc.drawNone {
				if d.Status != types.DISPUTE_STATUS_RESOLVED || len(d.Committee) != 0 {
					t.Fatalf("dispute %s with %d members", d.Status, len(d.Committee))
				}
			} else {
				ctx = v.vote(ctx, d, func(types.CommitteeMember) (types.Vote, bool, bool) { return types.Vote{}, true, tc.reveal })
			}
			r, _ := v.f.K.Receipts.Get(ctx, id)
			ctx = v.advance(ctx, max(ctx.BlockHeight(), r.ChallengeEndHeight)+2)
			v.invariants(ctx)
			d = v.dispute(ctx, d.Id)
			if d.Outcome != types.DISPUTE_OUTCOME_INCONCLUSIVE || d.Reason != tc.wantWhy || !d.BondReturned.Amount.Equal(sdkmath.NewInt(vBond)) {
				t.Fatalf("dispute %s %s returned %s", d.Outcome, d.Reason, d.BondReturned)
			}
			if got := v.balance(ctx, vChallenger); !got.Equal(before.bal[vChallenger]) {
				t.Fatalf("challenger %s, had %s", got, before.bal[vChallenger])
			}
			if j := v.job(ctx, id); j.Status != types.JOB_STATUS_FINALIZED {
				t.Fatalf("job %s", j.Status)
			}
		})
	}
}

// TestCommitteeExcludesPartiesAndSeed: over many block hashes the accused, the
// challenger (itself a provider) and the requester never sit on the committee, the
// draw follows the block hash only (not the claim, bond or challenger), members are
// distinct and offer the deployment.
func TestCommitteeExcludesPartiesAndSeed(t *testing.T) {
	committees := map[string]string{}
	for round := range 12 {
		for _, variant := range []struct {
			by    int
			claim types.Claim
			bond  int64
		}{{vFirstProv + 1, types.CLAIM_OUTPUT_MISMATCH, vBond}, {vChallenger, types.CLAIM_USAGE_OVERCOUNT, 3 * vBond}} {
			salt := fmt.Sprintf("seed %d", round)
			v := newVerif(t, salt, nil)
			id, ctx := v.postReceipt(v.ctx, vFirstProv, nil)
			res, err := v.f.Msg.Challenge(ctx, v.challengeMsg(variant.by, types.TARGET_KIND_JOB_RECEIPT, id, variant.claim, variant.bond))
			if err != nil {
				t.Fatal(err)
			}
			ctx = v.advance(ctx, ctx.BlockHeight()+1)
			d := v.dispute(ctx, res.DisputeId)
			ms := v.members(d)
			if len(ms) != int(v.params.CommitteeSize) {
				t.Fatalf("committee of %d", len(ms))
			}
			for _, i := range ms {
				if i == vFirstProv || i == variant.by || i == vRequester || i == 0 {
					t.Fatalf("party %d drawn on its own committee %v", i, ms)
				}
				if has, _ := v.f.K.Offers.Has(ctx, collections.Join(v.acc(i), v.f.DeploymentID)); !has {
					t.Fatalf("member %d has no offer", i)
				}
			}
			sorted := slices.Clone(ms)
			slices.Sort(sorted)
			if len(slices.Compact(sorted)) != len(ms) {
				t.Fatalf("duplicate member in %v", ms)
			}
			key := fmt.Sprint(ms)
			if variant.by == vFirstProv+1 {
				// the first variant's challenger is a provider: remember the draw without it
				continue
			}
			if prev, ok := committees[salt]; ok && prev != key {
				t.Fatalf("same block hash, different committees: %s vs %s", prev, key)
			}
			committees[salt] = key
			// Same chain, same hashes: a second env with another claim and bond draws the same.
			w := newVerif(t, salt, nil)
			id2, ctx2 := w.postReceipt(w.ctx, vFirstProv, nil)
			res2, err := w.f.Msg.Challenge(ctx2, w.challengeMsg(vChallenger, types.TARGET_KIND_JOB_RECEIPT, id2, types.CLAIM_ATTRIBUTION_MISMATCH, 5*vBond))
			if err != nil {
				t.Fatal(err)
			}
			ctx2 = w.advance(ctx2, ctx2.BlockHeight()+1)
			if got := fmt.Sprint(w.members(w.dispute(ctx2, res2.DisputeId))); got != key {
				t.Fatalf("claim and bond changed the committee: %s vs %s", got, key)
			}
		}
	}
	distinct := map[string]bool{}
	for _, c := range committees {
		distinct[c] = true
	}
	if len(distinct) < 2 {
		t.Fatalf("the block hash does not move the draw: %v", committees)
	}
}

// TestChallengeValidation covers MsgChallenge's refusals.
func TestChallengeValidation(t *testing.T) {
	v := newVerif(t, "validation", nil)
	id, ctx := v.postReceipt(v.ctx, vFirstProv, nil)
	other, _ := v.awardTo(ctx, vFirstProv+1, mktOffer) // awarded, no receipt yet
	ok := func() *types.MsgChallenge {
		return v.challengeMsg(vChallenger, types.TARGET_KIND_JOB_RECEIPT, id, types.CLAIM_OUTPUT_MISMATCH, vBond)
	}
	cases := []struct {
		name string
		edit func(*types.MsgChallenge)
		want error
	}{
		{"bad address", func(m *types.MsgChallenge) { m.Challenger = "nope" }, types.ErrInvalidAddress},
		{"audit claim", func(m *types.MsgChallenge) { m.Claim = types.CLAIM_AUDIT }, types.ErrInvalidField},
		{"no claim", func(m *types.MsgChallenge) { m.Claim = types.CLAIM_UNSPECIFIED }, types.ErrInvalidField},
		{"bond too low", func(m *types.MsgChallenge) { m.Bond = mktCoin(1) }, types.ErrInvalidAmount},
		{"bond denom", func(m *types.MsgChallenge) { m.Bond.Denom = "uatom" }, types.ErrInvalidAmount},
		{"unknown kind", func(m *types.MsgChallenge) { m.TargetKind = 9 }, types.ErrInvalidField},
		{"unknown job", func(m *types.MsgChallenge) { m.TargetId = 999 }, types.ErrJobNotFound},
		{"no receipt", func(m *types.MsgChallenge) { m.TargetId = other }, types.ErrNotChallengeable},
		{"unknown settlement", func(m *types.MsgChallenge) { m.TargetKind = types.TARGET_KIND_SESSION_SETTLEMENT }, types.ErrSettlementNotFound},
		{"accused challenges itself", func(m *types.MsgChallenge) { m.Challenger = v.addr(vFirstProv) }, types.ErrPartyToDispute},
		{"bond unaffordable", func(m *types.MsgChallenge) { m.Bond = mktCoin(1 << 60) }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := ok()
			tc.edit(msg)
			_, err := v.f.Msg.Challenge(ctx, msg)
			if tc.want == nil {
				if err == nil {
					t.Fatal("expected an error")
				}
				return
			}
			mktWantErr(t, err, tc.want)
		})
	}
	// Window closed.
	late := v.advance(tk.Branch(ctx), v.job(ctx, id).CreatedHeight+1000)
	_, err := v.f.Msg.Challenge(late, ok())
	if err == nil {
		t.Fatal("challenge after the window accepted")
	}
	// Once disputed, never again.
	if _, err := v.f.Msg.Challenge(ctx, ok()); err != nil {
		t.Fatal(err)
	}
	_, err = v.f.Msg.Challenge(ctx, ok())
	mktWantErr(t, err, types.ErrAlreadyDisputed)
	v.invariants(ctx)
	// Window closed on a still-pending receipt.
	id3, ctx3 := v.postReceipt(ctx, vFirstProv+2, nil)
	r, _ := v.f.K.Receipts.Get(ctx3, id3)
	ctx3 = ctx3.WithBlockHeight(r.ChallengeEndHeight + 1)
	_, err = v.f.Msg.Challenge(ctx3, v.challengeMsg(vChallenger, types.TARGET_KIND_JOB_RECEIPT, id3, types.CLAIM_OUTPUT_MISMATCH, vBond))
	mktWantErr(t, err, types.ErrWindowClosed)
}

// TestRepeatOffenderJailed: a provider losing jail_after_faults disputes is jailed.
func TestRepeatOffenderJailed(t *testing.T) {
	v := newVerif(t, "repeat", nil)
	ctx := v.ctx
	for n := 1; n <= int(v.params.JailAfterFaults); n++ {
		var id uint64
		id, ctx = v.postReceipt(ctx, vFirstProv+3, func(_ uint64, r *types.VerificationResult) { r.CompletionTokens++ })
		var d types.Dispute
		d, ctx = v.challenge(ctx, vChallenger, id, types.CLAIM_USAGE_OVERCOUNT)
		ctx = v.vote(ctx, d, honestly(true, v.truth(id)))
		p := v.provider(ctx, vFirstProv+3)
		if p.VerificationFaults != uint64(n) || (p.Status == types.PROVIDER_STATUS_JAILED) != (n == int(v.params.JailAfterFaults)) {
			t.Fatalf("after %d faults: %d, %s", n, p.VerificationFaults, p.Status)
		}
		v.invariants(ctx)
		if n < int(v.params.JailAfterFaults) && p.Status != types.PROVIDER_STATUS_ACTIVE {
			// the first slash halves the stake (2,500,000 → 1,250,000): still above the minimum
			t.Fatalf("status %s after the first fault", p.Status)
		}
	}
}

// TestWrongClaimCannotShield: a forger's accomplice challenging the forged receipt
// with the wrong claim (to use up its one dispute) loses the bond, and the committee's
// recomputed results still convict the forger: a forged output is voided, a forged
// attribution replaced; the accomplice earns no reward.
func TestWrongClaimCannotShield(t *testing.T) {
	for _, tc := range []struct {
		name    string
		claim   types.Claim
		forged  func(v *verif) func(uint64, *types.VerificationResult)
		wantJob types.JobStatus
	}{
		{"forged output, attribution claimed", types.CLAIM_ATTRIBUTION_MISMATCH, func(*verif) func(uint64, *types.VerificationResult) {
			return func(_ uint64, r *types.VerificationResult) { r.OutputSha256, _ = tk.Content("forged") }
		}, types.JOB_STATUS_VOIDED},
		{"forged attribution, output claimed", types.CLAIM_OUTPUT_MISMATCH, func(v *verif) func(uint64, *types.VerificationResult) {
			return func(_ uint64, r *types.VerificationResult) { r.Summary = v.forgedSummary() }
		}, types.JOB_STATUS_FINALIZED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerif(t, tc.name, nil)
			id, ctx := v.postReceipt(v.ctx, vFirstProv, tc.forged(v))
			before := v.snap(ctx)
			d, ctx := v.challenge(ctx, vChallenger, id, tc.claim)
			ctx = v.vote(ctx, d, honestly(false, v.truth(id))) // the claimed part is right
			ctx = v.advance(ctx, ctx.BlockHeight()+1)
			v.invariants(ctx)
			d = v.dispute(ctx, d.Id)
			if d.Outcome != types.DISPUTE_OUTCOME_REJECTED || !d.BondSlashed.Amount.Equal(sdkmath.NewInt(vBond)) || !d.ChallengerReward.IsZero() {
				t.Fatalf("dispute %s, bond slashed %s, challenger reward %s", d.Outcome, d.BondSlashed, d.ChallengerReward)
			}
			slashed := bps(before.stake[vFirstProv], v.params.FraudSlashBps)
			if got := before.stake[vFirstProv].Sub(v.provider(ctx, vFirstProv).Stake.Amount); !got.Equal(slashed) || !d.ProviderSlashed.Amount.Equal(slashed) {
				t.Fatalf("forger slashed %s, want %s", got, slashed)
			}
			if j := v.job(ctx, id); j.Status != tc.wantJob {
				t.Fatalf("job %s, want %s", j.Status, tc.wantJob)
			}
			if r, _ := v.f.K.Receipts.Get(ctx, id); tc.wantJob == types.JOB_STATUS_FINALIZED && r.Summary.RecordSha256 != v.f.Summary.RecordSha256 {
				t.Fatal("forged summary paid")
			}
			if got := v.balance(ctx, vChallenger).Sub(before.bal[vChallenger]); !got.Equal(sdkmath.NewInt(-vBond)) {
				t.Fatalf("accomplice gained %s", got)
			}
		})
	}
}

// TestUnbondingDoesNotEscape: a forger that unbonds its whole stake right after the
// receipt is still slashed, from its unbonding entry.
func TestUnbondingDoesNotEscape(t *testing.T) {
	v := newVerif(t, "unbond", nil)
	id, ctx := v.postReceipt(v.ctx, vFirstProv, func(_ uint64, r *types.VerificationResult) { r.CompletionTokens *= 3 })
	stake := v.provider(ctx, vFirstProv).Stake
	if _, err := v.f.Msg.UnbondStake(ctx, &types.MsgUnbondStake{Operator: v.addr(vFirstProv), Amount: stake}); err != nil {
		t.Fatal(err)
	}
	d, ctx := v.challenge(ctx, vChallenger, id, types.CLAIM_USAGE_OVERCOUNT)
	ctx = v.vote(ctx, d, honestly(true, v.truth(id)))
	v.invariants(ctx)
	p := v.provider(ctx, vFirstProv)
	want := bps(stake.Amount, v.params.FraudSlashBps)
	if d = v.dispute(ctx, d.Id); !d.ProviderSlashed.Amount.Equal(want) || !p.Unbonding.Equal(stake.Amount.Sub(want)) || !p.Stake.IsZero() {
		t.Fatalf("slashed %s (want %s), unbonding %s, stake %s", d.ProviderSlashed, want, p.Unbonding, p.Stake)
	}
}

// TestVoteValidation covers MsgCommitVote's and MsgRevealVote's refusals.
func TestVoteValidation(t *testing.T) {
	v := newVerif(t, "votes", nil)
	id, ctx := v.postReceipt(v.ctx, vFirstProv, nil)
	d, ctx := v.challenge(ctx, vChallenger, id, types.CLAIM_OUTPUT_MISMATCH)
	m := d.Committee[0].Operator
	vote := types.Vote{Result: v.truth(id)}
	c, _ := types.VoteCommitment(d.Id, m, vote, salt(m))
	outsider := v.addr(vFirstProv) // the accused, never a member
	commit := func(ctx sdk.Context, voter string, id uint64, c []byte) error {
		_, err := v.f.Msg.CommitVote(ctx, &types.MsgCommitVote{Voter: voter, DisputeId: id, Commitment: c})
		return err
	}
	reveal := func(ctx sdk.Context, voter string, s []byte) error {
		_, err := v.f.Msg.RevealVote(ctx, &types.MsgRevealVote{Voter: voter, DisputeId: d.Id, Vote: vote, Salt: s})
		return err
	}
	mktWantErr(t, commit(ctx, outsider, d.Id, c), types.ErrNotCommitteeMember)
	mktWantErr(t, commit(ctx, m, d.Id, c[:31]), types.ErrInvalidField)
	mktWantErr(t, commit(ctx, m, 999, c), types.ErrDisputeNotFound)
	mktWantErr(t, commit(ctx, "bad", d.Id, c), types.ErrInvalidAddress)
	mktWantErr(t, commit(ctx, m, d.Id, c), nil)
	late := v.advance(tk.Branch(ctx), d.CommitEndHeight+1)
	mktWantErr(t, commit(late, d.Committee[1].Operator, d.Id, c), types.ErrWindowClosed)
	mktWantErr(t, reveal(late, d.Committee[1].Operator, salt(d.Committee[1].Operator)), types.ErrNoCommitment)
	mktWantErr(t, reveal(late, m, salt(m)[:15]), types.ErrInvalidField)
	bad := vote
	bad.Result.OutputSha256 = "xyz"
	_, err := v.f.Msg.RevealVote(late, &types.MsgRevealVote{Voter: m, DisputeId: d.Id, Vote: bad, Salt: salt(m)})
	mktWantErr(t, err, types.ErrInvalidField)
	after := v.advance(tk.Branch(ctx), d.RevealEndHeight)
	after = after.WithBlockHeight(d.RevealEndHeight + 1) // the tally has not run in this branch
	mktWantErr(t, reveal(after, m, salt(m)), types.ErrWindowClosed)
	resolved := v.advance(tk.Branch(ctx), d.RevealEndHeight+1)
	mktWantErr(t, reveal(resolved, m, salt(m)), types.ErrWrongDisputeStatus)
}
