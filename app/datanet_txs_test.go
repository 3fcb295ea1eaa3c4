package app_test

import (
	"testing"

	sdk "github.com/cosmos/cosmos-sdk/types"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"

	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/datanet/types"
)

// TestSignedDatanetTxs runs datanet msgs as signed txs in real blocks: the ante
// handler charges fees, a failing msg reverts everything but its fee and sequence
// and reports the registered error's codespace and code, and deposits flow.
func TestSignedDatanetTxs(t *testing.T) {
	c := tk.NewChain(t, 5)
	owner, curator, alice, bob := 0, 1, 2, 3
	addr := func(i int) string { return c.Accounts[i].Bech32 }
	balance := func(i int) int64 {
		return c.App.BankKeeper.GetBalance(c.Context(), c.Accounts[i].Addr, tk.Denom).Amount.Int64()
	}
	const dep = 1_000
	create := tk.CreateDatanetMsg(addr(owner), []string{addr(curator)}, 1, 10, types.Requirements{MinAcceptedContributions: 2}, dep)
	c.MustBlock([][]byte{c.Sign(owner, create)})

	aliceBefore, bobBefore := balance(alice), balance(bob)
	bad := tk.SubmitMsg(addr(bob), 1, "bad")
	bad.Cid = "not-a-cid"
	results := c.Block([][]byte{
		c.Sign(alice, tk.SubmitMsg(addr(alice), 1, "first")),
		c.Sign(bob, bad),
		c.Sign(bob, tk.SubmitMsg(addr(bob), 1, "second")),
	})
	if results[0].Code != 0 || results[2].Code != 0 {
		t.Fatalf("valid submissions failed: %v / %v", results[0].Log, results[2].Log)
	}
	if r := results[1]; r.Codespace != types.ModuleName || r.Code != types.ErrInvalidCID.ABCICode() {
		t.Fatalf("invalid CID: codespace %q code %d (%s)", r.Codespace, r.Code, r.Log)
	}
	// alice paid fee + deposit; bob paid two fees and one deposit.
	if got := aliceBefore - balance(alice); got != tk.TxFee+dep {
		t.Fatalf("alice paid %d", got)
	}
	if got := bobBefore - balance(bob); got != 2*tk.TxFee+dep {
		t.Fatalf("bob paid %d", got)
	}
	ctx := c.Context()
	k := c.App.DatanetKeeper
	if d, _ := k.GetDatanet(ctx, 1); d.Stats.PendingContributions != 2 {
		t.Fatalf("pending %d", d.Stats.PendingContributions)
	}

	// Reviews in the next block: both accepted, deposits refunded, datanet READY.
	results = c.MustBlock([][]byte{
		c.Sign(curator, &types.MsgReviewContribution{Curator: addr(curator), ContributionId: 1, Decision: types.REVIEW_DECISION_APPROVE}),
		c.Sign(curator, &types.MsgReviewContribution{Curator: addr(curator), ContributionId: 2, Decision: types.REVIEW_DECISION_APPROVE}),
		c.Sign(alice, banktypes.NewMsgSend(c.Accounts[alice].Addr, c.Accounts[bob].Addr, sdk.NewCoins(sdk.NewInt64Coin(tk.Denom, 7)))),
	})
	ctx = c.Context()
	d, _ := k.GetDatanet(ctx, 1)
	if d.Status != types.DATANET_STATUS_READY || d.Stats.AcceptedContributions != 2 {
		t.Fatalf("datanet %s %+v", d.Status, d.Stats)
	}
	if got := aliceBefore - balance(alice); got != 2*tk.TxFee+7 {
		t.Fatalf("alice's net cost %d", got)
	}
	if err := k.EscrowInvariant(ctx); err != nil {
		t.Fatal(err)
	}
	if err := k.StatsInvariant(ctx); err != nil {
		t.Fatal(err)
	}
	// A review by a non-curator fails in the block with the registered error.
	results = c.Block([][]byte{c.Sign(bob, &types.MsgReviewContribution{Curator: addr(bob), ContributionId: 1, Decision: types.REVIEW_DECISION_APPROVE})})
	if r := results[0]; r.Codespace != types.ModuleName || r.Code != types.ErrWrongStatus.ABCICode() {
		t.Fatalf("review of a decided contribution: %q %d %s", r.Codespace, r.Code, r.Log)
	}
	// Signed by someone else than the msg's signer: rejected by the ante handler.
	results = c.Block([][]byte{c.Sign(alice, &types.MsgWithdrawContribution{Contributor: addr(bob), ContributionId: 2})})
	if results[0].Code == 0 {
		t.Fatal("tx signed by the wrong account succeeded")
	}
	c.UnusedSequence(alice)
}
