// Package keeper holds the rewards module's state: accrued credits, dataset-version
// pools with their reward-per-share accumulators, and settlement records.
package keeper

import (
	"context"
	"errors"
	"fmt"

	"cosmossdk.io/collections"
	collcodec "cosmossdk.io/collections/codec"
	"cosmossdk.io/core/address"
	storetypes "cosmossdk.io/core/store"
	sdkmath "cosmossdk.io/math"

	"github.com/cosmos/cosmos-sdk/codec"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/internal/fields"
	"github.com/openledger/openledger/x/rewards/types"
)

// AccrualKey is (recipient, source kind, source id).
type AccrualKey = collections.Triple[sdk.AccAddress, int32, uint64]

// Keeper owns the rewards store.
type Keeper struct {
	cdc          codec.BinaryCodec
	addressCodec address.Codec
	authority    string
	acct         types.AccountKeeper
	bank         types.BankKeeper
	distr        types.DistributionKeeper
	datanet      types.DatanetKeeper
	models       types.ModelsKeeper

	Schema collections.Schema
	Params collections.Item[types.Params]
	// Accruals: (recipient, kind, source id) → unclaimed amount (> 0).
	Accruals collections.Map[AccrualKey, sdkmath.Int]
	// Pools: (datanet id, version) → pool.
	Pools collections.Map[collections.Pair[uint64, uint64], types.VersionPool]
	// Cursors: (datanet id, version, contribution id) → reward_per_share at last collection.
	Cursors collections.Map[collections.Triple[uint64, uint64, uint64], sdkmath.Int]
	// Records: (payer module, settlement id) → record.
	Records collections.Map[collections.Pair[string, uint64], types.SettlementRecord]
	// PruneQueue: (prune height, payer module, settlement id).
	PruneQueue collections.KeySet[collections.Triple[int64, string, uint64]]
	// Dust is what no one can claim (pools of versions without bytes).
	Dust collections.Item[sdkmath.Int]
	// ClaimCursors: claimant → (next contribution id, next version) of its pool claims.
	ClaimCursors collections.Map[sdk.AccAddress, collections.Pair[uint64, uint64]]
	// DeploymentTotals: deployment id → settlement totals.
	DeploymentTotals collections.Map[uint64, types.DeploymentTotals]
	// DatanetTotals: datanet id → earnings totals.
	DatanetTotals collections.Map[uint64, types.DatanetTotals]
}

// NewKeeper builds the keeper. authority may update params (the governance module account).
func NewKeeper(
	cdc codec.BinaryCodec,
	storeService storetypes.KVStoreService,
	addressCodec address.Codec,
	authority string,
	ak types.AccountKeeper,
	bk types.BankKeeper,
	dk types.DistributionKeeper,
	nk types.DatanetKeeper,
	mk types.ModelsKeeper,
) Keeper {
	if _, err := addressCodec.StringToBytes(authority); err != nil {
		panic(fmt.Errorf("rewards: invalid authority address %q: %w", authority, err))
	}
	sb := collections.NewSchemaBuilder(storeService)
	k := Keeper{
		cdc: cdc, addressCodec: fields.FastAddressCodec(addressCodec), authority: authority,
		acct: ak, bank: bk, distr: dk, datanet: nk, models: mk,
		Params: collections.NewItem(sb, types.ParamsKey, "params", codec.CollValue[types.Params](cdc)),
		Accruals: collections.NewMap(sb, types.AccrualsKey, "accruals",
			collections.TripleKeyCodec(sdk.AccAddressKey, collections.Int32Key, collections.Uint64Key), sdk.IntValue),
		Pools: collections.NewMap(sb, types.PoolsKey, "pools",
			collections.PairKeyCodec(collections.Uint64Key, collections.Uint64Key), codec.CollValue[types.VersionPool](cdc)),
		Cursors: collections.NewMap(sb, types.CursorsKey, "cursors",
			collections.TripleKeyCodec(collections.Uint64Key, collections.Uint64Key, collections.Uint64Key), sdk.IntValue),
		Records: collections.NewMap(sb, types.RecordsKey, "records",
			collections.PairKeyCodec(collections.StringKey, collections.Uint64Key), codec.CollValue[types.SettlementRecord](cdc)),
		PruneQueue: collections.NewKeySet(sb, types.PruneQueueKey, "prune_queue",
			collections.TripleKeyCodec(collections.Int64Key, collections.StringKey, collections.Uint64Key)),
		Dust: collections.NewItem(sb, types.DustKey, "dust", sdk.IntValue),
		ClaimCursors: collections.NewMap(sb, types.ClaimCursorKey, "claim_cursors",
			sdk.AccAddressKey, collcodec.KeyToValueCodec(collections.PairKeyCodec(collections.Uint64Key, collections.Uint64Key))),
		DeploymentTotals: collections.NewMap(sb, types.DeploymentTotalsKey, "deployment_totals",
			collections.Uint64Key, codec.CollValue[types.DeploymentTotals](cdc)),
		DatanetTotals: collections.NewMap(sb, types.DatanetTotalsKey, "datanet_totals",
			collections.Uint64Key, codec.CollValue[types.DatanetTotals](cdc)),
	}
	schema, err := sb.Build()
	if err != nil {
		panic(err)
	}
	k.Schema = schema
	return k
}

// Authority returns the address allowed to update params.
func (k Keeper) Authority() string { return k.authority }

// ModuleAddress is the module account holding accrued and pooled rewards.
func (k Keeper) ModuleAddress() sdk.AccAddress { return k.acct.GetModuleAddress(types.ModuleName) }

func isNotFound(err error) bool { return errors.Is(err, collections.ErrNotFound) }

// dust returns the dust counter (zero when unset).
func (k Keeper) dust(ctx context.Context) (sdkmath.Int, error) {
	d, err := k.Dust.Get(ctx)
	if isNotFound(err) {
		return sdkmath.ZeroInt(), nil
	}
	return d, err
}

// accrue adds amt to a recipient's credit from a source.
func (k Keeper) accrue(ctx context.Context, to sdk.AccAddress, kind types.SourceKind, id uint64, amt sdkmath.Int) error {
	if !amt.IsPositive() {
		return nil
	}
	key := collections.Join3(to, int32(kind), id)
	cur, err := k.Accruals.Get(ctx, key)
	if isNotFound(err) {
		cur = sdkmath.ZeroInt()
	} else if err != nil {
		return err
	}
	return k.Accruals.Set(ctx, key, cur.Add(amt))
}

// parseAddress decodes a bech32 account address and names the field on failure.
func (k Keeper) parseAddress(field, s string) (sdk.AccAddress, error) {
	if s == "" {
		return nil, types.ErrInvalidAddress.Wrapf("%s: must not be empty", field)
	}
	bz, err := k.addressCodec.StringToBytes(s)
	if err != nil {
		return nil, types.ErrInvalidAddress.Wrapf("%s: %q: %v", field, s, err)
	}
	return bz, nil
}
