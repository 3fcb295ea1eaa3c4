package keeper_test

import (
	"bytes"
	"testing"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/inference/types"
)

// FuzzChallenge drives MsgChallenge's fields through the msg server against a
// PENDING receipt. It never panics; a refused challenge changes nothing; an accepted
// one escrows exactly its bond, is a valid claim on a known target and keeps the
// invariants.
func FuzzChallenge(f *testing.F) {
	v := newVerif(f, "fuzz challenge", nil)
	id, ctx := v.postReceipt(v.ctx, vFirstProv, nil)
	f.Add(uint8(vChallenger), int32(1), id, int32(1), int64(vBond), "uopen")
	f.Add(uint8(vFirstProv), int32(1), id, int32(2), int64(vBond), "uopen")
	f.Add(uint8(vChallenger), int32(2), uint64(1), int32(3), int64(vBond), "uopen")
	f.Add(uint8(vChallenger), int32(1), id, int32(4), int64(vBond), "uopen")
	f.Add(uint8(vChallenger), int32(1), id, int32(1), int64(-5), "uopen")
	f.Add(uint8(vChallenger), int32(1), id, int32(1), int64(vBond), "")
	f.Add(uint8(200), int32(-1), ^uint64(0), int32(99), int64(1<<62), "x")
	f.Fuzz(func(t *testing.T, who uint8, kind int32, target uint64, claim int32, bond int64, denom string) {
		c := tk.Branch(ctx)
		challenger := "not-an-address"
		if int(who) < vAccounts {
			challenger = v.addr(int(who))
		}
		msg := &types.MsgChallenge{
			Challenger: challenger, TargetKind: types.TargetKind(kind), TargetId: target, Claim: types.Claim(claim),
			Bond: sdk.Coin{Denom: denom, Amount: sdkmath.NewInt(bond)},
		}
		modBefore := v.moduleBalance(c)
		res, err := v.f.Msg.Challenge(c, msg)
		if err != nil {
			if !v.moduleBalance(c).Equal(modBefore) {
				t.Fatalf("refused challenge moved coins: %v", err)
			}
			return
		}
		if claim < 1 || claim > 3 || bond < v.params.MinChallengeBond.Amount.Int64() || denom != tk.Denom || int(who) == vFirstProv {
			t.Fatalf("accepted %+v", msg)
		}
		if got := v.moduleBalance(c).Sub(modBefore); !got.Equal(sdkmath.NewInt(bond)) {
			t.Fatalf("escrowed %s, bond %d", got, bond)
		}
		if d, err := v.f.K.GetDispute(c, res.DisputeId); err != nil || d.TargetId != target {
			t.Fatalf("dispute %+v: %v", d, err)
		}
		if err := v.f.K.AllInvariants(c); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzRevealVote drives MsgRevealVote's vote fields and salt against a member's
// commitment of a known vote. It never panics; only the exact committed vote and salt
// of the committing member are accepted.
func FuzzRevealVote(f *testing.F) {
	v := newVerif(f, "fuzz reveal", nil)
	id, ctx := v.postReceipt(v.ctx, vFirstProv, nil)
	d, ctx := v.challenge(ctx, vChallenger, id, types.CLAIM_OUTPUT_MISMATCH)
	member := d.Committee[0].Operator
	committed := types.Vote{ClaimHolds: false, Result: v.truth(id)}
	c, err := types.VoteCommitment(d.Id, member, committed, salt(member))
	if err != nil {
		f.Fatal(err)
	}
	if _, err := v.f.Msg.CommitVote(ctx, &types.MsgCommitVote{Voter: member, DisputeId: d.Id, Commitment: c}); err != nil {
		f.Fatal(err)
	}
	ctx = v.advance(ctx, d.CommitEndHeight+1)
	r := committed.Result
	f.Add(uint8(0), false, r.OutputSha256, r.PromptTokens, r.CompletionTokens, r.RecordCid, r.Summary.RecordSha256, salt(member))
	f.Add(uint8(1), false, r.OutputSha256, r.PromptTokens, r.CompletionTokens, r.RecordCid, r.Summary.RecordSha256, salt(member))
	f.Add(uint8(0), true, r.OutputSha256, r.PromptTokens, r.CompletionTokens, r.RecordCid, r.Summary.RecordSha256, salt(member))
	f.Add(uint8(0), false, "zz", ^uint64(0), uint64(1), "bad cid", "", []byte{1})
	f.Add(uint8(9), false, "", uint64(0), uint64(0), "", "", bytes.Repeat([]byte{7}, 80))
	f.Fuzz(func(t *testing.T, who uint8, holds bool, outSHA string, prompt, completion uint64, recordCID, recordSHA string, saltBytes []byte) {
		c := tk.Branch(ctx)
		voter := member
		if int(who) < len(d.Committee) {
			voter = d.Committee[who].Operator
		} else if int(who) < vAccounts {
			voter = v.addr(int(who))
		}
		vote := types.Vote{ClaimHolds: holds, Result: types.VerificationResult{
			OutputSha256: outSHA, PromptTokens: prompt, CompletionTokens: completion, RecordCid: recordCID,
			Summary: r.Summary,
		}}
		vote.Result.Summary.RecordSha256 = recordSHA
		_, err := v.f.Msg.RevealVote(c, &types.MsgRevealVote{Voter: voter, DisputeId: d.Id, Vote: vote, Salt: saltBytes})
		exact := voter == member && bytes.Equal(saltBytes, salt(member)) && holds == committed.ClaimHolds &&
			outSHA == r.OutputSha256 && prompt == r.PromptTokens && completion == r.CompletionTokens &&
			recordCID == r.RecordCid && recordSHA == r.Summary.RecordSha256
		if (err == nil) != exact {
			t.Fatalf("reveal accepted=%v, exact=%v: %v", err == nil, exact, err)
		}
		if err := v.f.K.AllInvariants(c); err != nil {
			t.Fatal(err)
		}
	})
}
