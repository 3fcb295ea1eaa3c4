package keeper

import (
	"context"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	datanettypes "github.com/openledger/openledger/x/datanet/types"
	"github.com/openledger/openledger/x/rewards/types"
)

type msgServer struct {
	Keeper
}

var _ types.MsgServer = msgServer{}

// NewMsgServerImpl returns the module's Msg service. Every handler validates every
// field itself and returns a registered error naming the field; a failing msg
// changes nothing.
func NewMsgServerImpl(k Keeper) types.MsgServer {
	return msgServer{Keeper: k}
}

// UpdateParams replaces the params (governance authority only) and emits
// EventParamsUpdated.
func (m msgServer) UpdateParams(ctx context.Context, msg *types.MsgUpdateParams) (*types.MsgUpdateParamsResponse, error) {
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	if err := sdk.ValidateAuthority(sdkCtx, m.authority, msg.Authority); err != nil {
		return nil, err
	}
	if err := msg.Params.Validate(); err != nil {
		return nil, err
	}
	if err := m.Params.Set(ctx, msg.Params); err != nil {
		return nil, err
	}
	if err := sdkCtx.EventManager().EmitTypedEvent(&types.EventParamsUpdated{Authority: msg.Authority, Params: msg.Params}); err != nil {
		return nil, err
	}
	return &types.MsgUpdateParamsResponse{}, nil
}

// ClaimRewards pays, in one transfer, the claimant's direct and developer credits
// and its contributions' pool earnings, visiting at most max_items sources. When the
// budget runs out the pool walk's position is stored and the next claim resumes it.
func (m msgServer) ClaimRewards(ctx context.Context, msg *types.MsgClaimRewards) (*types.MsgClaimRewardsResponse, error) {
	claimant, err := m.parseAddress("claimant", msg.Claimant)
	if err != nil {
		return nil, err
	}
	if msg.Version != 0 && msg.DatanetId == 0 {
		return nil, types.ErrInvalidFilter.Wrap("version: needs datanet_id")
	}
	params, err := m.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	budget := params.MaxClaimItems
	if msg.MaxItems != 0 && msg.MaxItems < budget {
		budget = msg.MaxItems
	}
	c := claim{k: m.Keeper, who: claimant, datanet: msg.DatanetId, version: msg.Version, budget: budget, total: sdkmath.ZeroInt()}
	if err := c.accruals(ctx); err != nil {
		return nil, err
	}
	if !c.more {
		if err := c.pools(ctx); err != nil {
			return nil, err
		}
	}
	// A claim that finished its walk must reach min_claim; one cut short by its
	// budget keeps its progress (and pays what it found) so that the next resumes.
	if !c.more && (c.total.IsZero() || c.total.LT(params.MinClaim)) {
		return nil, types.ErrBelowMinClaim.Wrapf("claimable %s%s, min_claim %s", c.total, params.Denom, params.MinClaim)
	}
	amt := sdk.NewCoin(params.Denom, c.total)
	if amt.IsPositive() {
		if err := m.bank.SendCoinsFromModuleToAccount(ctx, types.ModuleName, claimant, sdk.NewCoins(amt)); err != nil {
			return nil, err
		}
	}
	if err := sdk.UnwrapSDKContext(ctx).EventManager().EmitTypedEvent(&types.EventRewardsClaimed{
		Claimant: msg.Claimant, Amount: amt, Items: c.items,
	}); err != nil {
		return nil, err
	}
	return &types.MsgClaimRewardsResponse{Amount: amt, More: c.more}, nil
}

// claim is one bounded claim in progress.
type claim struct {
	k                Keeper
	who              sdk.AccAddress
	datanet, version uint64
	budget, items    uint32
	total            sdkmath.Int
	more             bool
}

// accruals takes the claimant's direct and developer credits that pass the filter.
func (c *claim) accruals(ctx context.Context) error {
	it, err := c.k.Accruals.Iterate(ctx, collections.NewPrefixedTripleRange[sdk.AccAddress, int32, uint64](c.who))
	if err != nil {
		return err
	}
	type item struct {
		key AccrualKey
		amt sdkmath.Int
	}
	var take []item
	for ; it.Valid(); it.Next() {
		if c.items == c.budget {
			c.more = true
			break
		}
		kv, err := it.KeyValue()
		if err != nil {
			it.Close()
			return err
		}
		c.items++
		if ok, err := c.passes(ctx, kv.Key); err != nil {
			it.Close()
			return err
		} else if ok {
			take = append(take, item{kv.Key, kv.Value})
		}
	}
	it.Close()
	for _, t := range take {
		if err := c.k.Accruals.Remove(ctx, t.key); err != nil {
			return err
		}
		c.total = c.total.Add(t.amt)
	}
	return nil
}

// passes applies the datanet / version filter to an accrual.
func (c *claim) passes(ctx context.Context, key AccrualKey) (bool, error) {
	if c.datanet == 0 {
		return true, nil
	}
	if types.SourceKind(key.K2()) != types.SOURCE_KIND_CONTRIBUTION {
		return false, nil
	}
	con, err := c.k.datanet.GetContribution(ctx, key.K3())
	if err != nil || con.DatanetId != c.datanet {
		return false, err
	}
	if c.version == 0 {
		return true, nil
	}
	v, err := c.k.datanet.GetDatasetVersion(ctx, c.datanet, c.version)
	if err != nil {
		return false, nil //nolint:nilerr // a missing version filters everything out
	}
	_, in, err := c.k.datanet.ContributionInVersion(ctx, v, con.Id)
	return in, err
}

// pools collects the pool earnings of the claimant's contributions, from its stored
// position: each (contribution, pool) visited is one item.
func (c *claim) pools(ctx context.Context) error {
	pos, err := c.k.ClaimCursors.Get(ctx, c.who)
	if isNotFound(err) {
		pos = collections.Join(uint64(0), uint64(0))
	} else if err != nil {
		return err
	}
	startID, startVer := pos.K1(), pos.K2()
	for c.items < c.budget {
		ids, err := c.k.datanet.ContributionIDsOf(ctx, c.who, startID, int(c.budget-c.items))
		if err != nil {
			return err
		}
		if len(ids) == 0 { // walked everything: the next claim starts over
			return c.k.ClaimCursors.Remove(ctx, c.who)
		}
		for _, id := range ids {
			from := uint64(0)
			if id == startID {
				from = startVer
			}
			next, done, err := c.contribution(ctx, id, from)
			if err != nil {
				return err
			}
			if !done {
				c.more = true
				return c.k.ClaimCursors.Set(ctx, c.who, collections.Join(id, next))
			}
		}
		startID, startVer = ids[len(ids)-1]+1, 0
	}
	if startVer == 0 { // out of budget between contributions: is anything left?
		ids, err := c.k.datanet.ContributionIDsOf(ctx, c.who, startID, 1)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return c.k.ClaimCursors.Remove(ctx, c.who)
		}
	}
	c.more = true
	return c.k.ClaimCursors.Set(ctx, c.who, collections.Join(startID, startVer))
}

// contribution collects one contribution's pools from version from on; it returns
// the version to resume at and whether it finished.
func (c *claim) contribution(ctx context.Context, id, from uint64) (uint64, bool, error) {
	if c.items == c.budget {
		return from, false, nil
	}
	con, err := c.k.datanet.GetContribution(ctx, id)
	if err != nil {
		return 0, false, err
	}
	if con.Status != datanettypes.CONTRIBUTION_STATUS_ACCEPTED || (c.datanet != 0 && con.DatanetId != c.datanet) {
		c.items++ // a skipped contribution costs one item; a collected one costs its pools
		return 0, true, nil
	}
	rng := collections.NewPrefixedPairRange[uint64, uint64](con.DatanetId).StartInclusive(from)
	if c.version != 0 {
		if c.version < from {
			return 0, true, nil
		}
		rng = collections.NewPrefixedPairRange[uint64, uint64](con.DatanetId).StartInclusive(c.version).EndInclusive(c.version)
	}
	// Read the versions first (at most the remaining budget), then write.
	it, err := c.k.Pools.Iterate(ctx, rng)
	if err != nil {
		return 0, false, err
	}
	var versions []uint64
	left := int(c.budget - c.items)
	finished := true
	for ; it.Valid(); it.Next() {
		if len(versions) == left {
			finished = false
			break
		}
		key, err := it.Key()
		if err != nil {
			it.Close()
			return 0, false, err
		}
		versions = append(versions, key.K2())
	}
	it.Close()
	if finished && len(versions) == 0 {
		c.items++ // a contribution without pools still costs one item: the walk stays bounded
	}
	for _, ver := range versions {
		c.items++
		v, err := c.k.datanet.GetDatasetVersion(ctx, con.DatanetId, ver)
		if err != nil {
			return 0, false, err
		}
		if _, in, err := c.k.datanet.ContributionInVersion(ctx, v, id); err != nil {
			return 0, false, err
		} else if !in {
			continue
		}
		amt, err := c.k.collect(ctx, con.DatanetId, ver, id, con.Shares)
		if err != nil {
			return 0, false, err
		}
		c.total = c.total.Add(amt)
	}
	if !finished {
		if len(versions) == 0 {
			return from, false, nil
		}
		return versions[len(versions)-1] + 1, false, nil
	}
	return 0, true, nil
}
