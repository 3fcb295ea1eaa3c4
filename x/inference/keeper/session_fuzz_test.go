package keeper_test

import (
	"crypto/ed25519"
	"math/big"
	"testing"

	sdkmath "cosmossdk.io/math"

	"github.com/openledger/openledger/inference/voucher"
	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/inference/keeper"
	"github.com/openledger/openledger/x/inference/types"
)

// FuzzSettleSession drives MsgSettleSession's voucher fields (sequence, amount,
// tokens, receipt count, root and signature bytes, properly signed or not, with the
// right or a wrong chain id) through the msg server against a session whose voucher 1
// (10,000 uopen, 10,000 tokens, 100 requests) is settled. It never panics; a rejected
// voucher changes nothing; an accepted one books exactly its increment; the
// invariants hold after the msg and after the settlement is paid.
func FuzzSettleSession(f *testing.F) {
	e := newSessionEnv(f)
	e.settle(f, e.ctx, 1, 10_000, 10_000)
	root := rootOf(2)
	sig := make([]byte, ed25519.SignatureSize)
	// seq, amount (big-endian magnitude), negative, tokens, count, root, signature, sign, right chain
	f.Add(uint64(2), big.NewInt(25_001).Bytes(), false, uint64(25_001), uint64(250), root[:], []byte(nil), true, true)
	f.Add(uint64(1), big.NewInt(10_000).Bytes(), false, uint64(10_000), uint64(100), root[:], []byte(nil), true, true)    // replay
	f.Add(uint64(3), big.NewInt(9_999).Bytes(), false, uint64(10_000), uint64(100), root[:], []byte(nil), true, true)     // lowered amount
	f.Add(uint64(3), big.NewInt(20_000).Bytes(), false, uint64(9_000), uint64(100), root[:], []byte(nil), true, true)     // lowered tokens
	f.Add(uint64(3), big.NewInt(1_000_001).Bytes(), false, uint64(20_000), uint64(200), root[:], []byte(nil), true, true) // over the deposit
	f.Add(uint64(3), big.NewInt(20_000).Bytes(), false, uint64(20_000), uint64(200), root[:], sig, false, true)           // zero signature
	f.Add(uint64(3), big.NewInt(20_000).Bytes(), false, uint64(20_000), uint64(200), root[:], []byte(nil), true, false)   // wrong chain
	f.Add(uint64(3), big.NewInt(20_000).Bytes(), false, uint64(20_000), uint64(200), root[:7], []byte(nil), true, true)   // short root
	f.Add(uint64(3), big.NewInt(20_000).Bytes(), true, uint64(20_000), uint64(200), root[:], []byte(nil), true, true)     // negative
	f.Add(uint64(0), []byte(nil), false, uint64(0), uint64(0), []byte(nil), []byte(nil), false, true)
	f.Add(^uint64(0), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, false, ^uint64(0), ^uint64(0), root[:], []byte{1, 2, 3}, true, true)
	f.Add(uint64(2), big.NewInt(10_000).Bytes(), false, uint64(10_004), uint64(100), root[:], []byte(nil), true, true) // tokens only
	f.Fuzz(func(t *testing.T, seq uint64, amountBytes []byte, negative bool, tokens, count uint64, rootBytes, sigBytes []byte, sign, rightChain bool) {
		if len(amountBytes) > 32 {
			amountBytes = amountBytes[:32] // the wire form of an Int holds at most 256 bits
		}
		amount := new(big.Int).SetBytes(amountBytes)
		if negative {
			amount.Neg(amount)
		}
		v := types.Voucher{
			Sequence: seq, CumulativeAmount: sdkmath.NewIntFromBigInt(amount), CumulativeTokens: tokens,
			ReceiptCount: count, ReceiptsRoot: rootBytes, Signature: sigBytes,
		}
		if sign {
			chain := tk.ChainID
			if !rightChain {
				chain = "openledger-fuzz-1"
			}
			canon := voucher.Voucher{
				ChainID: chain, SessionID: e.id, Sequence: seq, Denom: tk.Denom,
				CumulativeAmount: v.CumulativeAmount, CumulativeTokens: tokens, ReceiptCount: count,
			}
			copy(canon.ReceiptsRoot[:], rootBytes)
			if signed, err := voucher.Sign(canon, e.key); err == nil {
				v.Signature = signed.Signature
			}
		}
		ctx := tk.Branch(e.ctx)
		before := e.session(t, ctx, e.id)
		res, err := e.f.Msg.SettleSession(ctx, e.settleMsg(v))
		after := e.session(t, ctx, e.id)
		if err != nil {
			if before.String() != after.String() {
				t.Fatalf("rejected voucher changed the session: %v", err)
			}
			return
		}
		st := e.settlement(t, ctx, res.SettlementId)
		if !after.SettledAmount.Equal(v.CumulativeAmount) || !st.Amount.Amount.Equal(v.CumulativeAmount.Sub(before.SettledAmount)) ||
			v.Sequence <= before.LastSequence || v.CumulativeAmount.GT(before.Deposit.Amount) || len(v.ReceiptsRoot) != 32 {
			t.Fatalf("accepted a voucher it should not have, or booked it wrong: %+v -> %+v", v, st)
		}
		if err := e.f.K.AllInvariants(ctx); err != nil {
			t.Fatal(err)
		}
		// The fixture's helpers report to the fuzz engine's F; step blocks by hand.
		for ctx.BlockHeight() <= res.ChallengeEndHeight {
			if err := e.f.K.EndBlocker(ctx); err != nil {
				t.Fatal(err)
			}
			if err := e.f.App.RewardsKeeper.EndBlocker(ctx); err != nil {
				t.Fatal(err)
			}
			ctx = ctx.WithBlockHeight(ctx.BlockHeight() + 1)
		}
		if err := e.f.K.AllInvariants(ctx); err != nil {
			t.Fatal(err)
		}
		s := e.session(t, ctx, e.id)
		if !s.Paid.Add(s.Refunded).LTE(s.SettledAmount) || keeper.SessionBalance(s).LT(s.Deposit.Amount.Sub(s.SettledAmount)) {
			t.Fatalf("paid out more than settled: %+v", s)
		}
	})
}
