package keeper_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/inference/voucher"
	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/inference/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// sessionEnv is an inference fixture with two ACTIVE providers and one OPEN session
// (id) from requester to provider whose vouchers key signs.
type sessionEnv struct {
	f                                    *tk.InferenceFixture
	ctx                                  sdk.Context
	requester, provider, other, stranger string
	key                                  ed25519.PrivateKey
	id                                   uint64
	params                               types.Params
	recordCID                            string
	openHeight, expiryHeight, deadline   int64
}

// sessionKey is a deterministic ed25519 session key.
func sessionKey(seed byte) ed25519.PrivateKey {
	s := make([]byte, ed25519.SeedSize)
	copy(s, "openledger session key")
	s[ed25519.SeedSize-1] = seed
	return ed25519.NewKeyFromSeed(s)
}

func newSessionEnv(t testing.TB) *sessionEnv {
	t.Helper()
	f := tk.NewInferenceFixture(t, 8)
	ctx := f.Ctx
	f.RegisterProvider(ctx, providerIdx, providerStake, computePrice)
	f.RegisterProvider(ctx, otherIdx, providerStake, computePrice)
	params, err := f.K.Params.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, recordCID := tk.Content("session attribution record")
	e := &sessionEnv{
		f: f, ctx: ctx, params: params, key: sessionKey(1), recordCID: recordCID,
		requester: f.Addr(requesterIdx), provider: f.Addr(providerIdx), other: f.Addr(otherIdx), stranger: f.Addr(strangerIdx),
	}
	e.openHeight = ctx.BlockHeight()
	e.expiryHeight = e.openHeight + sessionBlocks
	e.deadline = e.expiryHeight + int64(params.SessionGraceBlocks)
	e.id = e.open(t, ctx, sessionDepo, e.expiryHeight)
	return e
}

func (e *sessionEnv) openMsg(amount, expiry int64) *types.MsgOpenSession {
	return &types.MsgOpenSession{
		Requester: e.requester, Provider: e.provider, DeploymentId: e.f.DeploymentID,
		Deposit: sdk.NewInt64Coin(tk.Denom, amount), ExpiryHeight: expiry,
		SessionPubkey: e.key.Public().(ed25519.PublicKey),
	}
}

func (e *sessionEnv) open(t testing.TB, ctx sdk.Context, amount, expiry int64) uint64 {
	t.Helper()
	res, err := e.f.Msg.OpenSession(ctx, e.openMsg(amount, expiry))
	if err != nil {
		t.Fatalf("open session: %v", err)
	}
	return res.SessionId
}

// rootOf is a stand-in receipts root for tests that do not build receipts.
func rootOf(seq uint64) [32]byte {
	return sha256.Sum256([]byte(fmt.Sprintf("receipts up to voucher %d", seq)))
}

// signVoucher signs a voucher exactly as a client would (inference/voucher) and
// returns its msg form.
func signVoucher(t testing.TB, key ed25519.PrivateKey, chainID string, sessionID, seq uint64, amount sdkmath.Int,
	tokens, count uint64, root [32]byte,
) types.Voucher {
	t.Helper()
	v, err := voucher.Sign(voucher.Voucher{
		ChainID: chainID, SessionID: sessionID, Sequence: seq, Denom: tk.Denom,
		CumulativeAmount: amount, CumulativeTokens: tokens, ReceiptCount: count, ReceiptsRoot: root,
	}, key)
	if err != nil {
		t.Fatalf("sign voucher: %v", err)
	}
	return types.Voucher{
		Sequence: seq, CumulativeAmount: amount, CumulativeTokens: tokens, ReceiptCount: count,
		ReceiptsRoot: root[:], Signature: v.Signature,
	}
}

// voucher is the session's voucher seq for a cumulative amount and token count (one
// request per 100 tokens).
func (e *sessionEnv) voucher(t testing.TB, seq uint64, amount int64, tokens uint64) types.Voucher {
	t.Helper()
	return signVoucher(t, e.key, tk.ChainID, e.id, seq, sdkmath.NewInt(amount), tokens, tokens/100, rootOf(seq))
}

func (e *sessionEnv) settleMsg(v types.Voucher) *types.MsgSettleSession {
	return &types.MsgSettleSession{Provider: e.provider, SessionId: e.id, Voucher: v, RecordCid: e.recordCID, Summary: e.f.Summary}
}

func (e *sessionEnv) settle(t testing.TB, ctx sdk.Context, seq uint64, amount int64, tokens uint64) *types.MsgSettleSessionResponse {
	t.Helper()
	res, err := e.f.Msg.SettleSession(ctx, e.settleMsg(e.voucher(t, seq, amount, tokens)))
	if err != nil {
		t.Fatalf("settle voucher %d: %v", seq, err)
	}
	return res
}

func (e *sessionEnv) session(t testing.TB, ctx sdk.Context, id uint64) types.Session {
	t.Helper()
	s, err := e.f.K.GetSession(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *sessionEnv) settlement(t testing.TB, ctx sdk.Context, id uint64) types.SessionSettlement {
	t.Helper()
	st, err := e.f.K.Settlements.Get(ctx, id)
	if err != nil {
		t.Fatalf("settlement %d: %v", id, err)
	}
	return st
}

// moduleBalance is the inference module account's uopen.
func (e *sessionEnv) moduleBalance(ctx sdk.Context) sdkmath.Int {
	return e.f.App.BankKeeper.GetBalance(ctx, e.f.K.ModuleAddress(), tk.Denom).Amount
}

// rewardsBalance is the x/rewards module account's uopen.
func (e *sessionEnv) rewardsBalance(ctx sdk.Context) sdkmath.Int {
	return e.f.App.BankKeeper.GetBalance(ctx, e.f.App.AccountKeeper.GetModuleAddress(rewardstypes.ModuleName), tk.Denom).Amount
}

func (e *sessionEnv) supply(ctx sdk.Context) sdkmath.Int {
	return e.f.App.BankKeeper.GetSupply(ctx, tk.Denom).Amount
}

// checkErr fails unless err matches want (nil: success).
func checkErr(t testing.TB, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && err == nil:
		t.Fatalf("expected %v, got success", want)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("expected %v, got %v", want, err)
	}
}

// eventCount counts the events of a proto type name (e.g. "EventSessionClosed") on ctx.
func eventCount(ctx sdk.Context, name string) int {
	n := 0
	for _, ev := range ctx.EventManager().Events() {
		if strings.HasSuffix(ev.Type, "."+name) || ev.Type == name {
			n++
		}
	}
	return n
}

// eventAttr returns the first value of attribute key of the last event named name.
func eventAttr(ctx sdk.Context, name, key string) string {
	var out string
	for _, ev := range ctx.EventManager().Events() {
		if !strings.HasSuffix(ev.Type, "."+name) && ev.Type != name {
			continue
		}
		for _, a := range ev.Attributes {
			if a.Key == key {
				out = a.Value
			}
		}
	}
	return out
}

// mustInvariants runs every x/inference invariant and x/rewards' balance invariant.
func (e *sessionEnv) mustInvariants(t testing.TB, ctx sdk.Context, step string) {
	t.Helper()
	if err := e.f.K.AllInvariants(ctx); err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	if err := e.f.App.RewardsKeeper.BalanceInvariant(ctx); err != nil {
		t.Fatalf("%s: rewards: %v", step, err)
	}
}

// split is x/rewards' payment split of one settlement as ADR-003 states it, computed
// here independently: the protocol fee (bps of the total) comes out of compute and
// royalty pro rata, the provider gets compute − its fee share.
func split(t testing.TB, e *sessionEnv, ctx sdk.Context, amount, royalty int64) (fee, provider, rewardsKept int64) {
	t.Helper()
	p, err := e.f.App.RewardsKeeper.Params.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bps := int64(p.ProtocolFeeBps)
	compute := amount - royalty
	fee = amount * bps / 10_000
	feeCompute := compute * bps / 10_000
	return fee, compute - feeCompute, royalty - (fee - feeCompute)
}

// ---------------------------------------------------------------------------
// OpenSession

// expectLedger checks every party's change since base, the supply unchanged and the
// invariants.
func (e *sessionEnv) expectLedger(t *testing.T, ctx sdk.Context, step string, base ledger, req, prov, pool, rew, mod int64) {
	t.Helper()
	now := e.ledger(ctx)
	for _, c := range []struct {
		who       string
		got, want sdkmath.Int
	}{
		{"requester", now.requester.Sub(base.requester), sdkmath.NewInt(req)},
		{"provider", now.provider.Sub(base.provider), sdkmath.NewInt(prov)},
		{"community pool", now.pool.Sub(base.pool), sdkmath.NewInt(pool)},
		{"x/rewards", now.rewards.Sub(base.rewards), sdkmath.NewInt(rew)},
		{"x/inference", now.module.Sub(base.module), sdkmath.NewInt(mod)},
		{"supply", now.supply.Sub(base.supply), sdkmath.ZeroInt()},
	} {
		if !c.got.Equal(c.want) {
			t.Fatalf("%s: %s changed by %s, want %s", step, c.who, c.got, c.want)
		}
	}
	e.mustInvariants(t, ctx, step)
}
