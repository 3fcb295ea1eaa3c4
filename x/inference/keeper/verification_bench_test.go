package keeper_test

import (
	"fmt"
	"testing"

	storetypes "github.com/cosmos/cosmos-sdk/store/v2/types"

	sdk "github.com/cosmos/cosmos-sdk/types"
	bankkeeper "github.com/cosmos/cosmos-sdk/x/bank/keeper"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"

	"github.com/openledger/openledger/x/inference/types"
)

// metered runs fn on ctx with a fresh gas meter and returns the gas it consumed.
func metered(b *testing.B, ctx sdk.Context, fn func(sdk.Context) error) uint64 {
	b.Helper()
	gctx := ctx.WithGasMeter(storetypes.NewInfiniteGasMeter())
	if err := fn(gctx); err != nil {
		b.Fatal(err)
	}
	return gctx.GasMeter().GasConsumed()
}

// BenchmarkDisputeOnChainCost runs whole disputes (challenge, committee draw, n
// commits, n reveals, tally) on a fixture with eight providers and reports the
// execution gas of each step (store reads and writes priced by the SDK's KV gas
// config; the ante handler's per-tx cost comes on top of every tx alike), next to a
// bank send and a MsgSubmitReceipt in the same state.
func BenchmarkDisputeOnChainCost(b *testing.B) {
	v := newVerif(b, "bench", func(p *types.Params) { p.JailAfterFaults = 0 })
	ctx := v.ctx
	bank := bankkeeper.NewMsgServerImpl(v.f.App.BankKeeper)
	var sums [7]uint64
	for range b.N {
		id, c := v.awardTo(ctx, vFirstProv, mktOffer)
		c = v.withHash(c)
		r := v.truth(id)
		r.CompletionTokens++
		msg := &types.MsgSubmitReceipt{
			Provider: v.addr(vFirstProv), JobId: id, OutputCid: v.truthCID(id), OutputSha256: r.OutputSha256,
			PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens, EngineName: "openledger-ml", EngineVersion: "v1",
			RecordCid: r.RecordCid, Summary: r.Summary,
		}
		msg.Signature = v.sign(c, msg, vFirstProv)
		sums[0] += metered(b, c, func(c sdk.Context) error {
			_, err := bank.Send(c, banktypes.NewMsgSend(v.acc(vStranger), v.acc(vRequester), sdk.NewCoins(mktCoin(1))))
			return err
		})
		sums[1] += metered(b, c, func(c sdk.Context) error { _, err := v.f.Msg.SubmitReceipt(c, msg); return err })
		var disputeID uint64
		sums[2] += metered(b, c, func(c sdk.Context) error {
			res, err := v.f.Msg.Challenge(c, v.challengeMsg(vChallenger, types.TARGET_KIND_JOB_RECEIPT, id, types.CLAIM_USAGE_OVERCOUNT, vBond))
			if res != nil {
				disputeID = res.DisputeId
			}
			return err
		})
		sums[3] += metered(b, c, func(c sdk.Context) error { return v.f.K.EndBlocker(c) }) // committee draw
		c = v.advance(c.WithBlockHeight(c.BlockHeight()+1), c.BlockHeight()+1)
		d := v.dispute(c, disputeID)
		vote := types.Vote{ClaimHolds: true, Result: v.truth(id)}
		for _, m := range d.Committee {
			com, _ := types.VoteCommitment(d.Id, m.Operator, vote, salt(m.Operator))
			sums[4] += metered(b, c, func(c sdk.Context) error {
				_, err := v.f.Msg.CommitVote(c, &types.MsgCommitVote{Voter: m.Operator, DisputeId: d.Id, Commitment: com})
				return err
			})
		}
		c = v.advance(c, d.CommitEndHeight+1)
		for _, m := range d.Committee {
			sums[5] += metered(b, c, func(c sdk.Context) error {
				_, err := v.f.Msg.RevealVote(c, &types.MsgRevealVote{Voter: m.Operator, DisputeId: d.Id, Vote: vote, Salt: salt(m.Operator)})
				return err
			})
		}
		c = v.advance(c, d.RevealEndHeight)
		sums[6] += metered(b, c, func(c sdk.Context) error { return v.f.K.EndBlocker(c) }) // tally and outcome
		ctx = v.advance(c.WithBlockHeight(c.BlockHeight()+1), c.BlockHeight()+1)
		d = v.dispute(ctx, disputeID)
		if d.Outcome != types.DISPUTE_OUTCOME_UPHELD {
			b.Fatalf("dispute %s", d.Outcome)
		}
		// Restore the accused's stake for the next round.
		if _, err := v.f.Msg.AddStake(ctx, &types.MsgAddStake{Operator: v.addr(vFirstProv), Amount: d.ProviderSlashed}); err != nil {
			b.Fatal(err)
		}
	}
	n := float64(b.N)
	size := float64(v.params.CommitteeSize)
	b.ReportMetric(float64(sums[0])/n, "gas/bank-send")
	b.ReportMetric(float64(sums[1])/n, "gas/submit-receipt")
	b.ReportMetric(float64(sums[2])/n, "gas/challenge")
	b.ReportMetric(float64(sums[3])/n, "gas/draw-endblock")
	b.ReportMetric(float64(sums[4])/n/size, "gas/commit")
	b.ReportMetric(float64(sums[5])/n/size, "gas/reveal")
	b.ReportMetric(float64(sums[6])/n, "gas/tally-endblock")
	total := sums[2] + sums[3] + sums[4] + sums[5] + sums[6]
	b.ReportMetric(float64(total)/n, "gas/dispute")
	b.ReportMetric(1+2*size, "txs/dispute")
}

// BenchmarkCommitteeDraw reports the EndBlock gas of one committee draw as the
// number of ACTIVE providers offering the deployment grows (the scan is bounded by
// max_committee_candidates, default 200).
func BenchmarkCommitteeDraw(b *testing.B) {
	for _, providers := range []int{8, 32, 128} {
		b.Run(fmt.Sprintf("providers=%d", providers), func(b *testing.B) {
			v := newVerifN(b, "draw", providers-8, nil)
			var gas uint64
			ctx := v.ctx
			for range b.N {
				id, c := v.postReceipt(ctx, vFirstProv, nil)
				if _, err := v.f.Msg.Challenge(c, v.challengeMsg(vChallenger, types.TARGET_KIND_JOB_RECEIPT, id, types.CLAIM_OUTPUT_MISMATCH, vBond)); err != nil {
					b.Fatal(err)
				}
				gas += metered(b, c, func(c sdk.Context) error { return v.f.K.EndBlocker(c) })
				ctx = c.WithBlockHeight(c.BlockHeight() + 1)
			}
			b.ReportMetric(float64(gas)/float64(b.N), "gas/draw-endblock")
		})
	}
}
