package keeper

import (
	"context"
	"net/url"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"
	"github.com/cosmos/gogoproto/proto"
	"github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/inference/types"
	"github.com/openledger/openledger/x/internal/fields"
)

// Reasons named in EventProviderStatusChanged and EventStakeChanged.
const (
	reasonRegistered         = "registered"
	reasonAddStake           = "add"
	reasonUnbond             = "unbond"
	reasonUnbondingCompleted = "unbonding_completed"
	reasonSlash              = "slash"
	reasonUnjail             = "unjail"
	reasonBelowMinStake      = "below_min_stake"
)

// marketEmit emits typed events on ctx's event manager.
func marketEmit(ctx context.Context, events ...proto.Message) error {
	em := sdk.UnwrapSDKContext(ctx).EventManager()
	for _, ev := range events {
		if err := em.EmitTypedEvent(ev); err != nil {
			return err
		}
	}
	return nil
}

// marketZero is a zero amount of denom (never a nil Int in state).
func marketZero(denom string) sdk.Coin { return sdk.NewCoin(denom, sdkmath.ZeroInt()) }

// checkMarketPrice checks a price per 1,000 tokens: in denom, ≥ 0 and at most
// MaxPriceDigits decimal digits.
func checkMarketPrice(field string, c sdk.Coin, denom string) error {
	if c.Denom != denom {
		return types.ErrInvalidAmount.Wrapf("%s: denom %q, want %q", field, c.Denom, denom)
	}
	if c.Amount.IsNil() || c.Amount.IsNegative() {
		return types.ErrInvalidAmount.Wrapf("%s: must be >= 0", field)
	}
	if n := len(c.Amount.String()); n > types.MaxPriceDigits {
		return types.ErrInvalidAmount.Wrapf("%s: %d digits exceeds %d", field, n, types.MaxPriceDigits)
	}
	return nil
}

// meetsMinStake reports whether stake is at least params.min_provider_stake (same denom).
func meetsMinStake(stake sdk.Coin, params types.Params) bool {
	return stake.Denom == params.MinProviderStake.Denom && !stake.Amount.IsNil() &&
		stake.Amount.GTE(params.MinProviderStake.Amount)
}

// normalizePeerID decodes a libp2p peer id that must inline an Ed25519 public key
// and returns its canonical (base58) string, so that one key has one spelling.
func normalizePeerID(s string) (string, error) {
	if s == "" || len(s) > types.MaxPeerIDLength {
		return "", types.ErrInvalidPeerID.Wrapf("peer_id: must be 1..%d characters", types.MaxPeerIDLength)
	}
	id, err := peer.Decode(s)
	if err != nil {
		return "", types.ErrInvalidPeerID.Wrapf("peer_id %q: %v", s, err)
	}
	pub, err := id.ExtractPublicKey()
	if err != nil {
		return "", types.ErrInvalidPeerID.Wrapf("peer_id %q: no inlined public key: %v", s, err)
	}
	if pub.Type() != pb.KeyType_Ed25519 {
		return "", types.ErrInvalidPeerID.Wrapf("peer_id %q: %s key, want Ed25519", s, pub.Type())
	}
	return id.String(), nil
}

// providerFields are the descriptive fields of a provider, validated and normalised.
type providerFields struct {
	multiaddrs []string
	apiURL     string
	hardware   types.Hardware
	engines    []string
	moniker    string
}

// checkProviderFields validates the descriptive fields shared by MsgRegisterProvider
// and MsgUpdateProvider. Multiaddrs are stored in their canonical string form.
func checkProviderFields(params types.Params, multiaddrs []string, apiURL string, hw types.Hardware,
	engines []string, moniker string,
) (providerFields, error) {
	if n := len(multiaddrs); n == 0 || n > int(params.MaxMultiaddrs) {
		return providerFields{}, types.ErrInvalidField.Wrapf("multiaddrs: %d given, want 1..%d", n, params.MaxMultiaddrs)
	}
	out := providerFields{multiaddrs: make([]string, 0, len(multiaddrs))}
	seen := make(map[string]bool, len(multiaddrs))
	for i, s := range multiaddrs {
		if s == "" || len(s) > types.MaxMultiaddrLength {
			return providerFields{}, types.ErrInvalidField.Wrapf("multiaddrs[%d]: must be 1..%d characters", i, types.MaxMultiaddrLength)
		}
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return providerFields{}, types.ErrInvalidField.Wrapf("multiaddrs[%d] %q: %v", i, s, err)
		}
		c := m.String()
		if len(c) > types.MaxMultiaddrLength {
			return providerFields{}, types.ErrInvalidField.Wrapf("multiaddrs[%d]: canonical form exceeds %d characters", i, types.MaxMultiaddrLength)
		}
		if seen[c] {
			return providerFields{}, types.ErrInvalidField.Wrapf("multiaddrs[%d]: duplicate %s", i, c)
		}
		seen[c] = true
		out.multiaddrs = append(out.multiaddrs, c)
	}
	if apiURL != "" {
		if err := checkAPIURL(apiURL); err != nil {
			return providerFields{}, err
		}
	}
	out.apiURL = apiURL
	if n := len(engines); n == 0 || n > int(params.MaxEngines) {
		return providerFields{}, types.ErrInvalidField.Wrapf("engines: %d given, want 1..%d", n, params.MaxEngines)
	}
	seenEngine := make(map[string]bool, len(engines))
	for i, e := range engines {
		if err := fields.CheckToken(types.ErrInvalidField, "engines", e, types.MaxNameLength); err != nil {
			return providerFields{}, types.ErrInvalidField.Wrapf("engines[%d]: %v", i, err)
		}
		if seenEngine[e] {
			return providerFields{}, types.ErrInvalidField.Wrapf("engines[%d]: duplicate %q", i, e)
		}
		seenEngine[e] = true
	}
	out.engines = append([]string(nil), engines...)
	if err := fields.CheckToken(types.ErrInvalidField, "hardware.accelerator", hw.Accelerator, types.MaxNameLength); err != nil {
		return providerFields{}, err
	}
	if hw.Count == 0 {
		return providerFields{}, types.ErrInvalidField.Wrap("hardware.count: must be >= 1")
	}
	out.hardware = hw
	if err := fields.CheckText(types.ErrInvalidField, "moniker", moniker, types.MaxMonikerLength, false); err != nil {
		return providerFields{}, err
	}
	out.moniker = moniker
	return out, nil
}

// checkAPIURL accepts an absolute http or https URL with a host and no credentials.
func checkAPIURL(s string) error {
	if len(s) > types.MaxURLLength {
		return types.ErrInvalidField.Wrapf("api_url: %d bytes exceeds %d", len(s), types.MaxURLLength)
	}
	if err := fields.CheckText(types.ErrInvalidField, "api_url", s, types.MaxURLLength, true); err != nil {
		return err
	}
	u, err := url.Parse(s)
	if err != nil {
		return types.ErrInvalidField.Wrapf("api_url: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return types.ErrInvalidField.Wrapf("api_url: scheme %q, want http or https", u.Scheme)
	}
	if u.Host == "" || u.Opaque != "" {
		return types.ErrInvalidField.Wrap("api_url: must be an absolute URL with a host")
	}
	if u.User != nil {
		return types.ErrInvalidField.Wrap("api_url: must not carry credentials")
	}
	return nil
}

// putProvider stores p (old is its stored value) and emits
// EventProviderStatusChanged when the status changed.
func (k Keeper) putProvider(ctx context.Context, op sdk.AccAddress, old types.Provider, p types.Provider, reason string) error {
	if err := k.setProvider(ctx, op, &old, p); err != nil {
		return err
	}
	if old.Status == p.Status {
		return nil
	}
	return marketEmit(ctx, &types.EventProviderStatusChanged{Operator: p.Operator, From: old.Status, To: p.Status, Reason: reason})
}

// stakeChanged is the EventStakeChanged of p.
func stakeChanged(p types.Provider, reason string) *types.EventStakeChanged {
	return &types.EventStakeChanged{
		Operator: p.Operator, Stake: p.Stake, Unbonding: sdk.NewCoin(p.Stake.Denom, p.Unbonding), Reason: reason,
	}
}

// unbondingCount counts a provider's unbonding entries (at most
// max_unbonding_entries ≤ 32, so the walk is bounded).
func (k Keeper) unbondingCount(ctx context.Context, op sdk.AccAddress) (int, error) {
	n := 0
	rng := collections.NewPrefixedPairRange[sdk.AccAddress, uint64](op)
	err := k.Unbondings.Walk(ctx, rng, func(UnbondingKey, types.UnbondingEntry) (bool, error) {
		n++
		return false, nil
	})
	return n, err
}

// Slash takes floor((stake + unbonding) × bps / 10,000) from a provider, from the
// bonded stake first and then from its unbonding entries in id order (emptied
// entries are deleted with their queue keys), and sends it to the community pool.
// An ACTIVE provider left below the minimum stake becomes UNBONDED. It returns the
// amount slashed (zero when there is nothing to take). Used by missed deadlines and
// by verification's absence and wrong-vote slashes.
func (k Keeper) Slash(ctx context.Context, operator sdk.AccAddress, bps uint32, reason string, jobID uint64) (sdk.Coin, error) {
	slashed, err := k.slashStake(ctx, operator, bps, reason, jobID)
	if err != nil || !slashed.IsPositive() {
		return slashed, err
	}
	return slashed, k.distr.FundCommunityPool(ctx, sdk.NewCoins(slashed), k.ModuleAddress())
}

// slashStake is Slash without the transfer: the amount leaves the provider's books
// but stays in the module account, and the caller must pay all of it out in the same
// state transition (verification shares a fraud slash with the challenger and the
// voters).
func (k Keeper) slashStake(ctx context.Context, operator sdk.AccAddress, bps uint32, reason string, jobID uint64) (sdk.Coin, error) {
	if bps > types.BpsScale {
		return sdk.Coin{}, types.ErrInvalidParams.Wrapf("slash bps %d exceeds %d", bps, types.BpsScale)
	}
	p, err := k.GetProvider(ctx, operator)
	if err != nil {
		return sdk.Coin{}, err
	}
	denom := p.Stake.Denom
	total := p.Stake.Amount.Add(p.Unbonding)
	amount := total.MulRaw(int64(bps)).QuoRaw(types.BpsScale)
	if !amount.IsPositive() {
		return marketZero(denom), nil
	}
	old := p
	fromStake := sdkmath.MinInt(amount, p.Stake.Amount)
	p.Stake = sdk.NewCoin(denom, p.Stake.Amount.Sub(fromStake))
	rest := amount.Sub(fromStake)
	if rest.IsPositive() {
		type change struct {
			key   UnbondingKey
			entry types.UnbondingEntry
		}
		var changes []change
		rng := collections.NewPrefixedPairRange[sdk.AccAddress, uint64](operator)
		err := k.Unbondings.Walk(ctx, rng, func(key UnbondingKey, u types.UnbondingEntry) (bool, error) {
			take := sdkmath.MinInt(rest, u.Amount.Amount)
			u.Amount = sdk.NewCoin(u.Amount.Denom, u.Amount.Amount.Sub(take))
			rest = rest.Sub(take)
			changes = append(changes, change{key, u})
			return !rest.IsPositive(), nil
		})
		if err != nil {
			return sdk.Coin{}, err
		}
		for _, c := range changes {
			if c.entry.Amount.IsPositive() {
				if err := k.Unbondings.Set(ctx, c.key, c.entry); err != nil {
					return sdk.Coin{}, err
				}
				continue
			}
			if err := k.Unbondings.Remove(ctx, c.key); err != nil {
				return sdk.Coin{}, err
			}
			if err := k.UnbondingQueue.Remove(ctx, collections.Join3(c.entry.CompletionHeight, operator, c.entry.Id)); err != nil {
				return sdk.Coin{}, err
			}
		}
		// rest is zero here: amount ≤ stake + Σ entries (StakeInvariant).
		amount = amount.Sub(rest)
		p.Unbonding = p.Unbonding.Sub(amount.Sub(fromStake))
	}
	slashed := sdk.NewCoin(denom, amount)
	p.SlashedTotal = p.SlashedTotal.Add(amount)
	params, err := k.Params.Get(ctx)
	if err != nil {
		return sdk.Coin{}, err
	}
	if p.Status == types.PROVIDER_STATUS_ACTIVE && !meetsMinStake(p.Stake, params) {
		p.Status = types.PROVIDER_STATUS_UNBONDED
	}
	if err := k.putProvider(ctx, operator, old, p, reasonBelowMinStake); err != nil {
		return sdk.Coin{}, err
	}
	return slashed, marketEmit(ctx,
		&types.EventProviderSlashed{Operator: p.Operator, Amount: slashed, Reason: reason, JobId: jobID},
		stakeChanged(p, reasonSlash))
}

// Jail puts a provider in JAILED until the current height + params.jail_blocks (a
// jailed provider's term is extended, never shortened). It may not bid until it
// unjails.
func (k Keeper) Jail(ctx context.Context, operator sdk.AccAddress, reason string) error {
	params, err := k.Params.Get(ctx)
	if err != nil {
		return err
	}
	p, err := k.GetProvider(ctx, operator)
	if err != nil {
		return err
	}
	old := p
	p.Status = types.PROVIDER_STATUS_JAILED
	if until := height(ctx) + int64(params.JailBlocks); until > p.JailedUntil {
		p.JailedUntil = until
	}
	return k.putProvider(ctx, operator, old, p, reason)
}
