package app_test

import (
	"fmt"
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
// through FinalizeBlock and Commit with the ante handler. Signing happens outside
// the timed part. It reports the tx/s of both and their ratio.
//
//	go test ./app/ -run '^$' -bench BenchmarkDatanetVsBankSends -benchtime 5x
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

	var datanetTime, bankTime time.Duration
	var datanetTxs, bankTxs int
	nextID := uint64(1)
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		// Datanet: one block of submissions, one block of accepting reviews.
		submits := make([][]byte, 0, contributors)
		for i := 0; i < contributors; i++ {
			submits = append(submits, c.Sign(first+i, tk.SubmitMsg(addr(first+i), 1, fmt.Sprintf("record %d of round %d", i, n))))
		}
		reviews := make([][]byte, 0, contributors)
		for i := 0; i < contributors; i++ {
			cur := 1 + i%curators
			reviews = append(reviews, c.Sign(cur, &types.MsgReviewContribution{
				Curator: addr(cur), ContributionId: nextID + uint64(i), Decision: types.REVIEW_DECISION_APPROVE,
			}))
		}
		nextID += contributors
		// Bank: the same number of txs, each account sending to the next.
		sends := make([][][]byte, 2)
		for blk := range sends {
			for i := 0; i < contributors; i++ {
				from, to := first+i, first+(i+1)%contributors
				sends[blk] = append(sends[blk], c.Sign(from, banktypes.NewMsgSend(c.Accounts[from].Addr, c.Accounts[to].Addr,
					sdk.NewCoins(sdk.NewInt64Coin(tk.Denom, 1)))))
			}
		}

		start := time.Now()
		c.MustBlock(submits)
		c.MustBlock(reviews)
		datanetTime += time.Since(start)
		datanetTxs += len(submits) + len(reviews)

		start = time.Now()
		for _, blk := range sends {
			c.MustBlock(blk)
		}
		bankTime += time.Since(start)
		bankTxs += len(sends[0]) + len(sends[1])
	}
	b.StopTimer()

	ctx := c.Context()
	if d, err := c.App.DatanetKeeper.GetDatanet(ctx, 1); err != nil || d.Stats.AcceptedContributions != uint64(b.N*contributors) {
		b.Fatalf("datanet after the run: %+v %v", d.Stats, err)
	}
	if err := c.App.DatanetKeeper.EscrowInvariant(ctx); err != nil {
		b.Fatal(err)
	}
	datanetRate := float64(datanetTxs) / datanetTime.Seconds()
	bankRate := float64(bankTxs) / bankTime.Seconds()
	b.ReportMetric(datanetRate, "datanet-tx/s")
	b.ReportMetric(bankRate, "bank-tx/s")
	b.ReportMetric(datanetRate/bankRate, "ratio")
}
