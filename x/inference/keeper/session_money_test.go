package keeper_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/inference/voucher"
	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/inference/keeper"
	"github.com/openledger/openledger/x/inference/types"
)

func kSessionBalance(s types.Session) sdkmath.Int { return keeper.SessionBalance(s) }

// ---------------------------------------------------------------------------
// Money flows with real bank, x/rewards and x/distribution

// ledger is the uopen held by every party a session touches.
type ledger struct {
	requester, provider, pool, rewards, module, supply sdkmath.Int
}

func (e *sessionEnv) ledger(ctx sdk.Context) ledger {
	return ledger{
		requester: e.f.Balance(ctx, e.requester), provider: e.f.Balance(ctx, e.provider),
		pool: e.f.CommunityPool(ctx), rewards: e.rewardsBalance(ctx), module: e.moduleBalance(ctx), supply: e.supply(ctx),
	}
}

// TestSessionMoneyStory opens a session, settles two vouchers, runs EndBlock through
// the first challenge window, closes the session with the second settlement pending
// and runs EndBlock until it pays: every balance is exact at every step.
func TestSessionMoneyStory(t *testing.T) {
	e := newSessionEnv(t)
	ctx := e.ctx.WithEventManager(sdk.NewEventManager())
	h0 := ctx.BlockHeight()
	base := e.ledger(ctx)

	e.id = e.open(t, ctx, sessionDepo, h0+sessionBlocks)
	e.expectLedger(t, ctx, "open", base, -sessionDepo, 0, 0, 0, sessionDepo)

	// Voucher 1: 10,000 tokens at 800 + 200 per 1,000 = 10,000 uopen (royalty 2,000).
	r1 := e.settle(t, ctx, 1, 10_000, 10_000)
	e.expectLedger(t, ctx, "settle 1", base, -sessionDepo, 0, 0, 0, sessionDepo)

	ctx = e.f.AdvanceTo(ctx, h0+3)
	// Voucher 2: 25,001 cumulative; increment 15,001 with royalty ⌊25,001×0.2⌋ − 2,000 = 3,000.
	r2 := e.settle(t, ctx, 2, 25_001, 25_001)
	if !r2.Amount.Amount.Equal(sdkmath.NewInt(15_001)) || e.settlement(t, ctx, r2.SettlementId).Royalty.Amount.Int64() != 3_000 {
		t.Fatalf("settlement 2: %+v", e.settlement(t, ctx, r2.SettlementId))
	}

	fee1, prov1, rew1 := split(t, e, ctx, 10_000, 2_000)
	fee2, prov2, rew2 := split(t, e, ctx, 15_001, 3_000)
	if fee1 != 200 || prov1 != 7_840 || rew1 != 1_960 || fee2 != 300 || prov2 != 11_761 || rew2 != 2_940 {
		t.Fatalf("unexpected split %d %d %d / %d %d %d", fee1, prov1, rew1, fee2, prov2, rew2)
	}
	// Nothing moves during the challenge window.
	for ctx.BlockHeight() < r1.ChallengeEndHeight {
		ctx = e.f.EndBlock(ctx)
		e.expectLedger(t, ctx, fmt.Sprintf("window at %d", ctx.BlockHeight()), base, -sessionDepo, 0, 0, 0, sessionDepo)
	}
	ctx = e.f.EndBlock(ctx) // finalises settlement 1
	e.expectLedger(t, ctx, "settlement 1 paid", base, -sessionDepo, prov1, fee1, rew1, sessionDepo-10_000)
	if st := e.settlement(t, ctx, r1.SettlementId); st.Status != types.SETTLEMENT_STATUS_FINALIZED {
		t.Fatalf("settlement 1 is %s", st.Status)
	}
	if st := e.settlement(t, ctx, r2.SettlementId); st.Status != types.SETTLEMENT_STATUS_PENDING {
		t.Fatalf("settlement 2 is %s", st.Status)
	}

	res, err := e.f.Msg.CloseSession(ctx, &types.MsgCloseSession{Sender: e.provider, SessionId: e.id})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Refunded.Amount.Equal(sdkmath.NewInt(sessionDepo - 25_001)) {
		t.Fatalf("refunded %s", res.Refunded)
	}
	e.expectLedger(t, ctx, "closed", base, -25_001, prov1, fee1, rew1, 15_001)

	for ctx.BlockHeight() <= r2.ChallengeEndHeight {
		ctx = e.f.EndBlock(ctx)
		e.mustInvariants(t, ctx, fmt.Sprintf("EndBlock %d", ctx.BlockHeight()))
	}
	e.expectLedger(t, ctx, "settlement 2 paid", base, -25_001, prov1+prov2, fee1+fee2, rew1+rew2, 0)
	s := e.session(t, ctx, e.id)
	if !s.Paid.Equal(sdkmath.NewInt(25_001)) || !s.Refunded.Equal(sdkmath.NewInt(sessionDepo-25_001)) || !keeper.SessionBalance(s).IsZero() {
		t.Fatalf("final session %+v", s)
	}
	// What left the requester is exactly what the vouchers authorised, and it all landed.
	if prov1+prov2+fee1+fee2+rew1+rew2 != 25_001 {
		t.Fatal("payments do not add up to the vouchers")
	}
}

// TestSessionExpiresAutomatically: a session nobody closes is closed by EndBlock at
// expiry + grace; the provider may settle up to that height, the requester may not
// close before it, and a pending settlement still pays afterwards.
func TestSessionExpiresAutomatically(t *testing.T) {
	e := newSessionEnv(t)
	ctx := e.ctx
	base := e.ledger(ctx)
	ctx = e.f.AdvanceTo(ctx, e.deadline)
	if _, err := e.f.Msg.CloseSession(tk.Branch(ctx), &types.MsgCloseSession{Sender: e.requester, SessionId: e.id}); !errors.Is(err, types.ErrSessionNotExpired) {
		t.Fatalf("requester close at the deadline: %v", err)
	}
	r := e.settle(t, ctx, 1, 40_000, 40_000) // the last height the provider may settle
	ctx = ctx.WithEventManager(sdk.NewEventManager())
	ctx = e.f.EndBlock(ctx) // expiry + grace: closed by expiry
	s := e.session(t, ctx, e.id)
	if s.Status != types.SESSION_STATUS_CLOSED || s.ClosedHeight != e.deadline || !s.Refunded.Equal(sdkmath.NewInt(sessionDepo-40_000)) {
		t.Fatalf("not closed by expiry: %+v", s)
	}
	// base was taken with the deposit already held: the refund is what comes back.
	e.expectLedger(t, ctx, "expired", base, sessionDepo-40_000, 0, 0, 0, -(sessionDepo - 40_000))
	if _, err := e.f.Msg.SettleSession(tk.Branch(ctx), e.settleMsg(e.voucher(t, 2, 50_000, 50_000))); !errors.Is(err, types.ErrSessionClosed) {
		t.Fatalf("settle after expiry: %v", err)
	}
	ctx = e.f.AdvanceTo(ctx, r.ChallengeEndHeight+1)
	fee, prov, rew := split(t, e, ctx, 40_000, 8_000)
	e.expectLedger(t, ctx, "paid after expiry", base, sessionDepo-40_000, prov, fee, rew, -sessionDepo)
}

// TestSessionExpiryFollowsGraceChange: the expiry queue is keyed with the grace in
// force when it was set; after governance changes the grace the handler closes at the
// new expiry + grace, never earlier.
func TestSessionExpiryFollowsGraceChange(t *testing.T) {
	e := newSessionEnv(t)
	ctx := e.ctx
	p := e.params
	p.SessionGraceBlocks += 20
	if err := e.f.K.Params.Set(ctx, p); err != nil {
		t.Fatal(err)
	}
	ctx = e.f.AdvanceTo(ctx, e.deadline+1) // the old key fired at e.deadline
	if s := e.session(t, ctx, e.id); s.Status != types.SESSION_STATUS_OPEN {
		t.Fatalf("closed before the new deadline: %+v", s)
	}
	ctx = e.f.AdvanceTo(ctx, e.deadline+21)
	if s := e.session(t, ctx, e.id); s.Status != types.SESSION_STATUS_CLOSED || s.ClosedHeight != e.deadline+20 {
		t.Fatalf("not closed at the new deadline: %+v", s)
	}
	e.mustInvariants(t, ctx, "after expiry")
}

// TestSessionSettlementFallback: when x/rewards refuses a settlement at finalisation
// (here its denom was changed by governance), compute goes to the provider directly,
// the royalty back to the requester, the settlement is FINALIZED and an event says why.
func TestSessionSettlementFallback(t *testing.T) {
	e := newSessionEnv(t)
	ctx := e.ctx
	base := e.ledger(ctx)
	r := e.settle(t, ctx, 1, 10_000, 10_000)
	rp, err := e.f.App.RewardsKeeper.Params.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rp.Denom = "uother"
	if err := e.f.App.RewardsKeeper.Params.Set(ctx, rp); err != nil {
		t.Fatal(err)
	}
	ctx = e.f.AdvanceTo(ctx, r.ChallengeEndHeight)
	ctx = ctx.WithEventManager(sdk.NewEventManager())
	if err := e.f.K.EndBlocker(ctx); err != nil {
		t.Fatal(err)
	}
	if eventCount(ctx, "EventSettlementFallback") != 1 || eventCount(ctx, "EventSessionSettlementFinalized") != 1 {
		t.Fatalf("events: %v", ctx.EventManager().Events())
	}
	if st := e.settlement(t, ctx, r.SettlementId); st.Status != types.SETTLEMENT_STATUS_FINALIZED {
		t.Fatalf("settlement is %s", st.Status)
	}
	// compute 8,000 to the provider, royalty 2,000 back to the requester (base was
	// taken with the deposit already held).
	e.expectLedger(t, ctx, "fallback", base, 2_000, 8_000, 0, 0, -10_000)
	s := e.session(t, ctx, e.id)
	if !s.Paid.Equal(sdkmath.NewInt(8_000)) || !s.Refunded.Equal(sdkmath.NewInt(2_000)) {
		t.Fatalf("session %+v", s)
	}
	// Closing refunds the unsettled rest; the books still balance.
	if _, err := e.f.Msg.CloseSession(ctx, &types.MsgCloseSession{Sender: e.provider, SessionId: e.id}); err != nil {
		t.Fatal(err)
	}
	e.expectLedger(t, ctx, "closed", base, sessionDepo-8_000, 8_000, 0, 0, -sessionDepo)
}

// TestSessionSelfDealing: one party cannot open a session with itself, and with two
// accounts it controls (requester A, provider B) it can mint nothing: whatever
// vouchers A signs, coins leave the module only as settled increments (each exactly
// what its voucher authorised over the previous one) and refunds, never more than A
// deposited; A and B together lose the fee and the royalty.
func TestSessionSelfDealing(t *testing.T) {
	e := newSessionEnv(t)
	ctx := e.ctx
	if _, err := e.f.Msg.OpenSession(tk.Branch(ctx), &types.MsgOpenSession{
		Requester: e.provider, Provider: e.provider, DeploymentId: e.f.DeploymentID,
		Deposit: sdk.NewInt64Coin(tk.Denom, 1_000), ExpiryHeight: ctx.BlockHeight() + 10, SessionPubkey: e.key.Public().(ed25519.PublicKey),
	}); !errors.Is(err, types.ErrSelfDealing) {
		t.Fatalf("self-dealing: %v", err)
	}

	base := e.ledger(ctx)
	const depo = 100_000
	e.id = e.open(t, ctx, depo, ctx.BlockHeight()+sessionBlocks)
	// B tries every trick with A's key; only monotonic vouchers within the deposit pass.
	type attempt struct {
		seq            uint64
		amount, tokens int64
	}
	var authorised int64 // sum of accepted increments
	var royalties int64
	last := int64(0)
	for i, a := range []attempt{
		{1, 30_000, 30_000}, {1, 30_000, 30_000}, {1, 90_000, 90_000}, {2, 20_000, 40_000}, {3, depo + 1, depo + 1},
		{4, depo, 20_000}, {5, depo, 20_000}, {6, depo, depo}, {7, depo * 10, depo},
	} {
		res, err := e.f.Msg.SettleSession(ctx, e.settleMsg(e.voucher(t, a.seq, a.amount, uint64(a.tokens))))
		if err != nil {
			continue
		}
		st := e.settlement(t, ctx, res.SettlementId)
		if st.Amount.Amount.Int64() != a.amount-last {
			t.Fatalf("attempt %d paid %s, authorised %d", i, st.Amount, a.amount-last)
		}
		authorised += a.amount - last
		royalties += st.Royalty.Amount.Int64()
		last = a.amount
	}
	// Accepted: 30,000 for 30,000 tokens (seq 1), then 100,000 for 100,000 tokens
	// (seq 6); nothing else.
	if authorised != depo {
		t.Fatalf("authorised %d, want %d", authorised, depo)
	}
	if _, err := e.f.Msg.CloseSession(ctx, &types.MsgCloseSession{Sender: e.provider, SessionId: e.id}); err != nil {
		t.Fatal(err)
	}
	ctx = e.f.AdvanceTo(ctx, ctx.BlockHeight()+int64(e.params.ChallengeWindowBlocks)+1)
	now := e.ledger(ctx)
	out := base.module.Sub(now.module).Neg() // module change: back to where it was
	if !out.IsZero() {
		t.Fatalf("module changed by %s", out)
	}
	// A's loss = B's gain + fee + royalty net (to others): A+B together never gain.
	ab := now.requester.Sub(base.requester).Add(now.provider.Sub(base.provider))
	others := now.pool.Sub(base.pool).Add(now.rewards.Sub(base.rewards))
	if !ab.Neg().Equal(others) || !ab.IsNegative() {
		t.Fatalf("A+B changed by %s, others by %s", ab, others)
	}
	if !now.supply.Equal(base.supply) {
		t.Fatal("supply changed")
	}
	if got := base.requester.Sub(now.requester); got.GT(sdkmath.NewInt(depo)) || !got.Equal(sdkmath.NewInt(authorised)) {
		t.Fatalf("requester lost %s, authorised %d", got, authorised)
	}
	if royalties != depo*tk.InferenceRoyalty/1000 {
		t.Fatalf("royalties %d", royalties)
	}
	e.mustInvariants(t, ctx, "end")
}

// TestSessionSettle1000Requests settles a session of 1,000 requests with one
// MsgSettleSession: 1,000 receipts signed by the provider's libp2p key, their leaf
// hashes under one receipts root, one voucher over them.
func TestSessionSettle1000Requests(t *testing.T) {
	e := newSessionEnv(t)
	ctx := e.ctx
	base := e.ledger(ctx)
	leaves, receipts, tokens := buildReceipts(t, e, 1_000)
	root := voucher.Root(leaves)
	var acc voucher.Accumulator
	for _, l := range leaves {
		acc.Append(l)
	}
	if acc.Root() != root {
		t.Fatal("accumulator and Root disagree")
	}
	amount := int64(tokens) * (computePrice + tk.InferenceRoyalty) / 1000
	v := signVoucher(t, e.key, tk.ChainID, e.id, 1, sdkmath.NewInt(amount), tokens, 1_000, root)
	res, err := e.f.Msg.SettleSession(ctx, e.settleMsg(v))
	if err != nil {
		t.Fatal(err)
	}
	st := e.settlement(t, ctx, res.SettlementId)
	royalty := int64(tokens) * tk.InferenceRoyalty / 1000
	if st.Requests != 1_000 || st.FirstRequest != 1 || st.Tokens != tokens || st.Amount.Amount.Int64() != amount || st.Royalty.Amount.Int64() != royalty {
		t.Fatalf("settlement %+v (tokens %d amount %d royalty %d)", st, tokens, amount, royalty)
	}
	// Any one request is provably inside what was paid: its receipt verifies with the
	// provider's registered peer id and its leaf is under the settled root.
	prov, err := e.f.K.GetProvider(ctx, e.f.Accounts[providerIdx].Addr)
	if err != nil {
		t.Fatal(err)
	}
	s := e.session(t, ctx, e.id)
	var settled [32]byte
	copy(settled[:], s.ReceiptsRoot)
	for _, i := range []int{0, 536, 999} {
		if err := receipts[i].VerifyPeer(prov.PeerId); err != nil {
			t.Fatalf("receipt %d: %v", i, err)
		}
		proof, err := voucher.Proof(leaves, i)
		if err != nil {
			t.Fatal(err)
		}
		if err := voucher.VerifyProof(settled, receipts[i].LeafHash(), uint64(i), s.SettledRequests, proof); err != nil {
			t.Fatalf("receipt %d not under the settled root: %v", i, err)
		}
	}
	ctx = e.f.AdvanceTo(ctx, res.ChallengeEndHeight+1)
	fee, provPaid, rew := split(t, e, ctx, amount, royalty)
	e.expectLedger(t, ctx, "1,000 requests paid", base, 0, provPaid, fee, rew, -amount)
}

// buildReceipts signs n session receipts with the provider's libp2p key and returns
// their leaf hashes, the receipts and their total tokens.
func buildReceipts(t testing.TB, e *sessionEnv, n int) ([][32]byte, []voucher.Receipt, uint64) {
	t.Helper()
	priv, _ := e.f.PeerKey(providerIdx)
	leaves := make([][32]byte, 0, n)
	receipts := make([]voucher.Receipt, 0, n)
	var tokens uint64
	for i := 1; i <= n; i++ {
		out := fmt.Sprintf("completion %d", i)
		_, outCID := tk.Content(out)
		r := voucher.Receipt{
			ChainID: tk.ChainID, Provider: e.provider, SessionID: e.id, RequestSeq: uint64(i), RequestSHA256: sha256.Sum256([]byte(fmt.Sprintf("request %d", i))),
			OutputCID: outCID, OutputSHA256: sha256.Sum256([]byte(out)),
			PromptTokens: 40, CompletionTokens: uint64(60 + i%17),
			EngineName: "openledger-ml", EngineVersion: "v1", ModelID: e.f.ModelID, ModelVersion: e.f.ModelVersion,
		}
		r, err := voucher.SignReceipt(r, priv)
		if err != nil {
			t.Fatal(err)
		}
		tokens += r.PromptTokens + r.CompletionTokens
		leaves = append(leaves, r.LeafHash())
		receipts = append(receipts, r)
	}
	return leaves, receipts, tokens
}

// ---------------------------------------------------------------------------
// Genesis and queries
