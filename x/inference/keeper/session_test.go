package keeper_test

import (
	"fmt"
	"testing"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
	sdkerrors "github.com/cosmos/cosmos-sdk/types/errors"

	tk "github.com/openledger/openledger/testutil/keeper"
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
		{name: "no attribution: the royalty goes to the table's pools", msg: func(t *testing.T, _ sdk.Context) *types.MsgSettleSession {
			m := e.settleMsg(v(t, 2, 20_000, 20_000))
			m.Summary = rewardstypes.AttributionSummary{} // the voucher names no attributed receipt
			return m
		}, amount: 10_000, royalty: 2_000, tokens: 10_000},
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
