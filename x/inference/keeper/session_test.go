package keeper_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sdk "github.com/cosmos/cosmos-sdk/types"
	sdkerrors "github.com/cosmos/cosmos-sdk/types/errors"
	"github.com/cosmos/cosmos-sdk/types/query"

	"github.com/openledger/openledger/inference/voucher"
	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/inference/keeper"
	"github.com/openledger/openledger/x/inference/types"
	modelskeeper "github.com/openledger/openledger/x/models/keeper"
	modelstypes "github.com/openledger/openledger/x/models/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// Session test accounts of the inference fixture (0–2 build the deployment).
const (
	requesterIdx  = 3
	providerIdx   = 4
	otherIdx      = 5 // a second provider
	strangerIdx   = 6
	providerStake = 2_000_000
	computePrice  = 800 // per 1,000 tokens; with the fixture's royalty of 200, 1 token costs 1 uopen
	sessionDepo   = 1_000_000
	sessionBlocks = 100
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

func TestOpenSession(t *testing.T) {
	e := newSessionEnv(t)
	h := e.ctx.BlockHeight()
	cases := []struct {
		name   string
		mutate func(*types.MsgOpenSession)
		setup  func(ctx sdk.Context)
		err    error
	}{
		{name: "opens"},
		{name: "expiry at the max", mutate: func(m *types.MsgOpenSession) { m.ExpiryHeight = h + int64(e.params.MaxSessionBlocks) }},
		{name: "self-dealing", mutate: func(m *types.MsgOpenSession) { m.Requester = e.provider }, err: types.ErrSelfDealing},
		{name: "bad requester", mutate: func(m *types.MsgOpenSession) { m.Requester = "openledger1bad" }, err: types.ErrInvalidAddress},
		{name: "bad provider", mutate: func(m *types.MsgOpenSession) { m.Provider = "" }, err: types.ErrInvalidAddress},
		{name: "provider not registered", mutate: func(m *types.MsgOpenSession) { m.Provider = e.stranger }, err: types.ErrProviderNotFound},
		{name: "provider jailed", setup: func(ctx sdk.Context) {
			addr := e.f.Accounts[providerIdx].Addr
			p, err := e.f.K.GetProvider(ctx, addr)
			if err != nil {
				t.Fatal(err)
			}
			p.Status = types.PROVIDER_STATUS_JAILED
			if err := e.f.K.Providers.Set(ctx, addr, p); err != nil {
				t.Fatal(err)
			}
		}, err: types.ErrProviderNotActive},
		{name: "no offer for the deployment", mutate: func(m *types.MsgOpenSession) { m.DeploymentId = 999 }, err: types.ErrOfferNotFound},
		{name: "deployment retired", setup: func(ctx sdk.Context) {
			if _, err := modelskeeper.NewMsgServerImpl(e.f.App.ModelsKeeper).RetireDeployment(ctx,
				&modelstypes.MsgRetireDeployment{Owner: e.f.Addr(2), DeploymentId: e.f.DeploymentID}); err != nil {
				t.Fatal(err)
			}
		}, err: types.ErrDeploymentMismatch},
		{name: "zero deposit", mutate: func(m *types.MsgOpenSession) { m.Deposit = sdk.NewInt64Coin(tk.Denom, 0) }, err: types.ErrInvalidAmount},
		{name: "negative deposit", mutate: func(m *types.MsgOpenSession) { m.Deposit = sdk.Coin{Denom: tk.Denom, Amount: sdkmath.NewInt(-1)} }, err: types.ErrInvalidAmount},
		{name: "nil deposit", mutate: func(m *types.MsgOpenSession) { m.Deposit = sdk.Coin{} }, err: types.ErrInvalidAmount},
		{name: "deposit not in the royalty denom", mutate: func(m *types.MsgOpenSession) { m.Deposit = sdk.NewInt64Coin("uother", 10) }, err: types.ErrInvalidAmount},
		{name: "expiry now", mutate: func(m *types.MsgOpenSession) { m.ExpiryHeight = h }, err: types.ErrInvalidExpiry},
		{name: "expiry in the past", mutate: func(m *types.MsgOpenSession) { m.ExpiryHeight = -5 }, err: types.ErrInvalidExpiry},
		{name: "expiry beyond the max", mutate: func(m *types.MsgOpenSession) { m.ExpiryHeight = h + int64(e.params.MaxSessionBlocks) + 1 }, err: types.ErrInvalidExpiry},
		{name: "short session key", mutate: func(m *types.MsgOpenSession) { m.SessionPubkey = m.SessionPubkey[:31] }, err: types.ErrInvalidField},
		{name: "long session key", mutate: func(m *types.MsgOpenSession) { m.SessionPubkey = append(m.SessionPubkey, 0) }, err: types.ErrInvalidField},
		{name: "no session key", mutate: func(m *types.MsgOpenSession) { m.SessionPubkey = nil }, err: types.ErrInvalidField},
		{name: "deposit above the balance", mutate: func(m *types.MsgOpenSession) { m.Deposit = sdk.NewInt64Coin(tk.Denom, tk.DefaultBalance+1) }, err: sdkerrors.ErrInsufficientFunds},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tk.Branch(e.ctx).WithEventManager(sdk.NewEventManager())
			if tc.setup != nil {
				tc.setup(ctx)
			}
			msg := e.openMsg(50_000, e.expiryHeight)
			if tc.mutate != nil {
				tc.mutate(msg)
			}
			before, moduleBefore := e.f.Balance(ctx, e.requester), e.moduleBalance(ctx)
			res, err := e.f.Msg.OpenSession(ctx, msg)
			checkErr(t, err, tc.err)
			if tc.err != nil {
				return
			}
			s := e.session(t, ctx, res.SessionId)
			if s.Status != types.SESSION_STATUS_OPEN || s.Requester != e.requester || s.Provider != e.provider ||
				s.DeploymentId != e.f.DeploymentID || !s.Deposit.Equal(msg.Deposit) || s.ExpiryHeight != msg.ExpiryHeight ||
				!s.RoyaltyPerThousandTokens.Equal(e.f.Royalty) || !s.SettledAmount.IsZero() || !s.Paid.IsZero() ||
				!s.Refunded.IsZero() || s.OpenedHeight != h || s.LastSequence != 0 {
				t.Fatalf("session stored wrong: %+v", s)
			}
			if got := before.Sub(e.f.Balance(ctx, e.requester)); !got.Equal(msg.Deposit.Amount) {
				t.Fatalf("requester paid %s, want %s", got, msg.Deposit.Amount)
			}
			if got := e.moduleBalance(ctx).Sub(moduleBefore); !got.Equal(msg.Deposit.Amount) {
				t.Fatalf("module got %s, want %s", got, msg.Deposit.Amount)
			}
			at := msg.ExpiryHeight + int64(e.params.SessionGraceBlocks)
			if has, _ := e.f.K.SessionExpiryQueue.Has(ctx, collections.Join(at, s.Id)); !has {
				t.Fatalf("session not queued for expiry at %d", at)
			}
			if eventCount(ctx, "EventSessionOpened") != 1 {
				t.Fatal("no EventSessionOpened")
			}
			e.mustInvariants(t, ctx, tc.name)
		})
	}
}

// The royalty is locked at opening: a later price change does not reach the session.
func TestOpenSessionLocksRoyalty(t *testing.T) {
	e := newSessionEnv(t)
	ctx := tk.Branch(e.ctx)
	if _, err := modelskeeper.NewMsgServerImpl(e.f.App.ModelsKeeper).UpdateDeployment(ctx, &modelstypes.MsgUpdateDeployment{
		Owner: e.f.Addr(2), DeploymentId: e.f.DeploymentID, RoyaltyPerThousandTokens: ptrCoin(sdk.NewInt64Coin(tk.Denom, 900)),
	}); err != nil {
		t.Fatalf("update deployment price: %v", err)
	}
	mp, err := e.f.App.ModelsKeeper.Params.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ctx = e.f.AdvanceTo(ctx, ctx.BlockHeight()+int64(mp.PriceNoticeBlocks)+1)
	dep, err := e.f.App.ModelsKeeper.GetActiveDeployment(ctx, e.f.DeploymentID)
	if err != nil || dep.RoyaltyPerThousandTokens.Amount.Int64() != 900 {
		t.Fatalf("price not in force: %v %v", err, dep.RoyaltyPerThousandTokens)
	}
	if s := e.session(t, ctx, e.id); !s.RoyaltyPerThousandTokens.Equal(e.f.Royalty) {
		t.Fatalf("royalty changed to %s", s.RoyaltyPerThousandTokens)
	}
	if s := e.session(t, ctx, e.open(t, ctx, 10_000, ctx.BlockHeight()+10)); s.RoyaltyPerThousandTokens.Amount.Int64() != 900 {
		t.Fatalf("a new session locked %s", s.RoyaltyPerThousandTokens)
	}
	// 10,000 tokens at the locked 200 → royalty 2,000; an amount of 2,000 still suffices.
	e.settle(t, ctx, 1, 2_000, 10_000)
}

func ptrCoin(c sdk.Coin) *sdk.Coin { return &c }

// ---------------------------------------------------------------------------
// TopUpSession

func TestTopUpSession(t *testing.T) {
	e := newSessionEnv(t)
	h := e.ctx.BlockHeight()
	grace := int64(e.params.SessionGraceBlocks)
	coin := func(n int64) sdk.Coin { return sdk.NewInt64Coin(tk.Denom, n) }
	cases := []struct {
		name       string
		msg        types.MsgTopUpSession
		setup      func(ctx sdk.Context)
		err        error
		wantDep    int64
		wantExpiry int64
	}{
		{name: "adds to the deposit", msg: types.MsgTopUpSession{Amount: coin(5_000)}, wantDep: sessionDepo + 5_000, wantExpiry: e.expiryHeight},
		{name: "extends the expiry", msg: types.MsgTopUpSession{ExpiryHeight: e.expiryHeight + 50}, wantDep: sessionDepo, wantExpiry: e.expiryHeight + 50},
		{name: "zero amount without denom extends", msg: types.MsgTopUpSession{Amount: sdk.Coin{}, ExpiryHeight: e.expiryHeight + 1}, wantDep: sessionDepo, wantExpiry: e.expiryHeight + 1},
		{name: "both", msg: types.MsgTopUpSession{Amount: coin(1), ExpiryHeight: h + int64(e.params.MaxSessionBlocks)}, wantDep: sessionDepo + 1, wantExpiry: h + int64(e.params.MaxSessionBlocks)},
		{name: "during the grace period", msg: types.MsgTopUpSession{Amount: coin(7)}, wantDep: sessionDepo + 7, wantExpiry: e.expiryHeight},
		{name: "nothing", msg: types.MsgTopUpSession{Amount: coin(0)}, err: types.ErrInvalidAmount},
		{name: "same expiry and no amount", msg: types.MsgTopUpSession{ExpiryHeight: e.expiryHeight}, err: types.ErrInvalidAmount},
		{name: "earlier expiry", msg: types.MsgTopUpSession{Amount: coin(5), ExpiryHeight: e.expiryHeight - 1}, err: types.ErrInvalidExpiry},
		{name: "expiry beyond the max", msg: types.MsgTopUpSession{ExpiryHeight: h + int64(e.params.MaxSessionBlocks) + 1}, err: types.ErrInvalidExpiry},
		{name: "wrong denom", msg: types.MsgTopUpSession{Amount: sdk.NewInt64Coin("uother", 5)}, err: types.ErrInvalidAmount},
		{name: "wrong denom of zero", msg: types.MsgTopUpSession{Amount: sdk.NewInt64Coin("uother", 0), ExpiryHeight: e.expiryHeight + 1}, err: types.ErrInvalidAmount},
		{name: "negative amount", msg: types.MsgTopUpSession{Amount: sdk.Coin{Denom: tk.Denom, Amount: sdkmath.NewInt(-5)}}, err: types.ErrInvalidAmount},
		{name: "not the requester", msg: types.MsgTopUpSession{Requester: e.provider, Amount: coin(5)}, err: types.ErrUnauthorized},
		{name: "unknown session", msg: types.MsgTopUpSession{SessionId: 99, Amount: coin(5)}, err: types.ErrSessionNotFound},
		{name: "closed session", msg: types.MsgTopUpSession{Amount: coin(5)}, setup: func(ctx sdk.Context) {
			if _, err := e.f.Msg.CloseSession(ctx, &types.MsgCloseSession{Sender: e.provider, SessionId: e.id}); err != nil {
				t.Fatal(err)
			}
		}, err: types.ErrSessionClosed},
		{name: "above the balance", msg: types.MsgTopUpSession{Amount: coin(tk.DefaultBalance)}, err: sdkerrors.ErrInsufficientFunds},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tk.Branch(e.ctx).WithEventManager(sdk.NewEventManager())
			if tc.name == "during the grace period" {
				ctx = ctx.WithBlockHeight(e.expiryHeight + 5)
			}
			if tc.setup != nil {
				tc.setup(ctx)
			}
			msg := tc.msg
			if msg.Requester == "" {
				msg.Requester = e.requester
			}
			if msg.SessionId == 0 {
				msg.SessionId = e.id
			}
			_, err := e.f.Msg.TopUpSession(ctx, &msg)
			checkErr(t, err, tc.err)
			if tc.err != nil {
				return
			}
			s := e.session(t, ctx, e.id)
			if !s.Deposit.Amount.Equal(sdkmath.NewInt(tc.wantDep)) || s.ExpiryHeight != tc.wantExpiry {
				t.Fatalf("deposit %s expiry %d, want %d and %d", s.Deposit, s.ExpiryHeight, tc.wantDep, tc.wantExpiry)
			}
			if has, _ := e.f.K.SessionExpiryQueue.Has(ctx, collections.Join(tc.wantExpiry+grace, e.id)); !has {
				t.Fatal("expiry queue key not at the new expiry + grace")
			}
			if tc.wantExpiry != e.expiryHeight {
				if has, _ := e.f.K.SessionExpiryQueue.Has(ctx, collections.Join(e.expiryHeight+grace, e.id)); has {
					t.Fatal("old expiry queue key left behind")
				}
			}
			if eventCount(ctx, "EventSessionToppedUp") != 1 {
				t.Fatal("no EventSessionToppedUp")
			}
			e.mustInvariants(t, ctx, tc.name)
		})
	}
}

// ---------------------------------------------------------------------------
// SettleSession

// TestSettleSession runs every settlement path, including the attacks of issue 9,
// from a session whose voucher 1 (10,000 uopen, 10,000 tokens, 100 requests) is settled.
func TestSettleSession(t *testing.T) {
	e := newSessionEnv(t)
	e.settle(t, e.ctx, 1, 10_000, 10_000)
	v := func(t testing.TB, seq uint64, amount int64, tokens uint64) types.Voucher {
		return e.voucher(t, seq, amount, tokens)
	}
	other := sessionKey(2)
	cases := []struct {
		name  string
		setup func(t *testing.T, ctx sdk.Context) sdk.Context
		msg   func(t *testing.T, ctx sdk.Context) *types.MsgSettleSession
		err   error
		// want: the increment's amount, royalty and tokens.
		amount, royalty int64
		tokens          uint64
	}{
		{name: "next voucher", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession { return e.settleMsg(v(t, 2, 25_001, 25_001)) },
			amount: 15_001, royalty: 3_000, tokens: 15_001},
		{name: "sequence gap", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession { return e.settleMsg(v(t, 9, 10_500, 10_500)) },
			amount: 500, royalty: 100, tokens: 500},
		{name: "whole deposit", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			return e.settleMsg(v(t, 2, sessionDepo, sessionDepo))
		},
			amount: sessionDepo - 10_000, royalty: 198_000, tokens: sessionDepo - 10_000},
		{name: "tokens below one royalty unit, nothing paid", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			m := e.settleMsg(v(t, 2, 10_000, 10_004))
			m.RecordCid, m.Summary = "", rewardstypes.AttributionSummary{}
			return m
		}, amount: 0, royalty: 0, tokens: 4},
		{name: "at expiry plus grace", setup: func(_ *testing.T, ctx sdk.Context) sdk.Context { return ctx.WithBlockHeight(e.deadline) },
			msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession { return e.settleMsg(v(t, 2, 11_000, 11_000)) }, amount: 1_000, royalty: 200, tokens: 1_000},
		{name: "replayed voucher", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession { return e.settleMsg(v(t, 1, 10_000, 10_000)) },
			err: types.ErrStaleVoucher},
		{name: "replayed sequence with a higher amount", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession { return e.settleMsg(v(t, 1, 20_000, 20_000)) },
			err: types.ErrStaleVoucher},
		{name: "lower sequence", setup: func(t *testing.T, ctx sdk.Context) sdk.Context {
			e.settle(t, ctx, 5, 12_000, 12_000)
			return ctx
		}, msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession { return e.settleMsg(v(t, 4, 40_000, 40_000)) }, err: types.ErrStaleVoucher},
		{name: "lower amount", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession { return e.settleMsg(v(t, 2, 9_999, 10_000)) },
			err: types.ErrVoucherRegression},
		{name: "lower tokens", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession { return e.settleMsg(v(t, 2, 20_000, 9_999)) },
			err: types.ErrVoucherRegression},
		{name: "lower receipt count", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			return e.settleMsg(signVoucher(t, e.key, tk.ChainID, e.id, 2, sdkmath.NewInt(20_000), 20_000, 99, rootOf(2)))
		}, err: types.ErrVoucherRegression},
		{name: "exceeds the deposit", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			return e.settleMsg(v(t, 2, sessionDepo+1, sessionDepo+1))
		}, err: types.ErrExceedsDeposit},
		{name: "signed by another key", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			return e.settleMsg(signVoucher(t, other, tk.ChainID, e.id, 2, sdkmath.NewInt(20_000), 20_000, 200, rootOf(2)))
		}, err: types.ErrBadSignature},
		{name: "wrong chain id", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			return e.settleMsg(signVoucher(t, e.key, "openledger-other-1", e.id, 2, sdkmath.NewInt(20_000), 20_000, 200, rootOf(2)))
		}, err: types.ErrBadSignature},
		{name: "another session's voucher", setup: func(t *testing.T, ctx sdk.Context) sdk.Context {
			if id := e.open(t, ctx, 50_000, e.expiryHeight); id != e.id+1 {
				t.Fatalf("second session id %d", id)
			}
			return ctx
		}, msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			return e.settleMsg(signVoucher(t, e.key, tk.ChainID, e.id+1, 2, sdkmath.NewInt(20_000), 20_000, 200, rootOf(2)))
		}, err: types.ErrBadSignature},
		{name: "tampered amount", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			m := e.settleMsg(v(t, 2, 20_000, 20_000))
			m.Voucher.CumulativeAmount = sdkmath.NewInt(30_000)
			return m
		}, err: types.ErrBadSignature},
		{name: "tampered tokens", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			m := e.settleMsg(v(t, 2, 20_000, 20_000))
			m.Voucher.CumulativeTokens = 10_001
			return m
		}, err: types.ErrBadSignature},
		{name: "tampered receipt count", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			m := e.settleMsg(v(t, 2, 20_000, 20_000))
			m.Voucher.ReceiptCount++
			return m
		}, err: types.ErrBadSignature},
		{name: "tampered root", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			m := e.settleMsg(v(t, 2, 20_000, 20_000))
			m.Voucher.ReceiptsRoot = append([]byte(nil), m.Voucher.ReceiptsRoot...)
			m.Voucher.ReceiptsRoot[0] ^= 1
			return m
		}, err: types.ErrBadSignature},
		{name: "tampered sequence", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			m := e.settleMsg(v(t, 2, 20_000, 20_000))
			m.Voucher.Sequence = 3
			return m
		}, err: types.ErrBadSignature},
		{name: "truncated signature", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			m := e.settleMsg(v(t, 2, 20_000, 20_000))
			m.Voucher.Signature = m.Voucher.Signature[:63]
			return m
		}, err: types.ErrBadSignature},
		{name: "no signature", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			m := e.settleMsg(v(t, 2, 20_000, 20_000))
			m.Voucher.Signature = nil
			return m
		}, err: types.ErrBadSignature},
		{name: "root not 32 bytes", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			m := e.settleMsg(v(t, 2, 20_000, 20_000))
			m.Voucher.ReceiptsRoot = m.Voucher.ReceiptsRoot[:31]
			return m
		}, err: types.ErrInvalidField},
		{name: "nil amount", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			m := e.settleMsg(v(t, 2, 20_000, 20_000))
			m.Voucher.CumulativeAmount = sdkmath.Int{}
			return m
		}, err: types.ErrInvalidAmount},
		{name: "another provider settles", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			m := e.settleMsg(v(t, 2, 20_000, 20_000))
			m.Provider = e.other
			return m
		}, err: types.ErrUnauthorized},
		{name: "the requester settles", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			m := e.settleMsg(v(t, 2, 20_000, 20_000))
			m.Provider = e.requester
			return m
		}, err: types.ErrUnauthorized},
		{name: "bad provider address", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			m := e.settleMsg(v(t, 2, 20_000, 20_000))
			m.Provider = "nope"
			return m
		}, err: types.ErrInvalidAddress},
		{name: "unknown session", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			m := e.settleMsg(v(t, 2, 20_000, 20_000))
			m.SessionId = 99
			return m
		}, err: types.ErrSessionNotFound},
		{name: "closed session", setup: func(t *testing.T, ctx sdk.Context) sdk.Context {
			if _, err := e.f.Msg.CloseSession(ctx, &types.MsgCloseSession{Sender: e.provider, SessionId: e.id}); err != nil {
				t.Fatal(err)
			}
			return ctx
		}, msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession { return e.settleMsg(v(t, 2, 20_000, 20_000)) }, err: types.ErrSessionClosed},
		{name: "after expiry plus grace", setup: func(_ *testing.T, ctx sdk.Context) sdk.Context { return ctx.WithBlockHeight(e.deadline + 1) },
			msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession { return e.settleMsg(v(t, 2, 20_000, 20_000)) }, err: types.ErrSessionClosed},
		{name: "royalty underpaid", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			// 15,000 more tokens owe 3,000 royalty; 2,999 more uopen is short.
			return e.settleMsg(v(t, 2, 12_999, 25_000))
		}, err: types.ErrRoyaltyUnderpaid},
		{name: "nothing new", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession { return e.settleMsg(v(t, 2, 10_000, 10_000)) },
			err: types.ErrInvalidAmount},
		{name: "invalid summary", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			m := e.settleMsg(v(t, 2, 20_000, 20_000))
			m.Summary.Pools = nil // the weights no longer sum to 1,000,000 ppm
			return m
		}, err: types.ErrInvalidSummary},
		{name: "missing record cid", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			m := e.settleMsg(v(t, 2, 20_000, 20_000))
			m.RecordCid = ""
			return m
		}, err: types.ErrInvalidField},
		{name: "bad record cid", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			m := e.settleMsg(v(t, 2, 20_000, 20_000))
			m.RecordCid = "not-a-cid"
			return m
		}, err: types.ErrInvalidField},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tk.Branch(e.ctx).WithEventManager(sdk.NewEventManager())
			if tc.setup != nil {
				ctx = tc.setup(t, ctx)
			}
			before := e.session(t, ctx, e.id)
			moduleBefore := e.moduleBalance(ctx)
			msg := tc.msg(t, ctx)
			res, err := e.f.Msg.SettleSession(ctx, msg)
			checkErr(t, err, tc.err)
			if tc.err != nil {
				return
			}
			if !res.Amount.Amount.Equal(sdkmath.NewInt(tc.amount)) ||
				res.ChallengeEndHeight != ctx.BlockHeight()+int64(e.params.ChallengeWindowBlocks) {
				t.Fatalf("response %+v, want amount %d", res, tc.amount)
			}
			st := e.settlement(t, ctx, res.SettlementId)
			if st.Status != types.SETTLEMENT_STATUS_PENDING || st.SessionId != e.id || st.Sequence != msg.Voucher.Sequence ||
				!st.Amount.Amount.Equal(sdkmath.NewInt(tc.amount)) || !st.Royalty.Amount.Equal(sdkmath.NewInt(tc.royalty)) ||
				st.Tokens != tc.tokens || st.Requests != msg.Voucher.ReceiptCount-before.SettledRequests ||
				string(st.VoucherSignature) != string(msg.Voucher.Signature) || string(st.ReceiptsRoot) != string(msg.Voucher.ReceiptsRoot) {
				t.Fatalf("settlement stored wrong: %+v", st)
			}
			s := e.session(t, ctx, e.id)
			if !s.SettledAmount.Equal(msg.Voucher.CumulativeAmount) || s.SettledTokens != msg.Voucher.CumulativeTokens ||
				s.SettledRequests != msg.Voucher.ReceiptCount || s.LastSequence != msg.Voucher.Sequence ||
				s.Settlements != before.Settlements+1 || string(s.ReceiptsRoot) != string(msg.Voucher.ReceiptsRoot) {
				t.Fatalf("session not advanced: %+v", s)
			}
			if !e.moduleBalance(ctx).Equal(moduleBefore) {
				t.Fatal("settling moved coins before the challenge window")
			}
			if has, _ := e.f.K.SettlementFinalizeQueue.Has(ctx, collections.Join(res.ChallengeEndHeight, res.SettlementId)); !has {
				t.Fatal("settlement not queued for finalisation")
			}
			if eventCount(ctx, "EventSessionSettled") != 1 {
				t.Fatal("no EventSessionSettled")
			}
			e.mustInvariants(t, ctx, tc.name)
		})
	}
}

// Royalties are differences of cumulative floors: however a session's tokens are cut
// into settlements, the royalties sum to ⌊total tokens × royalty / 1,000⌋, and a voucher
// that pays one unit less than its royalty increment is refused.
func TestSessionRoyaltyCumulativeFloor(t *testing.T) {
	e := newSessionEnv(t)
	ctx := e.ctx
	royaltyOf := func(tokens uint64) int64 { return int64(tokens) * tk.InferenceRoyalty / 1000 }
	var tokens uint64
	var sum int64
	for seq := uint64(1); seq <= 40; seq++ {
		step := 1 + seq%7 // 2..7 tokens: each step's exact royalty is fractional
		tokens += step
		if seq%5 == 0 && royaltyOf(tokens) > royaltyOf(tokens-step) {
			short := signVoucher(t, e.key, tk.ChainID, e.id, seq, sdkmath.NewInt(royaltyOf(tokens)-1), tokens, seq, rootOf(seq))
			_, err := e.f.Msg.SettleSession(tk.Branch(ctx), e.settleMsg(short))
			checkErr(t, err, types.ErrRoyaltyUnderpaid)
		}
		// Pure royalty pricing: the cumulative amount is the cumulative royalty.
		msg := e.settleMsg(signVoucher(t, e.key, tk.ChainID, e.id, seq, sdkmath.NewInt(royaltyOf(tokens)), tokens, seq, rootOf(seq)))
		if royaltyOf(tokens) == royaltyOf(tokens-step) {
			msg.RecordCid, msg.Summary = "", rewardstypes.AttributionSummary{}
		}
		res, err := e.f.Msg.SettleSession(ctx, msg)
		if err != nil {
			t.Fatalf("voucher %d (%d tokens): %v", seq, tokens, err)
		}
		st := e.settlement(t, ctx, res.SettlementId)
		if !st.Royalty.Amount.Equal(st.Amount.Amount) {
			t.Fatalf("voucher %d: royalty %s, amount %s", seq, st.Royalty, st.Amount)
		}
		sum += st.Royalty.Amount.Int64()
	}
	if sum != royaltyOf(tokens) {
		t.Fatalf("royalties sum to %d, want ⌊%d × 200 / 1000⌋ = %d", sum, tokens, royaltyOf(tokens))
	}
	ctx = e.f.AdvanceTo(ctx, ctx.BlockHeight()+int64(e.params.ChallengeWindowBlocks)+1)
	if s := e.session(t, ctx, e.id); !s.Paid.Equal(sdkmath.NewInt(sum)) {
		t.Fatalf("paid %s, want %d", s.Paid, sum)
	}
	e.mustInvariants(t, ctx, "after finalisation")
}

// ---------------------------------------------------------------------------
// CloseSession

func TestCloseSession(t *testing.T) {
	e := newSessionEnv(t)
	e.settle(t, e.ctx, 1, 10_000, 10_000)
	closeProvider := func(t *testing.T, ctx sdk.Context) sdk.Context {
		if _, err := e.f.Msg.CloseSession(ctx, &types.MsgCloseSession{Sender: e.provider, SessionId: e.id}); err != nil {
			t.Fatal(err)
		}
		return ctx
	}
	at := func(h int64) func(*testing.T, sdk.Context) sdk.Context {
		return func(_ *testing.T, ctx sdk.Context) sdk.Context { return ctx.WithBlockHeight(h) }
	}
	cases := []struct {
		name     string
		setup    func(*testing.T, sdk.Context) sdk.Context
		sender   string
		session  uint64
		err      error
		closedBy string
	}{
		{name: "provider before expiry", sender: e.provider, closedBy: "provider"},
		{name: "provider during grace", setup: at(e.expiryHeight + 1), sender: e.provider, closedBy: "provider"},
		{name: "requester before expiry", sender: e.requester, err: types.ErrSessionNotExpired},
		{name: "requester at expiry", setup: at(e.expiryHeight), sender: e.requester, err: types.ErrSessionNotExpired},
		{name: "requester at expiry plus grace", setup: at(e.deadline), sender: e.requester, err: types.ErrSessionNotExpired},
		{name: "requester after expiry plus grace", setup: at(e.deadline + 1), sender: e.requester, closedBy: "requester"},
		{name: "stranger", sender: e.stranger, err: types.ErrUnauthorized},
		{name: "another provider", sender: e.other, err: types.ErrUnauthorized},
		{name: "bad address", sender: "x", err: types.ErrInvalidAddress},
		{name: "unknown session", sender: e.provider, session: 99, err: types.ErrSessionNotFound},
		{name: "provider closes a closed session", setup: closeProvider, sender: e.provider, err: types.ErrSessionClosed},
		{name: "requester closes a closed session", setup: func(t *testing.T, ctx sdk.Context) sdk.Context {
			return closeProvider(t, ctx).WithBlockHeight(e.deadline + 1)
		}, sender: e.requester, err: types.ErrSessionClosed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tk.Branch(e.ctx)
			if tc.setup != nil {
				ctx = tc.setup(t, ctx)
			}
			ctx = ctx.WithEventManager(sdk.NewEventManager())
			id := tc.session
			if id == 0 {
				id = e.id
			}
			balBefore := e.f.Balance(ctx, e.requester)
			res, err := e.f.Msg.CloseSession(ctx, &types.MsgCloseSession{Sender: tc.sender, SessionId: id})
			checkErr(t, err, tc.err)
			if tc.err != nil {
				return
			}
			want := sdkmath.NewInt(sessionDepo - 10_000)
			if !res.Refunded.Amount.Equal(want) || !e.f.Balance(ctx, e.requester).Sub(balBefore).Equal(want) {
				t.Fatalf("refunded %s, want %s", res.Refunded, want)
			}
			s := e.session(t, ctx, e.id)
			if s.Status != types.SESSION_STATUS_CLOSED || s.ClosedHeight != ctx.BlockHeight() || !s.Refunded.Equal(want) {
				t.Fatalf("session not closed: %+v", s)
			}
			// The pending settlement (10,000) is still held.
			if got := kSessionBalance(s); !got.Equal(sdkmath.NewInt(10_000)) {
				t.Fatalf("closed session holds %s, want 10000", got)
			}
			if has, _ := e.f.K.SessionExpiryQueue.Has(ctx, collections.Join(e.deadline, e.id)); has {
				t.Fatal("closed session still in the expiry queue")
			}
			if got := eventAttr(ctx, "EventSessionClosed", "closed_by"); got != fmt.Sprintf("%q", tc.closedBy) {
				t.Fatalf("closed_by %s, want %q", got, tc.closedBy)
			}
			e.mustInvariants(t, ctx, tc.name)
			// The pending settlement still pays after the close.
			ctx = e.f.AdvanceTo(ctx, max(ctx.BlockHeight()+1, e.ctx.BlockHeight()+int64(e.params.ChallengeWindowBlocks)+1))
			if s := e.session(t, ctx, e.id); !kSessionBalance(s).IsZero() || !s.Paid.Equal(sdkmath.NewInt(10_000)) {
				t.Fatalf("after finalisation: %+v", s)
			}
			e.mustInvariants(t, ctx, tc.name+" finalised")
		})
	}
}

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
			ChainID: tk.ChainID, Provider: e.provider, SessionID: e.id, RequestSeq: uint64(i),
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

// TestSessionGenesisRoundTrip exports a state with sessions OPEN and CLOSED and
// settlements PENDING and FINALIZED, wipes the module store, imports it and checks
// the state and the rebuilt queues are identical.
func TestSessionGenesisRoundTrip(t *testing.T) {
	e := newSessionEnv(t)
	ctx := e.ctx
	first := e.id
	e.settle(t, ctx, 1, 10_000, 10_000) // finalised below
	closed := e.open(t, ctx, 30_000, ctx.BlockHeight()+50)
	e.id = closed
	ctx = e.f.AdvanceTo(ctx, ctx.BlockHeight()+int64(e.params.ChallengeWindowBlocks)+1)
	e.settle(t, ctx, 1, 5_000, 5_000) // pending in a closed session
	if _, err := e.f.Msg.CloseSession(ctx, &types.MsgCloseSession{Sender: e.provider, SessionId: closed}); err != nil {
		t.Fatal(err)
	}
	e.id = first
	e.settle(t, ctx, 2, 12_000, 12_000) // pending in an open session
	e.mustInvariants(t, ctx, "before export")

	queues := func(ctx sdk.Context) (out []string) {
		for name, q := range map[string]collections.KeySet[keeper.HeightID]{
			"finalize": e.f.K.SettlementFinalizeQueue, "expiry": e.f.K.SessionExpiryQueue,
		} {
			err := q.Walk(ctx, nil, func(k keeper.HeightID) (bool, error) {
				out = append(out, fmt.Sprintf("%s %d %d", name, k.K1(), k.K2()))
				return false, nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		sort.Strings(out)
		return out
	}
	gs, err := e.f.K.ExportGenesis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, s := range gs.Sessions {
		statuses = append(statuses, s.Status.String())
	}
	for _, s := range gs.SessionSettlements {
		statuses = append(statuses, s.Status.String())
	}
	sort.Strings(statuses)
	want := []string{"SESSION_STATUS_CLOSED", "SESSION_STATUS_OPEN", "SETTLEMENT_STATUS_FINALIZED", "SETTLEMENT_STATUS_PENDING", "SETTLEMENT_STATUS_PENDING"}
	if fmt.Sprint(statuses) != fmt.Sprint(want) {
		t.Fatalf("exported %v, want %v", statuses, want)
	}
	wantQueues := queues(ctx)
	if len(wantQueues) != 3 { // two pending settlements, one open session
		t.Fatalf("queues before export: %v", wantQueues)
	}

	fresh := tk.Branch(ctx)
	store := fresh.KVStore(e.f.App.GetKey(types.StoreKey))
	it := store.Iterator(nil, nil)
	var keys [][]byte
	for ; it.Valid(); it.Next() {
		keys = append(keys, it.Key())
	}
	it.Close()
	for _, k := range keys {
		store.Delete(k)
	}
	if err := e.f.K.InitGenesis(fresh, *gs); err != nil {
		t.Fatal(err)
	}
	again, err := e.f.K.ExportGenesis(fresh)
	if err != nil {
		t.Fatal(err)
	}
	a, err := gs.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	b, err := again.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Fatalf("genesis changed on round trip:\n%v\n%v", gs, again)
	}
	if got := queues(fresh); fmt.Sprint(got) != fmt.Sprint(wantQueues) {
		t.Fatalf("queues rebuilt as %v, want %v", got, wantQueues)
	}
	e.mustInvariants(t, fresh, "after import")
	// The imported state keeps working: everything pays out.
	fresh = e.f.AdvanceTo(fresh, e.deadline+1)
	for _, id := range []uint64{first, closed} {
		if s := e.session(t, fresh, id); s.Status != types.SESSION_STATUS_CLOSED || !keeper.SessionBalance(s).IsZero() {
			t.Fatalf("session %d after import: %+v", id, s)
		}
	}
	e.mustInvariants(t, fresh, "after import and expiry")
}

func TestSessionQueries(t *testing.T) {
	e := newSessionEnv(t)
	ctx := e.ctx
	first := e.id
	e.settle(t, ctx, 1, 1_000, 1_000)
	e.settle(t, ctx, 2, 2_000, 2_000)
	second := e.open(t, ctx, 20_000, ctx.BlockHeight()+10)
	if _, err := e.f.Msg.CloseSession(ctx, &types.MsgCloseSession{Sender: e.provider, SessionId: second}); err != nil {
		t.Fatal(err)
	}
	// A session of the requester with the other provider.
	m := e.openMsg(5_000, ctx.BlockHeight()+10)
	m.Provider = e.other
	third, err := e.f.Msg.OpenSession(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	q := e.f.Query
	ids := func(ss []types.Session) (out []uint64) {
		for _, s := range ss {
			out = append(out, s.Id)
		}
		return out
	}
	one, err := q.Session(ctx, &types.QuerySessionRequest{SessionId: first})
	if err != nil || one.Session.Id != first || one.Session.LastSequence != 2 {
		t.Fatalf("session: %v %+v", err, one)
	}
	if _, err := q.Session(ctx, &types.QuerySessionRequest{SessionId: 99}); !errors.Is(err, types.ErrSessionNotFound) {
		t.Fatalf("unknown session: %v", err)
	}
	for _, tc := range []struct {
		name string
		req  types.QuerySessionsRequest
		want []uint64
		err  error
	}{
		{name: "all", want: []uint64{first, second, third.SessionId}},
		{name: "by requester", req: types.QuerySessionsRequest{Requester: e.requester}, want: []uint64{first, second, third.SessionId}},
		{name: "by provider", req: types.QuerySessionsRequest{Provider: e.provider}, want: []uint64{first, second}},
		{name: "by other provider", req: types.QuerySessionsRequest{Provider: e.other}, want: []uint64{third.SessionId}},
		{name: "by requester and provider", req: types.QuerySessionsRequest{Requester: e.requester, Provider: e.other}, want: []uint64{third.SessionId}},
		{name: "open by provider", req: types.QuerySessionsRequest{Provider: e.provider, Status: types.SESSION_STATUS_OPEN}, want: []uint64{first}},
		{name: "closed", req: types.QuerySessionsRequest{Status: types.SESSION_STATUS_CLOSED}, want: []uint64{second}},
		{name: "stranger", req: types.QuerySessionsRequest{Requester: e.stranger}},
		{name: "bad address", req: types.QuerySessionsRequest{Provider: "zz"}, err: types.ErrInvalidAddress},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := q.Sessions(ctx, &tc.req)
			checkErr(t, err, tc.err)
			if err == nil && fmt.Sprint(ids(res.Sessions)) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v", ids(res.Sessions), tc.want)
			}
		})
	}
	// Pagination by key over the requester index.
	var got []uint64
	page := &query.PageRequest{Limit: 1}
	for {
		res, err := q.Sessions(ctx, &types.QuerySessionsRequest{Requester: e.requester, Pagination: page})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(res.Sessions)...)
		if len(res.Pagination.NextKey) == 0 {
			break
		}
		page = &query.PageRequest{Key: res.Pagination.NextKey, Limit: 1}
	}
	if fmt.Sprint(got) != fmt.Sprint([]uint64{first, second, third.SessionId}) {
		t.Fatalf("paged %v", got)
	}
	sts, err := q.SessionSettlements(ctx, &types.QuerySessionSettlementsRequest{SessionId: first, Pagination: &query.PageRequest{CountTotal: true}})
	if err != nil || len(sts.Settlements) != 2 || sts.Pagination.Total != 2 || sts.Settlements[0].Sequence != 1 || sts.Settlements[1].Sequence != 2 {
		t.Fatalf("settlements: %v %+v", err, sts)
	}
	if _, err := q.SessionSettlements(ctx, &types.QuerySessionSettlementsRequest{SessionId: 99}); !errors.Is(err, types.ErrSessionNotFound) {
		t.Fatalf("settlements of an unknown session: %v", err)
	}
	for _, call := range []func() error{
		func() error { _, err := q.Session(ctx, nil); return err },
		func() error { _, err := q.Sessions(ctx, nil); return err },
		func() error { _, err := q.SessionSettlements(ctx, nil); return err },
	} {
		if status.Code(call()) != codes.InvalidArgument {
			t.Fatal("nil request accepted")
		}
	}
}
