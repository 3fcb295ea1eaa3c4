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

func newBenchMarket(b *testing.B) *benchMarket { return newBenchMarketWith(b, 1, 2, 1) }

// newBenchMarketWith builds datanets datanets of perDatanet accepted contributions
// each, one dataset version per datanet, a model version trained on all of them
// (an N-entry data-share table) and a summary with topK direct entries (the rest of
// the weight in the versions' pools).
func newBenchMarketWith(b *testing.B, datanets, perDatanet, topK int) *benchMarket {
	b.Helper()
	const owner, curator, dev = 0, 1, 2
	first := 4
	c := tk.NewChain(b, first+benchMarketTxs)
	addr := func(i int) string { return c.Accounts[i].Bech32 }
	// Signed in execution order, one tx per block (one signer's txs never share one).
	var refs []modelstypes.DatasetVersionRef
	for d := 1; d <= datanets; d++ {
		c.MustBlock([][]byte{c.Sign(owner, tk.CreateDatanetMsg(addr(owner), []string{addr(curator)}, 1, 100, datanettypes.Requirements{}, 1_000))})
	}
	for d := 1; d <= datanets; d++ {
		for i := 0; i < perDatanet; i++ {
			c.MustBlock([][]byte{c.Sign(dev, tk.SubmitMsg(addr(dev), uint64(d), fmt.Sprintf("datanet %d: proverb number %d", d, i)))})
		}
	}
	for id := uint64(1); id <= uint64(datanets*perDatanet); id++ {
		c.MustBlock([][]byte{c.Sign(curator, &datanettypes.MsgReviewContribution{Curator: addr(curator), ContributionId: id, Decision: datanettypes.REVIEW_DECISION_APPROVE})})
	}
	for d := 1; d <= datanets; d++ {
		c.MustBlock([][]byte{c.Sign(owner, &datanettypes.MsgCreateDatasetVersion{Creator: addr(owner), DatanetId: uint64(d)})})
		refs = append(refs, modelstypes.DatasetVersionRef{DatanetId: uint64(d), Version: 1})
	}
	c.MustBlock([][]byte{c.Sign(dev, &modelstypes.MsgCreateModel{Owner: addr(dev), Name: "tiny", Task: "text-generation", License: "MIT"})})
	sha, cid := tk.Content("tiny model weights")
	c.MustBlock([][]byte{c.Sign(dev, &modelstypes.MsgPublishVersion{
		Owner: addr(dev), ModelId: 1, Kind: modelstypes.VERSION_KIND_PRETRAIN,
		DatasetVersions: refs, ArtifactCid: cid, ArtifactSha256: sha, ArtifactSize: 18, ManifestCid: cid, ManifestSha256: sha,
		EngineName: "openledger-ml", EngineVersion: "v1",
	})})
	c.MustBlock([][]byte{c.Sign(dev, &modelstypes.MsgCreateDeployment{
		Owner: addr(dev), ModelId: 1, Version: 1, RoyaltyPerThousandTokens: sdk.NewInt64Coin(tk.Denom, tk.InferenceRoyalty),
		DeveloperBps: 4_000, DataBps: 6_000,
	})})
	summary := benchSummary(datanets, perDatanet, topK)
	ctx := c.Context()
	dep, err := c.App.ModelsKeeper.GetActiveDeployment(ctx, 1)
	if err != nil {
		b.Fatalf("deployment: %v", err)
	}
	// A one-block challenge window: receipts posted at h finalise (x/rewards Settle)
	// in the EndBlock of h+1, the benchmark's empty "finalize" block.
	params, err := c.App.InferenceKeeper.Params.Get(ctx)
	if err != nil {
		b.Fatal(err)
	}
	params.ChallengeWindowBlocks = 1
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
	if p, err := c.App.InferenceKeeper.Params.Get(c.Context()); err != nil || p.ChallengeWindowBlocks != 1 {
		b.Fatalf("params not kept: %v", err)
	}
	if len(dep.DataShares) != datanets {
		b.Fatalf("data-share table has %d entries, want %d", len(dep.DataShares), datanets)
	}
	if err := c.App.RewardsKeeper.ValidateSettlement(ctx, 1, summary); err != nil {
		b.Fatalf("bench summary: %v", err)
	}
	return &benchMarket{
		c: c, deployment: 1, modelID: dep.Deployment.ModelId, modelVersion: dep.Deployment.Version, firstProv: first,
		summary: summary,
	}
}

// benchSummary weights topK contributions directly (contribution ids are assigned in
// datanet order, perDatanet each) and every version's pool, summing to 10^6 ppm.
func benchSummary(datanets, perDatanet, topK int) rewardstypes.AttributionSummary {
	record := sha256.Sum256([]byte("bench attribution record"))
	s := rewardstypes.AttributionSummary{RecordSha256: fmt.Sprintf("%x", record)}
	parts := uint32(topK + datanets)
	each := uint32(rewardstypes.PpmScale) / parts
	for i := 0; i < topK; i++ {
		d := i%datanets + 1
		contribution := uint64((d-1)*perDatanet + i/datanets + 1)
		s.Top = append(s.Top, rewardstypes.ContributionWeight{DatanetId: uint64(d), Version: 1, ContributionId: contribution, Ppm: each})
	}
	for d := 1; d <= datanets; d++ {
		s.Pools = append(s.Pools, rewardstypes.PoolWeight{DatanetId: uint64(d), Version: 1, Ppm: each})
	}
	s.Pools[0].Ppm += uint32(rewardstypes.PpmScale) - each*parts
	return s
}

// BenchmarkJobMsgsVsBankSends executes, in the same run and on the same app,
// blocks of signed MsgBid txs (each provider bids on its own fresh job; the
// block's EndBlock then awards every job), blocks of signed MsgSubmitReceipt txs
// (libp2p-signed receipts, summary validated against x/rewards) and blocks of
// signed bank sends, each through FinalizeBlock and Commit with the ante handler;
// and the empty blocks whose EndBlock closes the 100 auctions ("award") and, after
// each receipt block, finalises the 100 receipts ("finalize": 100 x/rewards
// settlements, the split of issue 8, with their refunds).
// The jobs are created in untimed blocks; signing and its garbage are untimed. It
// reports tx/s per CPU-second and wall clock and the ratios to bank sends.
//
//	go test ./x/inference/keeper/ -run '^$' -bench BenchmarkJobMsgsVsBankSends -benchtime 10x -count 3
func BenchmarkJobMsgsVsBankSends(b *testing.B) { benchJobMsgs(b, newBenchMarket(b)) }

// BenchmarkJobMsgsK32VsBankSends is the same run with the settlement shape of issue 8:
// summaries of K = 32 contributions over an 8-entry data-share table.
//
//	go test ./x/inference/keeper/ -run '^$' -bench BenchmarkJobMsgsK32VsBankSends -benchtime 10x -count 3
func BenchmarkJobMsgsK32VsBankSends(b *testing.B) { benchJobMsgs(b, newBenchMarketWith(b, 8, 4, 32)) }

func benchJobMsgs(b *testing.B, bm *benchMarket) {
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
				BidWindowBlocks: 2, ExecutionBlocks: 1_000,
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
		kindFinalize
		kindAward
	)
	names := []string{"bid", "receipt", "bank", "finalize", "award"}
	var wall, cpu [5]time.Duration
	var count [5]int
	run := func(kind int, txs [][]byte) {
		runtime.GC()
		start, startCPU := time.Now(), benchCPUTime(b)
		pprof.Do(context.Background(), pprof.Labels("block", names[kind]), func(context.Context) { c.MustBlock(txs) })
		wall[kind] += time.Since(start)
		cpu[kind] += benchCPUTime(b) - startCPU
		if kind == kindFinalize || kind == kindAward {
			count[kind] += benchMarketTxs // awards or settlements in the block's EndBlock
		} else {
			count[kind] += len(txs)
		}
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
		run(kindAward, nil)
		run(kindBank, sendBlock())
		run(kindReceipt, receiptBlock(firstJob))
		run(kindFinalize, nil)
		if n%2 == 0 {
			run(kindBank, sendBlock())
		}
	}
	b.StopTimer()

	ctx := c.Context()
	for id := uint64(1); id <= uint64(b.N*benchMarketTxs); id++ {
		j, err := c.App.InferenceKeeper.Jobs.Get(ctx, id)
		if err != nil || j.Status != types.JOB_STATUS_FINALIZED {
			b.Fatalf("job %d after the run: %s %v", id, j.Status, err)
		}
	}
	if err := c.App.InferenceKeeper.AllInvariants(ctx); err != nil {
		b.Fatal(err)
	}
	rate := func(k int, d [5]time.Duration) float64 { return float64(count[k]) / d[k].Seconds() }
	for k, name := range names {
		b.ReportMetric(rate(k, cpu), name+"-tx/cpu-s")
		b.ReportMetric(float64(cpu[k].Nanoseconds())/float64(count[k]), name+"-cpu-ns/tx")
	}
	b.ReportMetric(rate(kindBid, cpu)/rate(kindBank, cpu), "bid-ratio")
	b.ReportMetric(rate(kindReceipt, cpu)/rate(kindBank, cpu), "receipt-ratio")
	b.ReportMetric(rate(kindFinalize, cpu)/rate(kindBank, cpu), "finalize-ratio")
	b.ReportMetric(rate(kindAward, cpu)/rate(kindBank, cpu), "award-ratio")
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
