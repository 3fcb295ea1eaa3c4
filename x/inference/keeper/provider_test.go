package keeper_test

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"
	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	sdk "github.com/cosmos/cosmos-sdk/types"
	sdkerrors "github.com/cosmos/cosmos-sdk/types/errors"
	"github.com/cosmos/cosmos-sdk/types/query"

	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/inference/types"
)

// registerMsg is a valid MsgRegisterProvider for account i.
func (m *market) registerMsg(i int) *types.MsgRegisterProvider {
	_, peerID := m.f.PeerKey(i)
	return &types.MsgRegisterProvider{
		Operator: m.addr(i), PeerId: peerID,
		Multiaddrs: []string{"/ip4/10.0.0.1/tcp/4001", "/dns4/p.example.com/udp/4001/quic-v1"},
		ApiUrl:     "https://p.example.com/v1",
		Hardware:   types.Hardware{Accelerator: "nvidia-h100-80gb", MemoryMib: 81_920, Count: 8},
		Engines:    []string{"openledger-ml", "vllm"}, Moniker: "Provider Seven",
		Stake: mktCoin(mktStake),
	}
}

// secpPeerID is the peer id of a (deterministic) secp256k1 key: valid, not Ed25519.
func secpPeerID(t testing.TB) string {
	t.Helper()
	priv, _, err := libp2pcrypto.GenerateSecp256k1Key(rand.New(rand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

func TestRegisterProvider(t *testing.T) {
	m := newMarket(t)
	_, takenPeer := m.f.PeerKey(mktProvA)
	cases := []struct {
		name string
		edit func(*types.MsgRegisterProvider)
		want error
	}{
		{"valid", func(*types.MsgRegisterProvider) {}, nil},
		{"no api url", func(msg *types.MsgRegisterProvider) { msg.ApiUrl = "" }, nil},
		{"bad operator", func(msg *types.MsgRegisterProvider) { msg.Operator = "cosmos1bad" }, types.ErrInvalidAddress},
		{"already registered", func(msg *types.MsgRegisterProvider) { msg.Operator = m.addr(mktProvA) }, types.ErrProviderExists},
		{"empty peer id", func(msg *types.MsgRegisterProvider) { msg.PeerId = "" }, types.ErrInvalidPeerID},
		{"garbage peer id", func(msg *types.MsgRegisterProvider) { msg.PeerId = "not-a-peer" }, types.ErrInvalidPeerID},
		{"secp256k1 peer id", func(msg *types.MsgRegisterProvider) { msg.PeerId = secpPeerID(t) }, types.ErrInvalidPeerID},
		{"peer id taken", func(msg *types.MsgRegisterProvider) { msg.PeerId = takenPeer }, types.ErrPeerIDTaken},
		{"no multiaddr", func(msg *types.MsgRegisterProvider) { msg.Multiaddrs = nil }, types.ErrInvalidField},
		{"bad multiaddr", func(msg *types.MsgRegisterProvider) { msg.Multiaddrs = []string{"10.0.0.1:4001"} }, types.ErrInvalidField},
		{"duplicate multiaddr", func(msg *types.MsgRegisterProvider) {
			msg.Multiaddrs = []string{"/ip4/10.0.0.1/tcp/4001", "/ip4/10.0.0.1/tcp/4001"}
		}, types.ErrInvalidField},
		{"too many multiaddrs", func(msg *types.MsgRegisterProvider) {
			msg.Multiaddrs = nil
			for p := 0; p < int(m.params.MaxMultiaddrs)+1; p++ {
				msg.Multiaddrs = append(msg.Multiaddrs, fmt.Sprintf("/ip4/10.0.0.1/tcp/%d", 4000+p))
			}
		}, types.ErrInvalidField},
		{"long multiaddr", func(msg *types.MsgRegisterProvider) {
			msg.Multiaddrs = []string{"/dns4/" + strings.Repeat("a", types.MaxMultiaddrLength) + "/tcp/1"}
		}, types.ErrInvalidField},
		{"ftp api url", func(msg *types.MsgRegisterProvider) { msg.ApiUrl = "ftp://p.example.com" }, types.ErrInvalidField},
		{"relative api url", func(msg *types.MsgRegisterProvider) { msg.ApiUrl = "/v1" }, types.ErrInvalidField},
		{"api url with credentials", func(msg *types.MsgRegisterProvider) { msg.ApiUrl = "https://u:p@p.example.com" }, types.ErrInvalidField},
		{"long api url", func(msg *types.MsgRegisterProvider) {
			msg.ApiUrl = "https://p.example.com/" + strings.Repeat("a", types.MaxURLLength)
		}, types.ErrInvalidField},
		{"no engine", func(msg *types.MsgRegisterProvider) { msg.Engines = nil }, types.ErrInvalidField},
		{"engine with space", func(msg *types.MsgRegisterProvider) { msg.Engines = []string{"llama cpp"} }, types.ErrInvalidField},
		{"duplicate engine", func(msg *types.MsgRegisterProvider) { msg.Engines = []string{"vllm", "vllm"} }, types.ErrInvalidField},
		{"too many engines", func(msg *types.MsgRegisterProvider) {
			msg.Engines = nil
			for e := 0; e < int(m.params.MaxEngines)+1; e++ {
				msg.Engines = append(msg.Engines, fmt.Sprintf("engine-%d", e))
			}
		}, types.ErrInvalidField},
		{"no accelerator", func(msg *types.MsgRegisterProvider) { msg.Hardware.Accelerator = "" }, types.ErrInvalidField},
		{"zero count", func(msg *types.MsgRegisterProvider) { msg.Hardware.Count = 0 }, types.ErrInvalidField},
		{"moniker control char", func(msg *types.MsgRegisterProvider) { msg.Moniker = "bad\x00" }, types.ErrInvalidField},
		{"moniker too long", func(msg *types.MsgRegisterProvider) { msg.Moniker = strings.Repeat("m", types.MaxMonikerLength+1) }, types.ErrInvalidField},
		{"wrong stake denom", func(msg *types.MsgRegisterProvider) { msg.Stake = sdk.NewInt64Coin("uatom", mktStake) }, types.ErrInvalidAmount},
		{"stake below min", func(msg *types.MsgRegisterProvider) { msg.Stake = mktCoin(999_999) }, types.ErrInsufficientStake},
		{"stake beyond balance", func(msg *types.MsgRegisterProvider) { msg.Stake = mktCoin(tk.DefaultBalance + 1) }, sdkerrors.ErrInsufficientFunds},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tk.Branch(m.ctx)
			msg := m.registerMsg(mktStranger)
			tc.edit(msg)
			before := m.balance(ctx, mktStranger)
			_, err := m.f.Msg.RegisterProvider(ctx, msg)
			mktWantErr(t, err, tc.want)
			m.invariants(ctx)
			if tc.want != nil {
				return
			}
			p := m.provider(ctx, mktStranger)
			if p.Status != types.PROVIDER_STATUS_ACTIVE || !p.Stake.Equal(msg.Stake) || !p.Unbonding.IsZero() ||
				!p.SlashedTotal.IsZero() || p.RegisteredHeight != ctx.BlockHeight() || p.PeerId != msg.PeerId {
				t.Fatalf("provider %+v", p)
			}
			if got := before.Sub(m.balance(ctx, mktStranger)); !got.Equal(msg.Stake.Amount) {
				t.Fatalf("bonded %s, want %s", got, msg.Stake.Amount)
			}
			if owner, err := m.f.K.PeerIDs.Get(ctx, msg.PeerId); err != nil || !owner.Equals(m.acc(mktStranger)) {
				t.Fatalf("peer index: %v %v", owner, err)
			}
		})
	}
}

func TestUpdateProvider(t *testing.T) {
	m := newMarket(t)
	_, takenPeer := m.f.PeerKey(mktProvB)
	_, freshPeer := m.f.PeerKey(mktStranger)
	_, ownPeer := m.f.PeerKey(mktProvA)
	update := func(peerID string) *types.MsgUpdateProvider {
		return &types.MsgUpdateProvider{
			Operator: m.addr(mktProvA), PeerId: peerID, Multiaddrs: []string{"/ip6/::1/tcp/4002"},
			Hardware: types.Hardware{Accelerator: "cpu", Count: 16}, Engines: []string{"vllm"}, Moniker: "renamed",
		}
	}
	cases := []struct {
		name     string
		msg      *types.MsgUpdateProvider
		want     error
		wantPeer string
	}{
		{"keep peer id", update(""), nil, ownPeer},
		{"same peer id", update(ownPeer), nil, ownPeer},
		{"new peer id", update(freshPeer), nil, freshPeer},
		{"peer id of another provider", update(takenPeer), types.ErrPeerIDTaken, ""},
		{"bad peer id", update("12D3KooWbad"), types.ErrInvalidPeerID, ""},
		{"not a provider", &types.MsgUpdateProvider{Operator: m.addr(mktStranger)}, types.ErrProviderNotFound, ""},
		{"bad fields", func() *types.MsgUpdateProvider { u := update(""); u.Engines = nil; return u }(), types.ErrInvalidField, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tk.Branch(m.ctx)
			_, err := m.f.Msg.UpdateProvider(ctx, tc.msg)
			mktWantErr(t, err, tc.want)
			if tc.want != nil {
				return
			}
			p := m.provider(ctx, mktProvA)
			if p.PeerId != tc.wantPeer || p.Moniker != "renamed" || p.Engines[0] != "vllm" || p.Multiaddrs[0] != "/ip6/::1/tcp/4002" {
				t.Fatalf("provider %+v", p)
			}
			if has, _ := m.f.K.PeerIDs.Has(ctx, ownPeer); has != (tc.wantPeer == ownPeer) {
				t.Fatalf("old peer id still indexed: %v", has)
			}
			// The provider index of the peer id follows the change.
			if owner, err := m.f.K.PeerIDs.Get(ctx, tc.wantPeer); err != nil || !owner.Equals(m.acc(mktProvA)) {
				t.Fatalf("peer index %v %v", owner, err)
			}
		})
	}
}

// TestStakeLifecycle walks add, unbond (below the minimum: UNBONDED), add back
// (ACTIVE), too many entries, and the unbonding queue paying back at completion.
func TestStakeLifecycle(t *testing.T) {
	m := newMarket(t)
	ctx := m.ctx
	op := mktProvA
	supply := m.supply(ctx)
	start := m.balance(ctx, op).AddRaw(mktStake) // before it bonded

	// Bad amounts.
	for _, amt := range []sdk.Coin{mktCoin(0), sdk.NewInt64Coin("uatom", 5)} {
		_, err := m.f.Msg.AddStake(ctx, &types.MsgAddStake{Operator: m.addr(op), Amount: amt})
		mktWantErr(t, err, types.ErrInvalidAmount)
		_, err = m.f.Msg.UnbondStake(ctx, &types.MsgUnbondStake{Operator: m.addr(op), Amount: amt})
		mktWantErr(t, err, types.ErrInvalidAmount)
	}
	_, err := m.f.Msg.UnbondStake(ctx, &types.MsgUnbondStake{Operator: m.addr(op), Amount: mktCoin(mktStake + 1)})
	mktWantErr(t, err, types.ErrInsufficientStake)
	_, err = m.f.Msg.AddStake(ctx, &types.MsgAddStake{Operator: m.addr(mktStranger), Amount: mktCoin(1)})
	mktWantErr(t, err, types.ErrProviderNotFound)

	// Unbond to below the minimum: UNBONDED.
	res, err := m.f.Msg.UnbondStake(ctx, &types.MsgUnbondStake{Operator: m.addr(op), Amount: mktCoin(1_500_000)})
	mktWantErr(t, err, nil)
	if res.CompletionHeight != ctx.BlockHeight()+int64(m.params.UnbondingBlocks) {
		t.Fatalf("completion %d", res.CompletionHeight)
	}
	p := m.provider(ctx, op)
	if p.Status != types.PROVIDER_STATUS_UNBONDED || p.Stake.Amount.Int64() != 500_000 || p.Unbonding.Int64() != 1_500_000 {
		t.Fatalf("after unbond: %s stake %s unbonding %s", p.Status, p.Stake, p.Unbonding)
	}
	m.invariants(ctx)
	// UNBONDED may not bid.
	id := m.createJob(ctx, mktRequester)
	mktWantErr(t, m.bid(ctx, op, id, 100), types.ErrProviderNotActive)

	// Add back above the minimum: ACTIVE.
	add, err := m.f.Msg.AddStake(ctx, &types.MsgAddStake{Operator: m.addr(op), Amount: mktCoin(600_000)})
	mktWantErr(t, err, nil)
	if p = m.provider(ctx, op); p.Status != types.PROVIDER_STATUS_ACTIVE || !add.Stake.Equal(mktCoin(1_100_000)) {
		t.Fatalf("after add: %s %s", p.Status, add.Stake)
	}

	// Entries are capped.
	m.setParams(ctx, func(p *types.Params) { p.MaxUnbondingEntries = 2; p.UnbondingBlocks = 3 })
	_, err = m.f.Msg.UnbondStake(ctx, &types.MsgUnbondStake{Operator: m.addr(op), Amount: mktCoin(10)})
	mktWantErr(t, err, nil)
	_, err = m.f.Msg.UnbondStake(ctx, &types.MsgUnbondStake{Operator: m.addr(op), Amount: mktCoin(10)})
	mktWantErr(t, err, types.ErrTooManyUnbondings)
	ents, err := m.f.Query.Unbondings(ctx, &types.QueryUnbondingsRequest{Operator: m.addr(op)})
	if err != nil || len(ents.Entries) != 2 {
		t.Fatalf("unbondings %v %v", ents, err)
	}

	// The 10 unbonded under UnbondingBlocks = 3 is paid back first, then the rest.
	ctx = m.f.AdvanceTo(ctx, ctx.BlockHeight()+4)
	if p = m.provider(ctx, op); p.Unbonding.Int64() != 1_500_000 {
		t.Fatalf("unbonding after the short entry: %s", p.Unbonding)
	}
	if got, want := m.balance(ctx, op), start.Sub(p.Stake.Amount).Sub(p.Unbonding); !got.Equal(want) {
		t.Fatalf("balance %s, want %s (start − bonded − unbonding)", got, want)
	}
	m.invariants(ctx)
	ctx = ctx.WithBlockHeight(res.CompletionHeight)
	ctx = m.f.EndBlock(ctx)
	p = m.provider(ctx, op)
	if !p.Unbonding.IsZero() {
		t.Fatalf("unbonding left %s", p.Unbonding)
	}
	if got, want := m.balance(ctx, op), start.Sub(p.Stake.Amount); !got.Equal(want) {
		t.Fatalf("balance %s, want %s (start − bonded)", got, want)
	}
	if has, _ := m.f.K.UnbondingQueue.Has(ctx, collections.Join3(res.CompletionHeight, m.acc(op), res.EntryId)); has {
		t.Fatal("queue key left")
	}
	if !m.supply(ctx).Equal(supply) {
		t.Fatal("supply changed")
	}
	m.invariants(ctx)
}

func TestJailAndUnjail(t *testing.T) {
	m := newMarket(t)
	ctx := m.ctx
	op := mktProvA
	_, err := m.f.Msg.UnjailProvider(ctx, &types.MsgUnjailProvider{Operator: m.addr(op)})
	mktWantErr(t, err, types.ErrProviderNotActive) // not jailed
	if err := m.f.K.Jail(ctx, m.acc(op), "test"); err != nil {
		t.Fatal(err)
	}
	p := m.provider(ctx, op)
	if p.Status != types.PROVIDER_STATUS_JAILED || p.JailedUntil != ctx.BlockHeight()+int64(m.params.JailBlocks) {
		t.Fatalf("jailed: %s until %d", p.Status, p.JailedUntil)
	}
	id := m.createJob(ctx, mktRequester)
	mktWantErr(t, m.bid(ctx, op, id, 100), types.ErrProviderNotActive)
	// AddStake keeps a jailed provider jailed.
	_, err = m.f.Msg.AddStake(ctx, &types.MsgAddStake{Operator: m.addr(op), Amount: mktCoin(1)})
	mktWantErr(t, err, nil)
	if m.provider(ctx, op).Status != types.PROVIDER_STATUS_JAILED {
		t.Fatal("add stake unjailed")
	}
	_, err = m.f.Msg.UnjailProvider(ctx, &types.MsgUnjailProvider{Operator: m.addr(op)})
	mktWantErr(t, err, types.ErrStillJailed)

	later := ctx.WithBlockHeight(p.JailedUntil)
	low := tk.Branch(later)
	_, err = m.f.Msg.UnbondStake(low, &types.MsgUnbondStake{Operator: m.addr(op), Amount: mktCoin(1_500_000)})
	mktWantErr(t, err, nil)
	if m.provider(low, op).Status != types.PROVIDER_STATUS_JAILED {
		t.Fatal("unbonding changed a jailed provider's status")
	}
	_, err = m.f.Msg.UnjailProvider(low, &types.MsgUnjailProvider{Operator: m.addr(op)})
	mktWantErr(t, err, types.ErrInsufficientStake)

	_, err = m.f.Msg.UnjailProvider(later, &types.MsgUnjailProvider{Operator: m.addr(op)})
	mktWantErr(t, err, nil)
	if m.provider(later, op).Status != types.PROVIDER_STATUS_ACTIVE {
		t.Fatal("not active after unjail")
	}
	var changes int
	for _, ev := range later.EventManager().Events() {
		if ev.Type == "openledger.inference.v1.EventProviderStatusChanged" {
			changes++
		}
	}
	if changes < 2 { // jailed, unjailed
		t.Fatalf("%d status change events", changes)
	}
}

// TestSlashConservation slashes bonded stake and unbonding entries: the amount is
// floor((stake + unbonding) × bps / 10,000), taken from the stake first and then
// from the entries in id order; it reaches the community pool exactly and no coin
// is created or lost.
func TestSlashConservation(t *testing.T) {
	cases := []struct {
		name        string
		unbond      []int64 // entries unbonded from the 2,000,000 stake
		bps         uint32
		wantSlashed int64
		wantStake   int64
		wantEntries []int64 // left, in id order (emptied ones deleted)
		wantStatus  types.ProviderStatus
	}{
		{"1% of stake", nil, 100, 20_000, 1_980_000, nil, types.PROVIDER_STATUS_ACTIVE},
		{"zero bps", []int64{5}, 0, 0, 1_999_995, []int64{5}, types.PROVIDER_STATUS_ACTIVE},
		{"stake only, below min", []int64{}, 6_000, 1_200_000, 800_000, nil, types.PROVIDER_STATUS_UNBONDED},
		{"into entries", []int64{1_000_000, 400_000, 100_000}, 9_000, 1_800_000, 0, []int64{100_000, 100_000}, types.PROVIDER_STATUS_UNBONDED},
		{"everything", []int64{1_000_000, 7}, 10_000, 2_000_000, 0, nil, types.PROVIDER_STATUS_UNBONDED},
		{"odd floor", []int64{333}, 3, 600, 1_999_067, []int64{333}, types.PROVIDER_STATUS_ACTIVE},
	}
	m := newMarket(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tk.Branch(m.ctx)
			op := m.acc(mktProvA)
			var ids []uint64
			var heights []int64
			for _, a := range tc.unbond {
				res, err := m.f.Msg.UnbondStake(ctx, &types.MsgUnbondStake{Operator: m.addr(mktProvA), Amount: mktCoin(a)})
				if err != nil {
					t.Fatal(err)
				}
				ids, heights = append(ids, res.EntryId), append(heights, res.CompletionHeight)
			}
			supply, pool, module := m.supply(ctx), m.f.CommunityPool(ctx), m.moduleBalance(ctx)
			before := m.provider(ctx, mktProvA)
			slashed, err := m.f.K.Slash(ctx, op, tc.bps, "test", 7)
			if err != nil {
				t.Fatal(err)
			}
			if slashed.Amount.Int64() != tc.wantSlashed {
				t.Fatalf("slashed %s, want %d", slashed, tc.wantSlashed)
			}
			p := m.provider(ctx, mktProvA)
			if p.Stake.Amount.Int64() != tc.wantStake {
				t.Fatalf("stake %s, want %d", p.Stake, tc.wantStake)
			}
			want := before.Status // only an ACTIVE provider changes status
			if before.Status == types.PROVIDER_STATUS_ACTIVE {
				want = tc.wantStatus
			}
			if p.Status != want {
				t.Fatalf("status %s, want %s", p.Status, want)
			}
			var left []int64
			for i, id := range ids {
				u, err := m.f.K.Unbondings.Get(ctx, collections.Join(op, id))
				inQueue, _ := m.f.K.UnbondingQueue.Has(ctx, collections.Join3(heights[i], op, id))
				if err == nil {
					left = append(left, u.Amount.Amount.Int64())
					if !inQueue {
						t.Fatalf("entry %d lost its queue key", id)
					}
				} else if inQueue {
					t.Fatalf("deleted entry %d kept its queue key", id)
				}
			}
			if len(left) != len(tc.wantEntries) {
				t.Fatalf("entries %v, want %v", left, tc.wantEntries)
			}
			for i := range left {
				if left[i] != tc.wantEntries[i] {
					t.Fatalf("entries %v, want %v", left, tc.wantEntries)
				}
			}
			if !p.SlashedTotal.Equal(before.SlashedTotal.AddRaw(tc.wantSlashed)) {
				t.Fatalf("slashed_total %s", p.SlashedTotal)
			}
			if got := m.f.CommunityPool(ctx).Sub(pool); got.Int64() != tc.wantSlashed {
				t.Fatalf("community pool +%s, want %d", got, tc.wantSlashed)
			}
			if got := module.Sub(m.moduleBalance(ctx)); got.Int64() != tc.wantSlashed {
				t.Fatalf("module −%s, want %d", got, tc.wantSlashed)
			}
			if !m.supply(ctx).Equal(supply) {
				t.Fatal("supply changed")
			}
			m.invariants(ctx)
		})
	}
	if _, err := m.f.K.Slash(tk.Branch(m.ctx), m.acc(mktStranger), 100, "x", 0); err == nil {
		t.Fatal("slashed a non-provider")
	}
}

func TestSetAndRemoveOffer(t *testing.T) {
	m := newMarket(t)
	offer := func(edit func(*types.MsgSetOffer)) *types.MsgSetOffer {
		msg := &types.MsgSetOffer{Operator: m.addr(mktProvA), DeploymentId: m.f.DeploymentID,
			ComputePricePerThousandTokens: mktCoin(750), MaxConcurrency: 8}
		edit(msg)
		return msg
	}
	big, _ := sdkmath.NewIntFromString(strings.Repeat("9", types.MaxPriceDigits+1))
	maxOK, _ := sdkmath.NewIntFromString(strings.Repeat("9", types.MaxPriceDigits))
	cases := []struct {
		name string
		msg  *types.MsgSetOffer
		want error
	}{
		{"valid", offer(func(*types.MsgSetOffer) {}), nil},
		{"free", offer(func(msg *types.MsgSetOffer) { msg.ComputePricePerThousandTokens = mktCoin(0) }), nil},
		{"30 digits", offer(func(msg *types.MsgSetOffer) { msg.ComputePricePerThousandTokens = sdk.NewCoin(tk.Denom, maxOK) }), nil},
		{"31 digits", offer(func(msg *types.MsgSetOffer) { msg.ComputePricePerThousandTokens = sdk.NewCoin(tk.Denom, big) }), types.ErrInvalidAmount},
		{"negative", offer(func(msg *types.MsgSetOffer) {
			msg.ComputePricePerThousandTokens = sdk.Coin{Denom: tk.Denom, Amount: sdkmath.NewInt(-1)}
		}), types.ErrInvalidAmount},
		{"wrong denom", offer(func(msg *types.MsgSetOffer) { msg.ComputePricePerThousandTokens = sdk.NewInt64Coin("uatom", 1) }), types.ErrInvalidAmount},
		{"zero concurrency", offer(func(msg *types.MsgSetOffer) { msg.MaxConcurrency = 0 }), types.ErrInvalidField},
		{"huge concurrency", offer(func(msg *types.MsgSetOffer) { msg.MaxConcurrency = 1_000_001 }), types.ErrInvalidField},
		{"unknown deployment", offer(func(msg *types.MsgSetOffer) { msg.DeploymentId = 999 }), types.ErrDeploymentMismatch},
		{"not a provider", offer(func(msg *types.MsgSetOffer) { msg.Operator = m.addr(mktStranger) }), types.ErrProviderNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tk.Branch(m.ctx)
			_, err := m.f.Msg.SetOffer(ctx, tc.msg)
			mktWantErr(t, err, tc.want)
			if tc.want != nil {
				return
			}
			o, err := m.f.K.GetOffer(ctx, m.acc(mktProvA), m.f.DeploymentID)
			if err != nil || !o.ComputePricePerThousandTokens.Equal(tc.msg.ComputePricePerThousandTokens) || o.MaxConcurrency != 8 {
				t.Fatalf("offer %+v %v", o, err)
			}
			res, err := m.f.Query.Offers(ctx, &types.QueryOffersRequest{DeploymentId: m.f.DeploymentID})
			if err != nil || len(res.Offers) != 3 {
				t.Fatalf("offers %v %v", res, err)
			}
		})
	}
	ctx := tk.Branch(m.ctx)
	_, err := m.f.Msg.RemoveOffer(ctx, &types.MsgRemoveOffer{Operator: m.addr(mktProvA), DeploymentId: m.f.DeploymentID})
	mktWantErr(t, err, nil)
	_, err = m.f.Msg.RemoveOffer(ctx, &types.MsgRemoveOffer{Operator: m.addr(mktProvA), DeploymentId: m.f.DeploymentID})
	mktWantErr(t, err, types.ErrOfferNotFound)
	res, err := m.f.Query.Offers(ctx, &types.QueryOffersRequest{DeploymentId: m.f.DeploymentID})
	if err != nil || len(res.Offers) != 2 {
		t.Fatalf("offers after removal %v %v", res, err)
	}
	// Without an offer a provider may not bid.
	id := m.createJob(ctx, mktRequester)
	mktWantErr(t, m.bid(ctx, mktProvA, id, 100), types.ErrOfferNotFound)
}

func TestProviderQueries(t *testing.T) {
	m := newMarket(t)
	ctx := tk.Branch(m.ctx)
	// Prices: A 900 → 300, B 900, C 900 → 100; B jailed.
	for _, o := range []struct {
		i     int
		price int64
	}{{mktProvA, 300}, {mktProvC, 100}} {
		if _, err := m.f.Msg.SetOffer(ctx, &types.MsgSetOffer{Operator: m.addr(o.i), DeploymentId: m.f.DeploymentID,
			ComputePricePerThousandTokens: mktCoin(o.price), MaxConcurrency: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.f.K.Jail(ctx, m.acc(mktProvB), "test"); err != nil {
		t.Fatal(err)
	}
	offers, err := m.f.Query.Offers(ctx, &types.QueryOffersRequest{DeploymentId: m.f.DeploymentID})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range offers.Offers {
		got = append(got, o.ComputePricePerThousandTokens.Amount.String())
	}
	if strings.Join(got, ",") != "100,300,900" {
		t.Fatalf("offers not cheapest first: %v", got)
	}
	active, err := m.f.Query.Offers(ctx, &types.QueryOffersRequest{DeploymentId: m.f.DeploymentID, ActiveOnly: true})
	if err != nil || len(active.Offers) != 2 {
		t.Fatalf("active offers %v %v", active, err)
	}
	page, err := m.f.Query.Offers(ctx, &types.QueryOffersRequest{DeploymentId: m.f.DeploymentID, Pagination: &query.PageRequest{Limit: 1, CountTotal: true}})
	if err != nil || len(page.Offers) != 1 || page.Offers[0].Operator != m.addr(mktProvC) || page.Pagination.NextKey == nil {
		t.Fatalf("first page %v %v", page, err)
	}
	none, err := m.f.Query.Offers(ctx, &types.QueryOffersRequest{DeploymentId: 999})
	if err != nil || len(none.Offers) != 0 {
		t.Fatalf("offers of another deployment %v %v", none, err)
	}

	all, err := m.f.Query.Providers(ctx, &types.QueryProvidersRequest{})
	if err != nil || len(all.Providers) != 3 {
		t.Fatalf("providers %v %v", all, err)
	}
	jailed, err := m.f.Query.Providers(ctx, &types.QueryProvidersRequest{Status: types.PROVIDER_STATUS_JAILED})
	if err != nil || len(jailed.Providers) != 1 || jailed.Providers[0].Operator != m.addr(mktProvB) {
		t.Fatalf("jailed providers %v %v", jailed, err)
	}
	act, err := m.f.Query.Providers(ctx, &types.QueryProvidersRequest{Status: types.PROVIDER_STATUS_ACTIVE, Pagination: &query.PageRequest{Limit: 1}})
	if err != nil || len(act.Providers) != 1 || act.Pagination.NextKey == nil {
		t.Fatalf("active page %v %v", act, err)
	}
	if _, err := m.f.Query.Provider(ctx, &types.QueryProviderRequest{Operator: m.addr(mktStranger)}); err == nil {
		t.Fatal("found a non-provider")
	}
	po, err := m.f.Query.ProviderOffers(ctx, &types.QueryProviderOffersRequest{Operator: m.addr(mktProvA)})
	if err != nil || len(po.Offers) != 1 {
		t.Fatalf("provider offers %v %v", po, err)
	}
}
