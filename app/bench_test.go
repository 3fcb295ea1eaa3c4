package app_test

import (
	"context"
	"fmt"
	"runtime"
	"runtime/pprof"
	"syscall"
	"testing"
	"time"

	sdk "github.com/cosmos/cosmos-sdk/types"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"

	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/datanet/types"
)

// benchTxsPerBlock is the number of txs in every benchmark block.
const benchTxsPerBlock = 200

// BenchmarkDatanetVsBankSends executes, in the same run and on the same app, blocks
// of signed MsgSubmitContribution and MsgReviewContribution txs (each review
// reaches the quorum: refund, Merkle append) and blocks of signed bank sends, each
// through FinalizeBlock and Commit with the ante handler. Signing and the garbage
// collection of its garbage happen outside the timed part. It reports the tx/s of
// both (wall clock and per CPU-second) and their ratios; docs/benchmarks.md has figures.
//
//	go test ./app/ -run '^$' -bench BenchmarkDatanetVsBankSends -benchtime 10x -count 3
func BenchmarkDatanetVsBankSends(b *testing.B) {
	const (
		contributors = benchTxsPerBlock
		curators     = 10
	)
	c := tk.NewChain(b, 1+curators+contributors)
	addr := func(i int) string { return c.Accounts[i].Bech32 }
	var curatorAddrs []string
	for i := 1; i <= curators; i++ {
		curatorAddrs = append(curatorAddrs, addr(i))
	}
	create := tk.CreateDatanetMsg(addr(0), curatorAddrs, 1, 1000, types.Requirements{}, 1_000)
	c.MustBlock([][]byte{c.Sign(0, create)})
	first := 1 + curators

	// Wall-clock time, and the process's CPU time (user + system), which a busy
	// machine distorts far less: the ratio is taken from CPU time.
	var datanetTime, bankTime, datanetCPU, bankCPU time.Duration
	var datanetTxs, bankTxs int
	nextID := uint64(1)
	submitBlock := func(n int) [][]byte {
		txs := make([][]byte, 0, contributors)
		for i := 0; i < contributors; i++ {
			txs = append(txs, c.Sign(first+i, tk.SubmitMsg(addr(first+i), 1, fmt.Sprintf("record %d of round %d", i, n))))
		}
		return txs
	}
	reviewBlock := func() [][]byte {
		txs := make([][]byte, 0, contributors)
		for i := 0; i < contributors; i++ {
			cur := 1 + i%curators
			txs = append(txs, c.Sign(cur, &types.MsgReviewContribution{
				Curator: addr(cur), ContributionId: nextID + uint64(i), Decision: types.REVIEW_DECISION_APPROVE,
			}))
		}
		nextID += contributors
		return txs
	}
	sendBlock := func() [][]byte {
		// Each account sends 1uopen to the next.
		txs := make([][]byte, 0, contributors)
		for i := 0; i < contributors; i++ {
			from, to := first+i, first+(i+1)%contributors
			txs = append(txs, c.Sign(from, banktypes.NewMsgSend(c.Accounts[from].Addr, c.Accounts[to].Addr,
				sdk.NewCoins(sdk.NewInt64Coin(tk.Denom, 1)))))
		}
		return txs
	}
	type block struct {
		txs     [][]byte
		datanet bool
	}
	// Profiles label each block's samples: go tool pprof -tagfocus block=datanet.
	kind := map[bool]string{true: "datanet", false: "bank"}
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		// Datanet and bank blocks interleave (which comes first alternates) so that
		// a change in the machine's load hits both alike. Txs are signed in the
		// order the blocks run (sequences).
		var blocks []block
		if n%2 == 0 {
			blocks = append(blocks, block{submitBlock(n), true}, block{sendBlock(), false})
			blocks = append(blocks, block{reviewBlock(), true}, block{sendBlock(), false})
		} else {
			blocks = append(blocks, block{sendBlock(), false}, block{submitBlock(n), true})
			blocks = append(blocks, block{sendBlock(), false}, block{reviewBlock(), true})
		}
		for _, blk := range blocks {
			// Collect earlier garbage (signing) first so that no block pays for it.
			runtime.GC()
			start, startCPU := time.Now(), cpuTime(b)
			pprof.Do(context.Background(), pprof.Labels("block", kind[blk.datanet]), func(context.Context) { c.MustBlock(blk.txs) })
			wall, cpu := time.Since(start), cpuTime(b)-startCPU
			if blk.datanet {
				datanetTime += wall
				datanetCPU += cpu
				datanetTxs += len(blk.txs)
			} else {
				bankTime += wall
				bankCPU += cpu
				bankTxs += len(blk.txs)
			}
		}
	}
	b.StopTimer()

	ctx := c.Context()
	if d, err := c.App.DatanetKeeper.GetDatanet(ctx, 1); err != nil || d.Stats.AcceptedContributions != uint64(b.N*contributors) {
		b.Fatalf("datanet after the run: %+v %v", d.Stats, err)
	}
	if err := c.App.DatanetKeeper.EscrowInvariant(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(datanetTxs)/datanetTime.Seconds(), "datanet-tx/s")
	b.ReportMetric(float64(bankTxs)/bankTime.Seconds(), "bank-tx/s")
	datanetCPURate := float64(datanetTxs) / datanetCPU.Seconds()
	bankCPURate := float64(bankTxs) / bankCPU.Seconds()
	b.ReportMetric(datanetCPURate, "datanet-tx/cpu-s")
	b.ReportMetric(bankCPURate, "bank-tx/cpu-s")
	b.ReportMetric(datanetCPURate/bankCPURate, "ratio")
	b.ReportMetric(float64(datanetTxs)/datanetTime.Seconds()/(float64(bankTxs)/bankTime.Seconds()), "wall-ratio")
}

// cpuTime is the CPU time (user + system) the process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
