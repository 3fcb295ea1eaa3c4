package keeper_test

import (
	"testing"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/inference/voucher"
	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/inference/keeper"
	"github.com/openledger/openledger/x/inference/types"
)

// fuzzAmount parses a decimal amount; anything else is a nil Int (a msg whose
// amount field was never set).
func fuzzAmount(s string) sdkmath.Int {
	if len(s) > 100 {
		s = s[:100]
	}
	v, ok := sdkmath.NewIntFromString(s)
	if !ok {
		return sdkmath.Int{}
	}
	return v
}

// FuzzJobMsgs sends fuzzed MsgCreateJob, MsgBid and MsgSubmitReceipt through the
// msg server, each in its own cache context written only on success (as a tx),
// then runs EndBlock for a fuzzed number of blocks: nothing may panic and the
// module's invariants must hold after every step.
//
//	go test ./x/inference/keeper/ -run '^$' -fuzz FuzzJobMsgs -fuzztime 20s -fuzzminimizetime 10x
//
// (each exec runs up to 63 EndBlocks on the app: ~60 execs/s on 2 cores; the
// default minimisation of 60 s per new input would stall a 20 s run).
func FuzzJobMsgs(f *testing.F) {
	m := newMarket(f)
	base := tk.Branch(m.ctx)
	openJob := m.createJob(base, mktRequester)
	m.mustBid(base, mktProvB, openJob, 600)
	awarded, base := m.awardTo(base, mktProvA, 500)
	openJob2 := m.createJob(base, mktRequester)
	jobs := []uint64{openJob, awarded, openJob2, 0, 999}
	k := m.f.K
	valid := m.receiptMsg(base, mktProvA, awarded, 100, 200, mktProvA)

	f.Add(uint64(mktMaxTokens), "1000", uint8(0), uint64(mktWindow), uint64(mktExec), uint32(700), uint32(900_000), "\n",
		valid.OutputCid, valid.OutputSha256, "500", uint8(2), uint8(mktProvC),
		uint64(100), uint64(200), "openledger-ml", "v1", valid.RecordCid, valid.Signature, true, uint8(30))
	f.Add(uint64(0), "-1", uint8(1), uint64(0), uint64(0), uint32(1<<31), uint32(1<<31), "",
		"", "", "abc", uint8(1), uint8(mktRequester),
		uint64(1<<63), uint64(1<<63), "", "", "", []byte{1, 2, 3}, false, uint8(0))
	f.Add(uint64(1<<40), "999999999999999999999999999999", uint8(0), uint64(1_000), uint64(10_000), uint32(0), uint32(0), "stop",
		"QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", "0", uint8(0), uint8(mktProvA),
		uint64(0), uint64(10_000), "openledger-ml", "v 1", valid.RecordCid, make([]byte, 64), true, uint8(200))
	f.Add(uint64(1), "0", uint8(0), uint64(1), uint64(1), uint32(1), uint32(1), "x",
		valid.OutputCid, valid.OutputSha256, "0", uint8(0), uint8(mktProvB),
		uint64(1), uint64(0), "openledger-ml", "v1", valid.RecordCid, []byte{}, true, uint8(7))

	f.Fuzz(func(t *testing.T, maxTokens uint64, maxPrice string, denomSel uint8, window, exec uint64, temp, topP uint32, stop string,
		outCID, outSHA, bidPrice string, jobSel, bidder uint8,
		prompt, completion uint64, engine, engineVersion, recordCID string, sig []byte, sign bool, blocks uint8,
	) {
		ctx := tk.Branch(base)
		denom := tk.Denom
		if denomSel%4 == 1 {
			denom = "uatom"
		}
		check := func(step string) {
			if err := k.AllInvariants(ctx); err != nil {
				t.Fatalf("%s: %v", step, err)
			}
		}
		// run executes a msg like a tx: its writes are kept only if it succeeds.
		run := func(step string, fn func(sdk.Context) error) {
			cache, write := ctx.CacheContext()
			if err := fn(cache); err == nil {
				write()
			}
			check(step)
		}
		acct := func(i uint8) string { return m.addr(int(i) % mktAccounts) }

		run("create", func(c sdk.Context) error {
			_, err := m.f.Msg.CreateJob(c, &types.MsgCreateJob{
				Requester: acct(uint8(mktRequester) + denomSel%2*4), DeploymentId: m.f.DeploymentID,
				InputCid: outCID, InputSha256: outSHA, MaxTokens: maxTokens,
				MaxComputePricePerThousandTokens: sdk.Coin{Denom: denom, Amount: fuzzAmount(maxPrice)},
				BidWindowBlocks:                  window, ExecutionBlocks: exec,
				Params: types.GenerationParams{TemperatureMilli: temp, TopPPpm: topP, Stop: []string{stop}},
			})
			return err
		})
		job := jobs[int(jobSel)%len(jobs)]
		run("bid", func(c sdk.Context) error {
			_, err := m.f.Msg.Bid(c, &types.MsgBid{Provider: acct(bidder), JobId: job,
				Price: sdk.Coin{Denom: denom, Amount: fuzzAmount(bidPrice)}})
			return err
		})
		msg := &types.MsgSubmitReceipt{
			Provider: acct(bidder), JobId: job, OutputCid: outCID, OutputSha256: outSHA,
			PromptTokens: prompt, CompletionTokens: completion, EngineName: engine, EngineVersion: engineVersion,
			RecordCid: recordCID, Summary: m.f.Summary, Signature: sig,
		}
		if sign {
			// Sign what the chain will check, with the bidder's key, when the fields
			// allow it; otherwise keep the fuzzed signature.
			if j, err := k.GetJob(ctx, job); err == nil {
				if r, err := keeper.CanonicalJobReceipt(ctx.ChainID(), types.Receipt{
					JobId: job, Provider: msg.Provider, OutputCid: outCID, OutputSha256: outSHA,
					PromptTokens: prompt, CompletionTokens: completion, EngineName: engine, EngineVersion: engineVersion,
					ModelId: j.ModelId, ModelVersion: j.ModelVersion, RecordCid: recordCID, Summary: m.f.Summary,
				}); err == nil {
					key, _ := tk.PeerKey(t, int(bidder)%mktAccounts)
					if s, err := voucher.SignReceipt(r, key); err == nil {
						msg.Signature = s.Signature
					}
				}
			}
		}
		run("receipt", func(c sdk.Context) error {
			_, err := m.f.Msg.SubmitReceipt(c, msg)
			return err
		})
		for b := 0; b < int(blocks)%64; b++ {
			if err := k.EndBlocker(ctx); err != nil {
				t.Fatalf("EndBlocker at %d: %v", ctx.BlockHeight(), err)
			}
			if err := m.f.App.RewardsKeeper.EndBlocker(ctx); err != nil {
				t.Fatalf("rewards EndBlocker: %v", err)
			}
			check("end block")
			ctx = ctx.WithBlockHeight(ctx.BlockHeight() + 1)
		}
	})
}
