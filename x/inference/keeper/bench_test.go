package keeper_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"runtime"
	"runtime/pprof"
	"syscall"
	"testing"
	"time"

	sdk "github.com/cosmos/cosmos-sdk/types"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"

	"github.com/openledger/openledger/inference/voucher"
	tk "github.com/openledger/openledger/testutil/keeper"
	datanettypes "github.com/openledger/openledger/x/datanet/types"
	"github.com/openledger/openledger/x/inference/keeper"
	"github.com/openledger/openledger/x/inference/types"
	modelstypes "github.com/openledger/openledger/x/models/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// benchMarketTxs is the number of txs in every benchmark block (one per provider).
const benchMarketTxs = 100

// benchMarket is a started chain with an ACTIVE deployment (built by signed txs)
// and benchMarketTxs ACTIVE providers offering it.
type benchMarket struct {
	c            *tk.Chain
	deployment   uint64
	modelID      uint64
	modelVersion uint64
	summary      rewardstypes.AttributionSummary
	firstProv    int
}

func newBenchMarket(b *testing.B) *benchMarket {
	b.Helper()
	const owner, curator, dev = 0, 1, 2
	first := 4
	c := tk.NewChain(b, first+benchMarketTxs)
	addr := func(i int) string { return c.Accounts[i].Bech32 }
	c.MustBlock([][]byte{c.Sign(owner, tk.CreateDatanetMsg(addr(owner), []string{addr(curator)}, 1, 100, datanettypes.Requirements{}, 1_000))})
	c.MustBlock([][]byte{
		c.Sign(dev, tk.SubmitMsg(addr(dev), 1, "a stitch in time saves nine")),
		c.Sign(dev, tk.SubmitMsg(addr(dev), 1, "the early bird catches the worm")),
	})
	c.MustBlock([][]byte{
		c.Sign(curator, &datanettypes.MsgReviewContribution{Curator: addr(curator), ContributionId: 1, Decision: datanettypes.REVIEW_DECISION_APPROVE}),
		c.Sign(curator, &datanettypes.MsgReviewContribution{Curator: addr(curator), ContributionId: 2, Decision: datanettypes.REVIEW_DECISION_APPROVE}),
	})
	c.MustBlock([][]byte{c.Sign(owner, &datanettypes.MsgCreateDatasetVersion{Creator: addr(owner), DatanetId: 1})})
	c.MustBlock([][]byte{c.Sign(dev, &modelstypes.MsgCreateModel{Owner: addr(dev), Name: "tiny", Task: "text-generation", License: "MIT"})})
	sha, cid := tk.Content("tiny model weights")
	c.MustBlock([][]byte{c.Sign(dev, &modelstypes.MsgPublishVersion{
		Owner: addr(dev), ModelId: 1, Kind: modelstypes.VERSION_KIND_PRETRAIN,
		DatasetVersions: []modelstypes.DatasetVersionRef{{DatanetId: 1, Version: 1}},
		ArtifactCid:     cid, ArtifactSha256: sha, ArtifactSize: 18, ManifestCid: cid, ManifestSha256: sha,
		EngineName: "openledger-ml", EngineVersion: "v1",
	})})
	c.MustBlock([][]byte{c.Sign(dev, &modelstypes.MsgCreateDeployment{
		Owner: addr(dev), ModelId: 1, Version: 1, RoyaltyPerThousandTokens: sdk.NewInt64Coin(tk.Denom, tk.InferenceRoyalty),
		DeveloperBps: 4_000, DataBps: 6_000,
	})})
	ctx := c.Context()
	dep, err := c.App.ModelsKeeper.GetActiveDeployment(ctx, 1)
	if err != nil {
		b.Fatalf("deployment: %v", err)
	}
	// Receipts stay PENDING for the whole run, so that no finalisation (x/rewards
	// work) lands in a bank block.
	params, err := c.App.InferenceKeeper.Params.Get(ctx)
	if err != nil {
		b.Fatal(err)
	}
	params.ChallengeWindowBlocks = 1_000_000
	if err := c.App.InferenceKeeper.Params.Set(ctx, params); err != nil {
		b.Fatal(err)
	}
	var regs [][]byte
	for i := first; i < first+benchMarketTxs; i++ {
		_, peerID := tk.PeerKey(b, i)
		regs = append(regs, c.Sign(i,
			&types.MsgRegisterProvider{
				Operator: addr(i), PeerId: peerID, Multiaddrs: []string{fmt.Sprintf("/ip4/10.0.0.1/tcp/%d", 4000+i)},
				Hardware: types.Hardware{Accelerator: "cpu", MemoryMib: 4_096, Count: 2}, Engines: []string{"openledger-ml"},
				Stake: sdk.NewInt64Coin(tk.Denom, 2_000_000),
			},
			&types.MsgSetOffer{Operator: addr(i), DeploymentId: 1, ComputePricePerThousandTokens: sdk.NewInt64Coin(tk.Denom, 800), MaxConcurrency: 4}))
	}
	c.MustBlock(regs)
	if p, err := c.App.InferenceKeeper.Params.Get(c.Context()); err != nil || p.ChallengeWindowBlocks != 1_000_000 {
		b.Fatalf("params not kept: %v", err)
	}
	record := sha256.Sum256([]byte("bench attribution record"))
	return &benchMarket{
		c: c, deployment: 1, modelID: dep.Deployment.ModelId, modelVersion: dep.Deployment.Version, firstProv: first,
		summary: rewardstypes.AttributionSummary{
			RecordSha256: fmt.Sprintf("%x", record),
			Top:          []rewardstypes.ContributionWeight{{DatanetId: 1, Version: 1, ContributionId: 1, Ppm: 600_000}},
			Pools:        []rewardstypes.PoolWeight{{DatanetId: 1, Version: 1, Ppm: 400_000}},
		},
	}
}

// BenchmarkJobMsgsVsBankSends executes, in the same run and on the same app,
// blocks of signed MsgBid txs (each provider bids on its own fresh job; the
// block's EndBlock then awards every job), blocks of signed MsgSubmitReceipt txs
// (libp2p-signed receipts, summary validated against x/rewards) and blocks of
// signed bank sends, each through FinalizeBlock and Commit with the ante handler.
// The jobs are created in untimed blocks; signing and its garbage are untimed. It
// reports tx/s per CPU-second and wall clock and the ratios to bank sends.
//
//	go test ./x/inference/keeper/ -run '^$' -bench BenchmarkJobMsgsVsBankSends -benchtime 10x -count 3
func BenchmarkJobMsgsVsBankSends(b *testing.B) {
	bm := newBenchMarket(b)
	c := bm.c
	const requester = 3
	addr := func(i int) string { return c.Accounts[i].Bech32 }
	sha, inCID := tk.Content("bench prompt")
	outSHA, outCID := tk.Content("bench output")
	_, recordCID := tk.Content("bench record")
	createBlock := func() [][]byte {
		txs := make([][]byte, 0, benchMarketTxs)
		for i := 0; i < benchMarketTxs; i++ {
			txs = append(txs, c.Sign(requester, &types.MsgCreateJob{
				Requester: addr(requester), DeploymentId: bm.deployment, InputCid: inCID, InputSha256: sha,
				MaxTokens: 1_000, MaxComputePricePerThousandTokens: sdk.NewInt64Coin(tk.Denom, 1_000),
				BidWindowBlocks: 1, ExecutionBlocks: 1_000,
			}))
		}
		return txs
	}
	bidBlock := func(firstJob uint64) [][]byte {
		txs := make([][]byte, 0, benchMarketTxs)
		for i := 0; i < benchMarketTxs; i++ {
			p := bm.firstProv + i
			txs = append(txs, c.Sign(p, &types.MsgBid{Provider: addr(p), JobId: firstJob + uint64(i), Price: sdk.NewInt64Coin(tk.Denom, 500+int64(i))}))
		}
		return txs
	}
	receiptBlock := func(firstJob uint64) [][]byte {
		txs := make([][]byte, 0, benchMarketTxs)
		for i := 0; i < benchMarketTxs; i++ {
			p := bm.firstProv + i
			job := firstJob + uint64(i)
			r := types.Receipt{
				JobId: job, Provider: addr(p), OutputCid: outCID, OutputSha256: outSHA, PromptTokens: 300, CompletionTokens: 500,
				EngineName: "openledger-ml", EngineVersion: "v1", ModelId: bm.modelID, ModelVersion: bm.modelVersion,
				RecordCid: recordCID, Summary: bm.summary,
			}
			canonical, err := keeper.CanonicalJobReceipt(tk.ChainID, r)
			if err != nil {
				b.Fatal(err)
			}
			key, _ := tk.PeerKey(b, p)
			signed, err := voucher.SignReceipt(canonical, key)
			if err != nil {
				b.Fatal(err)
			}
			txs = append(txs, c.Sign(p, &types.MsgSubmitReceipt{
				Provider: addr(p), JobId: job, OutputCid: outCID, OutputSha256: outSHA, PromptTokens: 300, CompletionTokens: 500,
				EngineName: "openledger-ml", EngineVersion: "v1", RecordCid: recordCID, Summary: bm.summary, Signature: signed.Signature,
			}))
		}
		return txs
	}
	sendBlock := func() [][]byte {
		txs := make([][]byte, 0, benchMarketTxs)
		for i := 0; i < benchMarketTxs; i++ {
			from, to := bm.firstProv+i, bm.firstProv+(i+1)%benchMarketTxs
			txs = append(txs, c.Sign(from, banktypes.NewMsgSend(c.Accounts[from].Addr, c.Accounts[to].Addr,
				sdk.NewCoins(sdk.NewInt64Coin(tk.Denom, 1)))))
		}
		return txs
	}
	const (
		kindBid = iota
		kindReceipt
		kindBank
	)
	names := []string{"bid", "receipt", "bank"}
	var wall, cpu [3]time.Duration
	var count [3]int
	run := func(kind int, txs [][]byte) {
		runtime.GC()
		start, startCPU := time.Now(), benchCPUTime(b)
		pprof.Do(context.Background(), pprof.Labels("block", names[kind]), func(context.Context) { c.MustBlock(txs) })
		wall[kind] += time.Since(start)
		cpu[kind] += benchCPUTime(b) - startCPU
		count[kind] += len(txs)
	}
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		firstJob, err := c.App.InferenceKeeper.JobSeq.Peek(c.Context())
		if err != nil {
			b.Fatal(err)
		}
		// Bank blocks go before or after the job blocks, alternately, so that a
		// change in the machine's load hits both alike.
		if n%2 == 1 {
			run(kindBank, sendBlock())
		}
		c.MustBlock(createBlock()) // untimed
		run(kindBid, bidBlock(firstJob))
		run(kindBank, sendBlock())
		run(kindReceipt, receiptBlock(firstJob))
		if n%2 == 0 {
			run(kindBank, sendBlock())
		}
	}
	b.StopTimer()

	ctx := c.Context()
	pending, err := c.App.InferenceKeeper.Jobs.Get(ctx, 1)
	if err != nil || pending.Status != types.JOB_STATUS_PENDING {
		b.Fatalf("job 1 after the run: %s %v", pending.Status, err)
	}
	if err := c.App.InferenceKeeper.AllInvariants(ctx); err != nil {
		b.Fatal(err)
	}
	rate := func(k int, d [3]time.Duration) float64 { return float64(count[k]) / d[k].Seconds() }
	for k, name := range names {
		b.ReportMetric(rate(k, cpu), name+"-tx/cpu-s")
		b.ReportMetric(float64(cpu[k].Nanoseconds())/float64(count[k]), name+"-cpu-ns/tx")
	}
	b.ReportMetric(rate(kindBid, cpu)/rate(kindBank, cpu), "bid-ratio")
	b.ReportMetric(rate(kindReceipt, cpu)/rate(kindBank, cpu), "receipt-ratio")
	b.ReportMetric(rate(kindBid, wall)/rate(kindBank, wall), "bid-wall-ratio")
	b.ReportMetric(rate(kindReceipt, wall)/rate(kindBank, wall), "receipt-wall-ratio")
}

// benchCPUTime is the CPU time (user + system) the process has used so far.
func benchCPUTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
