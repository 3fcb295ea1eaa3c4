// Package keeper holds the datanet module's state and its state transitions.
package keeper

import (
	"context"
	"fmt"

	"cosmossdk.io/collections"
	"cosmossdk.io/core/address"
	storetypes "cosmossdk.io/core/store"

	"github.com/cosmos/cosmos-sdk/codec"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/bech32"

	"github.com/openledger/openledger/x/datanet/types"
	"github.com/openledger/openledger/x/internal/fields"
)

// DatanetIndexes index datanets by owner and by status.
type DatanetIndexes struct {
	Owner  stableMulti[sdk.AccAddress, types.Datanet]
	Status stableMulti[int32, types.Datanet]
}

// IndexesList implements collections.Indexes.
func (i DatanetIndexes) IndexesList() []collections.Index[uint64, types.Datanet] {
	return []collections.Index[uint64, types.Datanet]{i.Owner, i.Status}
}

// ContributionIndexes index contributions by datanet, contributor and status.
type ContributionIndexes struct {
	Datanet     stableMulti[uint64, types.Contribution]
	Contributor stableMulti[sdk.AccAddress, types.Contribution]
	Status      stableMulti[int32, types.Contribution]
}

// IndexesList implements collections.Indexes.
func (i ContributionIndexes) IndexesList() []collections.Index[uint64, types.Contribution] {
	return []collections.Index[uint64, types.Contribution]{i.Datanet, i.Contributor, i.Status}
}

// Keeper owns the datanet store.
type Keeper struct {
	cdc          codec.BinaryCodec
	addressCodec address.Codec
	authority    string

	bank  types.BankKeeper
	acct  types.AccountKeeper
	distr types.DistributionKeeper

	Schema          collections.Schema
	Params          collections.Item[types.Params]
	DatanetSeq      collections.Sequence
	ContributionSeq collections.Sequence
	Datanets        *indexedMap[types.Datanet, DatanetIndexes]
	Contributions   *indexedMap[types.Contribution, ContributionIndexes]
	// Reviews: (contribution id, curator) → review.
	Reviews collections.Map[collections.Pair[uint64, sdk.AccAddress], types.Review]
	// Versions: (datanet id, version) → dataset version.
	Versions collections.Map[collections.Pair[uint64, uint64], types.DatasetVersion]
	// MerkleNodes: (datanet id, level, index) → perfect-subtree hash.
	MerkleNodes collections.Map[collections.Triple[uint64, uint32, uint64], []byte]
	// ContributorCounts: (datanet id, contributor) → accepted contributions.
	ContributorCounts collections.Map[collections.Pair[uint64, sdk.AccAddress], uint64]
	// ExpiryQueue: (review deadline, contribution id) of every pending contribution.
	ExpiryQueue collections.KeySet[collections.Pair[int64, uint64]]
	// ContentIndex: (datanet id, sha256 hex) → id of the pending or accepted contribution
	// holding that content. Derived state: rebuilt from contributions at genesis.
	ContentIndex collections.Map[collections.Pair[uint64, string], uint64]
}

// NewKeeper builds the keeper. authority is the address allowed to update params
// (the governance module account).
func NewKeeper(
	cdc codec.BinaryCodec,
	storeService storetypes.KVStoreService,
	addressCodec address.Codec,
	authority string,
	ak types.AccountKeeper,
	bk types.BankKeeper,
	dk types.DistributionKeeper,
) Keeper {
	if _, err := addressCodec.StringToBytes(authority); err != nil {
		panic(fmt.Errorf("datanet: invalid authority address %q: %w", authority, err))
	}
	if ak.GetModuleAddress(types.ModuleName) == nil {
		panic("datanet: the module account has not been set")
	}
	sb := collections.NewSchemaBuilder(storeService)
	k := Keeper{
		cdc:             cdc,
		addressCodec:    fields.FastAddressCodec(addressCodec),
		authority:       authority,
		bank:            bk,
		acct:            ak,
		distr:           dk,
		Params:          collections.NewItem(sb, types.ParamsKey, "params", codec.CollValue[types.Params](cdc)),
		DatanetSeq:      collections.NewSequence(sb, types.DatanetSeqKey, "datanet_seq"),
		ContributionSeq: collections.NewSequence(sb, types.ContributionSeqKey, "contribution_seq"),
		Datanets: newIndexedMap(collections.NewMap(sb, types.DatanetsKey, "datanets",
			collections.Uint64Key, codec.CollValue[types.Datanet](cdc)),
			DatanetIndexes{
				Owner: newStableMulti(sb, types.DatanetsByOwnerKey, "datanets_by_owner",
					sdk.AccAddressKey,
					func(_ uint64, d types.Datanet) (sdk.AccAddress, error) {
						return storedAddress(d.Owner)
					}),
				Status: newStableMulti(sb, types.DatanetsByStatusKey, "datanets_by_status",
					collections.Int32Key,
					func(_ uint64, d types.Datanet) (int32, error) { return int32(d.Status), nil }),
			}),
		Contributions: newIndexedMap(collections.NewMap(sb, types.ContributionsKey, "contributions",
			collections.Uint64Key, codec.CollValue[types.Contribution](cdc)),
			ContributionIndexes{
				Datanet: newStableMulti(sb, types.ContributionsByDatanetKey, "contributions_by_datanet",
					collections.Uint64Key,
					func(_ uint64, c types.Contribution) (uint64, error) { return c.DatanetId, nil }),
				Contributor: newStableMulti(sb, types.ContributionsByAddrKey, "contributions_by_contributor",
					sdk.AccAddressKey,
					func(_ uint64, c types.Contribution) (sdk.AccAddress, error) {
						return storedAddress(c.Contributor)
					}),
				Status: newStableMulti(sb, types.ContributionsByStatusKey, "contributions_by_status",
					collections.Int32Key,
					func(_ uint64, c types.Contribution) (int32, error) { return int32(c.Status), nil }),
			}),
		Reviews: collections.NewMap(sb, types.ReviewsKey, "reviews",
			collections.PairKeyCodec(collections.Uint64Key, sdk.AccAddressKey), codec.CollValue[types.Review](cdc)),
		Versions: collections.NewMap(sb, types.VersionsKey, "versions",
			collections.PairKeyCodec(collections.Uint64Key, collections.Uint64Key), codec.CollValue[types.DatasetVersion](cdc)),
		MerkleNodes: collections.NewMap(sb, types.MerkleNodesKey, "merkle_nodes",
			collections.TripleKeyCodec(collections.Uint64Key, collections.Uint32Key, collections.Uint64Key), collections.BytesValue),
		ContributorCounts: collections.NewMap(sb, types.ContributorCountsKey, "contributor_counts",
			collections.PairKeyCodec(collections.Uint64Key, sdk.AccAddressKey), collections.Uint64Value),
		ExpiryQueue: collections.NewKeySet(sb, types.ExpiryQueueKey, "expiry_queue",
			collections.PairKeyCodec(collections.Int64Key, collections.Uint64Key)),
		ContentIndex: collections.NewMap(sb, types.ContentIndexKey, "content_index",
			collections.PairKeyCodec(collections.Uint64Key, collections.StringKey), collections.Uint64Value),
	}
	schema, err := sb.Build()
	if err != nil {
		panic(err)
	}
	k.Schema = schema
	return k
}

// storedAddress decodes an address the module has already validated (with the
// address codec, in canonical form) before storing it. Index functions run on every
// write of a datanet or contribution, so they skip the codec's per-call global
// config lookup (which costs system calls in this SDK version).
func storedAddress(s string) (sdk.AccAddress, error) {
	_, bz, err := bech32.DecodeAndConvert(s)
	return bz, err
}

// Authority returns the address allowed to update params.
func (k Keeper) Authority() string { return k.authority }

// AddressCodec returns the account address codec.
func (k Keeper) AddressCodec() address.Codec { return k.addressCodec }

// ModuleAddress is the escrow account holding pending deposits.
func (k Keeper) ModuleAddress() sdk.AccAddress { return k.acct.GetModuleAddress(types.ModuleName) }

// GetDatanet returns a datanet or ErrDatanetNotFound.
func (k Keeper) GetDatanet(ctx context.Context, id uint64) (types.Datanet, error) {
	d, err := k.Datanets.Get(ctx, id)
	if err != nil {
		if isNotFound(err) {
			return d, types.ErrDatanetNotFound.Wrapf("datanet_id %d", id)
		}
		return d, err
	}
	return d, nil
}

// GetContribution returns a contribution or ErrContributionNotFound.
func (k Keeper) GetContribution(ctx context.Context, id uint64) (types.Contribution, error) {
	c, err := k.Contributions.Get(ctx, id)
	if err != nil {
		if isNotFound(err) {
			return c, types.ErrContributionNotFound.Wrapf("contribution_id %d", id)
		}
		return c, err
	}
	return c, nil
}

// GetDatasetVersion returns a dataset version or ErrVersionNotFound. Later modules
// (x/models, x/attribution) use it to check what a model was trained on.
func (k Keeper) GetDatasetVersion(ctx context.Context, datanetID, version uint64) (types.DatasetVersion, error) {
	v, err := k.Versions.Get(ctx, collections.Join(datanetID, version))
	if err != nil {
		if isNotFound(err) {
			return v, types.ErrVersionNotFound.Wrapf("datanet %d version %d", datanetID, version)
		}
		return v, err
	}
	return v, nil
}

// ContributionInVersion reports whether an accepted contribution is part of a version.
func (k Keeper) ContributionInVersion(ctx context.Context, v types.DatasetVersion, contributionID uint64) (types.Contribution, bool, error) {
	c, err := k.GetContribution(ctx, contributionID)
	if err != nil {
		return c, false, err
	}
	ok := c.DatanetId == v.DatanetId && c.Status == types.CONTRIBUTION_STATUS_ACCEPTED && c.LeafIndex < v.LeafCount
	return c, ok, nil
}
