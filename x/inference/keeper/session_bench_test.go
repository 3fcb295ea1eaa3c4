package keeper_test

import (
	"testing"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
	bankkeeper "github.com/cosmos/cosmos-sdk/x/bank/keeper"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"

	"github.com/openledger/openledger/inference/voucher"
	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/inference/types"
)

// BenchmarkSettleSession1000 measures, in one run on one app, one MsgSettleSession
// that covers 1,000 requests (its voucher commits 1,000 signed receipts) through the
// msg server, the same followed by its finalisation (the x/rewards split, challenge
// window 0 so the block's EndBlocker pays it), and a bank MsgSend for comparison.
// Receipts and vouchers are built and signed outside the timer, as a client does.
// Each settle advances one session by 1,000 requests (1,000 tokens, 1,000 uopen).
// Every iteration is one block: the store is committed between iterations, outside
// the timer (an uncommitted IAVL tree makes each iterator walk every write since the
// last commit, which no real block sees).
//
//	go test ./x/inference/keeper/ -run '^$' -bench BenchmarkSettleSession1000 -benchtime 2000x -count 3
func BenchmarkSettleSession1000(b *testing.B) {
	const requests = 1_000
	setup := func(b *testing.B, window uint64) (*sessionEnv, sdk.Context, []*types.MsgSettleSession) {
		b.Helper()
		if b.N*requests > 90_000_000 {
			b.Fatalf("b.N = %d exceeds the requester's balance; use -benchtime Nx with N <= 90000", b.N)
		}
		e := newSessionEnv(b)
		ctx := e.ctx
		p := e.params
		p.ChallengeWindowBlocks = window
		if err := e.f.K.Params.Set(ctx, p); err != nil {
			b.Fatal(err)
		}
		e.id = e.open(b, ctx, int64(b.N)*requests, ctx.BlockHeight()+sessionBlocks)
		// The receipts tree of the first 1,000 requests; later vouchers extend the
		// tree by 1,000 leaves each (the leaves' content does not change the chain's work).
		leaves, _, _ := buildReceipts(b, e, requests)
		var acc voucher.Accumulator
		msgs := make([]*types.MsgSettleSession, b.N)
		for i := range msgs {
			for _, l := range leaves {
				acc.Append(l)
			}
			n := uint64(i+1) * requests
			v := signVoucher(b, e.key, tk.ChainID, e.id, uint64(i+1), sdkmath.NewIntFromUint64(n), n, n, acc.Root())
			msgs[i] = e.settleMsg(v)
		}
		return e, ctx, msgs
	}

	b.Run("settle", func(b *testing.B) {
		e, ctx, msgs := setup(b, 10)
		commit(b, e)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := e.f.Msg.SettleSession(ctx, msgs[i]); err != nil {
				b.Fatal(err)
			}
			commit(b, e)
		}
		b.StopTimer()
		report(b, requests)
	})

	b.Run("settle+finalise", func(b *testing.B) {
		e, ctx, msgs := setup(b, 0)
		commit(b, e)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := e.f.Msg.SettleSession(ctx, msgs[i]); err != nil {
				b.Fatal(err)
			}
			if err := e.f.K.EndBlocker(ctx); err != nil {
				b.Fatal(err)
			}
			commit(b, e)
		}
		b.StopTimer()
		if s := e.session(b, ctx, e.id); !s.Paid.Equal(sdkmath.NewInt(int64(b.N) * requests)) {
			b.Fatalf("paid %s", s.Paid)
		}
		report(b, requests)
	})

	b.Run("bank_send", func(b *testing.B) {
		e, ctx, _ := setup(b, 10)
		send := bankkeeper.NewMsgServerImpl(e.f.App.BankKeeper)
		msg := banktypes.NewMsgSend(e.f.Accounts[strangerIdx].Addr, e.f.Accounts[otherIdx].Addr, sdk.NewCoins(sdk.NewInt64Coin(tk.Denom, 1)))
		commit(b, e)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := send.Send(ctx, msg); err != nil {
				b.Fatal(err)
			}
			commit(b, e)
		}
		b.StopTimer()
		report(b, 1)
	})
}

// commit writes the app's working state to disk-less IAVL versions, as a block's
// Commit does, outside the timer.
func commit(b *testing.B, e *sessionEnv) {
	b.StopTimer()
	e.f.App.CommitMultiStore().Commit()
	b.StartTimer()
}

// report adds inferences per tx and per second of the timed loop.
func report(b *testing.B, perTx int) {
	b.ReportMetric(float64(perTx), "inferences/tx")
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(perTx*b.N)/s, "inferences/s")
	}
}
