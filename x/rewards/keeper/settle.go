package keeper

import (
	"context"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	datanettypes "github.com/openledger/openledger/x/datanet/types"
	modelstypes "github.com/openledger/openledger/x/models/types"
	"github.com/openledger/openledger/x/rewards/types"
)

// Settle splits one payment that payerModule holds (ADR-003): the protocol fee to
// the community pool, compute to the provider, the royalty's developer share to
// the deployment owner, and its data share by the deployment's table and then by
// the summary (top-K credited directly, the rest into the dataset versions' pools).
// The work is O(K + table). Everything is validated before anything moves, and the
// moves run in a cache context written only on success: on error nothing changes.
func (k Keeper) Settle(ctx context.Context, payerModule string, settlementID uint64,
	provider sdk.AccAddress, compute, royalty sdk.Coin, deploymentID uint64,
	summary types.AttributionSummary,
) (types.SettlementRecord, error) {
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	params, err := k.Params.Get(ctx)
	if err != nil {
		return types.SettlementRecord{}, err
	}
	plan, err := k.plan(ctx, params, payerModule, settlementID, provider, compute, royalty, deploymentID, summary)
	if err != nil {
		return types.SettlementRecord{}, err
	}
	cache, write := sdkCtx.CacheContext()
	rec, err := k.apply(cache, params, plan)
	if err != nil {
		return types.SettlementRecord{}, err
	}
	write()
	return rec, nil
}

// plan is a validated settlement.
type plan struct {
	payer    string
	id       uint64
	provider sdk.AccAddress
	owner    sdk.AccAddress
	deployID uint64
	table    []modelstypes.DataShare
	summary  types.AttributionSummary
	contribs []sdk.AccAddress // contributor of summary.Top[i]
	shares   []uint64         // total shares of table[j]'s version (0 when its pool exists)
	split    Split
	total    sdkmath.Int
}

func (k Keeper) plan(ctx context.Context, params types.Params, payerModule string, settlementID uint64,
	provider sdk.AccAddress, compute, royalty sdk.Coin, deploymentID uint64, summary types.AttributionSummary,
) (plan, error) {
	switch {
	case payerModule == "":
		return plan{}, types.ErrInvalidAddress.Wrap("payer_module: must not be empty")
	case len(provider) == 0:
		return plan{}, types.ErrInvalidAddress.Wrap("provider: must not be empty")
	case compute.Denom != params.Denom || royalty.Denom != params.Denom:
		return plan{}, types.ErrInvalidAmount.Wrapf("compute %s and royalty %s must be in %s", compute, royalty, params.Denom)
	case compute.Amount.IsNil() || royalty.Amount.IsNil() || compute.IsNegative() || royalty.IsNegative():
		return plan{}, types.ErrInvalidAmount.Wrap("compute and royalty must be >= 0")
	case !compute.Amount.Add(royalty.Amount).IsPositive():
		return plan{}, types.ErrInvalidAmount.Wrap("compute + royalty must be positive")
	}
	if has, err := k.Records.Has(ctx, collections.Join(payerModule, settlementID)); err != nil {
		return plan{}, err
	} else if has {
		return plan{}, types.ErrDuplicateSettlement.Wrapf("payer %s settlement %d", payerModule, settlementID)
	}
	r, err := k.resolve(ctx, params, deploymentID, summary)
	if err != nil {
		return plan{}, err
	}
	return plan{
		payer: payerModule, id: settlementID, provider: provider, owner: r.owner, deployID: deploymentID,
		table: r.table, summary: summary, contribs: r.contribs, shares: r.shares,
		split: ComputeSplit(params.ProtocolFeeBps, compute.Amount, royalty.Amount, r.developerBps,
			r.table, summary, r.tableIdx, r.poolIdx),
		total: compute.Amount.Add(royalty.Amount),
	}, nil
}

// ValidateSettlement runs on a deployment and an attribution summary exactly the
// checks Settle runs on them (the deployment exists in any status, its owner, the
// summary against the params, the deployment's table and x/datanet's versions and
// contributions) and returns the same error Settle would; it moves no coins and
// writes nothing. x/inference calls it to refuse a bad receipt when it is submitted
// rather than when it is finalised. The payment itself (payer, provider, amounts,
// a settlement id not seen before) is Settle's to check.
func (k Keeper) ValidateSettlement(ctx context.Context, deploymentID uint64, summary types.AttributionSummary) error {
	params, err := k.Params.Get(ctx)
	if err != nil {
		return err
	}
	_, err = k.resolve(ctx, params, deploymentID, summary)
	return err
}

// resolved is a deployment and a summary validated against each other.
type resolved struct {
	owner        sdk.AccAddress
	developerBps uint32
	table        []modelstypes.DataShare
	tableIdx     []int            // table index of summary.Top[i]
	poolIdx      []int            // table index of summary.Pools[i]
	contribs     []sdk.AccAddress // contributor of summary.Top[i]
	shares       []uint64         // total shares of table[j]'s version (0 when its pool exists)
}

// resolve loads the deployment (any status: settlement pays work already done),
// validates the summary against it and reads the shares of the versions whose pools
// do not exist yet. Read-only; O(K + pools + table).
func (k Keeper) resolve(ctx context.Context, params types.Params, deploymentID uint64, summary types.AttributionSummary) (resolved, error) {
	dep, err := k.models.GetDeploymentForSettlement(ctx, deploymentID)
	if err != nil {
		return resolved{}, err
	}
	owner, err := k.addressCodec.StringToBytes(dep.Deployment.Owner)
	if err != nil {
		return resolved{}, types.ErrInvalidAddress.Wrapf("deployment %d owner: %v", deploymentID, err)
	}
	table := dep.DataShares
	tableIdx, poolIdx, contribs, err := k.validateSummary(ctx, params, table, summary)
	if err != nil {
		return resolved{}, err
	}
	shares := make([]uint64, len(table))
	for j, e := range table {
		if has, err := k.Pools.Has(ctx, collections.Join(e.DatanetId, e.Version)); err != nil {
			return resolved{}, err
		} else if has {
			continue // the pool fixed its shares when it was created
		}
		v, err := k.datanet.GetDatasetVersion(ctx, e.DatanetId, e.Version)
		if err != nil {
			return resolved{}, types.ErrVersionNotInDeployment.Wrapf("table entry (%d, %d): %v", e.DatanetId, e.Version, err)
		}
		shares[j] = v.TotalShares // Σ of its contributions' capped shares (x/datanet, fixed at freeze)
	}
	return resolved{
		owner: owner, developerBps: dep.Deployment.DeveloperBps, table: table,
		tableIdx: tableIdx, poolIdx: poolIdx, contribs: contribs, shares: shares,
	}, nil
}

type versionKey struct{ datanet, version uint64 }

type contribKey struct{ datanet, version, id uint64 }

// validateSummary checks a summary against the params and the deployment's table and
// resolves each entry's table index and each top contribution's contributor.
func (k Keeper) validateSummary(ctx context.Context, params types.Params, table []modelstypes.DataShare,
	s types.AttributionSummary,
) (tableIdx, poolIdx []int, contribs []sdk.AccAddress, err error) {
	if len(s.Top)+len(s.Pools) == 0 {
		// No attribution (say, a session increment that pays only requests its
		// voucher does not name): every version's data share goes to its pool.
		return nil, nil, nil, nil
	}
	if uint32(len(s.Top)) > params.MaxTopK {
		return nil, nil, nil, types.ErrTooManyContributions.Wrapf("top: %d entries, max_top_k %d", len(s.Top), params.MaxTopK)
	}
	if uint32(len(s.Pools)) > params.MaxPools {
		return nil, nil, nil, types.ErrInvalidSummary.Wrapf("pools: %d entries, max_pools %d", len(s.Pools), params.MaxPools)
	}
	index := make(map[versionKey]int, len(table))
	for j, e := range table {
		index[versionKey{e.DatanetId, e.Version}] = j
	}
	var ppm uint64
	versions := make([]*datanettypes.DatasetVersion, len(table)) // read once per table entry
	seenTop := make(map[contribKey]bool, len(s.Top))
	tableIdx = make([]int, len(s.Top))
	contribs = make([]sdk.AccAddress, len(s.Top))
	for i, t := range s.Top {
		if t.Ppm == 0 {
			return nil, nil, nil, types.ErrInvalidSummary.Wrapf("top[%d]: ppm must be positive", i)
		}
		ck := contribKey{t.DatanetId, t.Version, t.ContributionId}
		if seenTop[ck] {
			return nil, nil, nil, types.ErrDuplicateEntry.Wrapf("top[%d]: contribution %d of (%d, %d)", i, t.ContributionId, t.DatanetId, t.Version)
		}
		seenTop[ck] = true
		j, ok := index[versionKey{t.DatanetId, t.Version}]
		if !ok {
			return nil, nil, nil, types.ErrVersionNotInDeployment.Wrapf("top[%d]: (%d, %d)", i, t.DatanetId, t.Version)
		}
		tableIdx[i] = j
		if versions[j] == nil {
			v, err := k.datanet.GetDatasetVersion(ctx, t.DatanetId, t.Version)
			if err != nil {
				return nil, nil, nil, types.ErrContributionNotInVersion.Wrapf("top[%d]: %v", i, err)
			}
			versions[j] = &v
		}
		c, in, err := k.datanet.ContributionInVersion(ctx, *versions[j], t.ContributionId)
		if err != nil || !in {
			return nil, nil, nil, types.ErrContributionNotInVersion.Wrapf("top[%d]: contribution %d in (%d, %d)", i, t.ContributionId, t.DatanetId, t.Version)
		}
		if contribs[i], err = k.addressCodec.StringToBytes(c.Contributor); err != nil {
			return nil, nil, nil, types.ErrInvalidAddress.Wrapf("top[%d]: contributor: %v", i, err)
		}
		ppm += uint64(t.Ppm)
	}
	seenPool := make(map[versionKey]bool, len(s.Pools))
	poolIdx = make([]int, len(s.Pools))
	for i, p := range s.Pools {
		vk := versionKey{p.DatanetId, p.Version}
		if p.Ppm == 0 {
			return nil, nil, nil, types.ErrInvalidSummary.Wrapf("pools[%d]: ppm must be positive", i)
		}
		if seenPool[vk] {
			return nil, nil, nil, types.ErrDuplicateEntry.Wrapf("pools[%d]: (%d, %d)", i, p.DatanetId, p.Version)
		}
		seenPool[vk] = true
		j, ok := index[vk]
		if !ok {
			return nil, nil, nil, types.ErrVersionNotInDeployment.Wrapf("pools[%d]: (%d, %d)", i, p.DatanetId, p.Version)
		}
		poolIdx[i] = j
		ppm += uint64(p.Ppm)
	}
	if ppm != types.PpmScale {
		return nil, nil, nil, types.ErrWeightsSum.Wrapf("sum %d", ppm)
	}
	return tableIdx, poolIdx, contribs, nil
}

// apply moves the coins and books the credits of a validated plan.
func (k Keeper) apply(ctx sdk.Context, params types.Params, p plan) (types.SettlementRecord, error) {
	coin := func(a sdkmath.Int) sdk.Coin { return sdk.NewCoin(params.Denom, a) }
	if err := k.bank.SendCoinsFromModuleToModule(ctx, p.payer, types.ModuleName, sdk.NewCoins(coin(p.total))); err != nil {
		return types.SettlementRecord{}, err
	}
	s := p.split
	if s.Fee.IsPositive() {
		if err := k.distr.FundCommunityPool(ctx, sdk.NewCoins(coin(s.Fee)), k.ModuleAddress()); err != nil {
			return types.SettlementRecord{}, err
		}
	}
	if s.Compute.IsPositive() {
		if err := k.bank.SendCoinsFromModuleToAccount(ctx, types.ModuleName, p.provider, sdk.NewCoins(coin(s.Compute))); err != nil {
			return types.SettlementRecord{}, err
		}
	}
	if err := k.accrue(ctx, p.owner, types.SOURCE_KIND_DEPLOYMENT, p.deployID, s.Developer); err != nil {
		return types.SettlementRecord{}, err
	}
	for i, t := range p.summary.Top {
		if err := k.accrue(ctx, p.contribs[i], types.SOURCE_KIND_CONTRIBUTION, t.ContributionId, s.Top[i]); err != nil {
			return types.SettlementRecord{}, err
		}
	}
	for j, e := range p.table {
		if err := k.deposit(ctx, e.DatanetId, e.Version, p.shares[j], s.Pools[j]); err != nil {
			return types.SettlementRecord{}, err
		}
	}
	if err := k.addTotals(ctx, p); err != nil {
		return types.SettlementRecord{}, err
	}
	rec := types.SettlementRecord{
		SettlementId: p.id, PayerModule: p.payer, Height: ctx.BlockHeight(), DeploymentId: p.deployID,
		ProtocolFee: coin(s.Fee), Compute: coin(s.Compute),
		Developer: coin(s.Developer), Direct: coin(s.Direct()), Pooled: coin(s.Pooled()), Summary: p.summary,
	}
	if rec.Provider, _ = k.addressCodec.BytesToString(p.provider); rec.Provider == "" {
		return types.SettlementRecord{}, types.ErrInvalidAddress.Wrap("provider")
	}
	if err := k.Records.Set(ctx, collections.Join(p.payer, p.id), rec); err != nil {
		return types.SettlementRecord{}, err
	}
	pruneAt := ctx.BlockHeight() + int64(params.RecordRetentionBlocks)
	if err := k.PruneQueue.Set(ctx, collections.Join3(pruneAt, p.payer, p.id)); err != nil {
		return types.SettlementRecord{}, err
	}
	return rec, ctx.EventManager().EmitTypedEvent(&types.EventSettled{
		PayerModule: p.payer, SettlementId: p.id, DeploymentId: p.deployID,
		ProtocolFee: rec.ProtocolFee, Compute: rec.Compute, Developer: rec.Developer, Direct: rec.Direct, Pooled: rec.Pooled,
	})
}

// addTotals adds a settlement to its deployment's and datanets' totals (O(K + table)).
func (k Keeper) addTotals(ctx context.Context, p plan) error {
	s := p.split
	dt, err := k.DeploymentTotals.Get(ctx, p.deployID)
	if isNotFound(err) {
		dt = types.DeploymentTotals{DeploymentId: p.deployID, Paid: sdkmath.ZeroInt(), Developer: sdkmath.ZeroInt(), Data: sdkmath.ZeroInt()}
	} else if err != nil {
		return err
	}
	dt.Settlements++
	dt.Paid = dt.Paid.Add(p.total)
	dt.Developer = dt.Developer.Add(s.Developer)
	dt.Data = dt.Data.Add(s.Direct()).Add(s.Pooled())
	if err := k.DeploymentTotals.Set(ctx, p.deployID, dt); err != nil {
		return err
	}
	add := func(datanetID uint64, direct, pooled sdkmath.Int) error {
		if !direct.IsPositive() && !pooled.IsPositive() {
			return nil
		}
		t, err := k.DatanetTotals.Get(ctx, datanetID)
		if isNotFound(err) {
			t = types.DatanetTotals{DatanetId: datanetID, Direct: sdkmath.ZeroInt(), Pooled: sdkmath.ZeroInt()}
		} else if err != nil {
			return err
		}
		t.Direct, t.Pooled = t.Direct.Add(direct), t.Pooled.Add(pooled)
		return k.DatanetTotals.Set(ctx, datanetID, t)
	}
	for i, t := range p.summary.Top {
		if err := add(t.DatanetId, s.Top[i], sdkmath.ZeroInt()); err != nil {
			return err
		}
	}
	for j, e := range p.table {
		if err := add(e.DatanetId, sdkmath.ZeroInt(), s.Pools[j]); err != nil {
			return err
		}
	}
	return nil
}
