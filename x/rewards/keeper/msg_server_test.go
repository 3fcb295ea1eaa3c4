package keeper_test

import (
	"errors"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	errorsmod "cosmossdk.io/errors"
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
	sdkerrors "github.com/cosmos/cosmos-sdk/types/errors"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"

	"github.com/openledger/openledger/x/rewards/types"
)

func TestUpdateParams(t *testing.T) {
	bad := types.DefaultParams()
	bad.ProtocolFeeBps = 6_000
	good := types.DefaultParams()
	good.MaxTopK = 8
	tests := []struct {
		name      string
		authority string
		params    types.Params
		err       *errorsmod.Error
	}{
		{"not the authority", "", good, sdkerrors.ErrUnauthorized},
		{"fee above half", "gov", bad, types.ErrInvalidParams},
		{"ok", "gov", good, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			auth := f.bech(alice)
			if tc.authority == "gov" {
				auth = f.authority
			}
			ctx := f.ctx.WithEventManager(sdk.NewEventManager())
			_, err := f.msg.UpdateParams(ctx, &types.MsgUpdateParams{Authority: auth, Params: tc.params})
			if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
			got, gerr := f.k.Params.Get(ctx)
			if gerr != nil {
				t.Fatal(gerr)
			}
			var events []sdk.Event
			for _, e := range ctx.EventManager().Events() {
				if e.Type == "openledger.rewards.v1.EventParamsUpdated" {
					events = append(events, e)
				}
			}
			if tc.err != nil {
				if len(events) != 0 || (got.String() == tc.params.String()) {
					t.Fatalf("failed update: %d events, params %v", len(events), got)
				}
				return
			}
			if !(got.String() == tc.params.String()) || len(events) != 1 {
				t.Fatalf("params %v, %d EventParamsUpdated", got, len(events))
			}
			msg, err := sdk.ParseTypedEvent(abci.Event(events[0]))
			if err != nil {
				t.Fatal(err)
			}
			ev, ok := msg.(*types.EventParamsUpdated)
			if !ok || ev.Authority != auth || ev.Params.String() != tc.params.String() {
				t.Fatalf("event %v", msg)
			}
		})
	}
}

func TestClaimValidationAndFilters(t *testing.T) {
	f := world(t)
	f.fund(11_000)
	if _, err := f.k.Settle(f.ctx, payer, 1, provider, coin(1_000), coin(10_000), 7, goodSummary()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		msg  types.MsgClaimRewards
		err  *errorsmod.Error
	}{
		{"empty claimant", types.MsgClaimRewards{}, types.ErrInvalidAddress},
		{"bad claimant", types.MsgClaimRewards{Claimant: "cosmos1xyz"}, types.ErrInvalidAddress},
		{"version without datanet", types.MsgClaimRewards{Claimant: f.bech(alice), Version: 1}, types.ErrInvalidFilter},
		{"nothing accrued", types.MsgClaimRewards{Claimant: f.bech(provider)}, types.ErrBelowMinClaim},
		{"filtered out", types.MsgClaimRewards{Claimant: f.bech(alice), DatanetId: 2}, types.ErrBelowMinClaim},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.msg.ClaimRewards(f.ctx, &tc.msg); !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
		})
	}
	// Developer share is not in a datanet filter; alice's datanet-1 claim is.
	res, err := f.msg.ClaimRewards(f.ctx, &types.MsgClaimRewards{Claimant: f.bech(alice), DatanetId: 1, Version: 1})
	if err != nil || !res.Amount.Amount.Equal(sdkmath.NewInt(2_744+343)) {
		t.Fatalf("filtered claim: %v %v", res, err)
	}
	f.invariant()
}

func TestClaimResumes(t *testing.T) {
	f := world(t)
	f.fund(11_000)
	if _, err := f.k.Settle(f.ctx, payer, 1, provider, coin(1_000), coin(10_000), 7, goodSummary()); err != nil {
		t.Fatal(err)
	}
	got := sdkmath.ZeroInt()
	for i := 0; i < 10; i++ {
		res, err := f.msg.ClaimRewards(f.ctx, &types.MsgClaimRewards{Claimant: f.bech(alice), MaxItems: 1})
		if err != nil {
			t.Fatal(err)
		}
		got = got.Add(res.Amount.Amount)
		if !res.More {
			break
		}
	}
	if !got.Equal(sdkmath.NewInt(2_744 + 343)) {
		t.Fatalf("one item at a time: %s", got)
	}
	f.invariant()
}

func TestGenesisRoundTrip(t *testing.T) {
	f := world(t)
	f.fund(11_000)
	if _, err := f.k.Settle(f.ctx, payer, 1, provider, coin(1_000), coin(10_000), 7, goodSummary()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.msg.ClaimRewards(f.ctx, &types.MsgClaimRewards{Claimant: f.bech(bob)}); err != nil {
		t.Fatal(err)
	}
	gs, err := f.k.ExportGenesis(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := gs.Validate(); err != nil {
		t.Fatal(err)
	}
	g := newFixture(t)
	mod := authtypes.NewModuleAddress(types.ModuleName)
	if err := g.k.InitGenesis(g.ctx, *gs); !errors.Is(err, types.ErrInvalidGenesis) {
		t.Fatalf("genesis without the module's coins: %v", err)
	}
	g = newFixture(t)
	g.bank.bal[string(mod)] = f.balance(mod) // x/bank's genesis comes first
	if err := g.k.InitGenesis(g.ctx, *gs); err != nil {
		t.Fatal(err)
	}
	again, err := g.k.ExportGenesis(g.ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := gs.Marshal()
	b, _ := again.Marshal()
	if string(a) != string(b) || len(gs.Accruals) == 0 || len(gs.Pools) != 2 || len(gs.Cursors) != 1 || len(gs.Records) != 1 || len(gs.DeploymentTotals) != 1 || len(gs.DatanetTotals) != 2 {
		t.Fatalf("round trip differs or is empty:\n%v\n%v", gs, again)
	}
	bad := *gs
	bad.Accruals = append(bad.Accruals, bad.Accruals[0])
	if err := bad.Validate(); !errors.Is(err, types.ErrInvalidGenesis) {
		t.Fatalf("duplicate accrual: %v", err)
	}
}
