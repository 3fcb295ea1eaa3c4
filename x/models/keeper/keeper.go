// Package keeper holds the models module's state and its state transitions.
package keeper

import (
	"context"
	"errors"
	"fmt"

	"cosmossdk.io/collections"
	"cosmossdk.io/collections/indexes"
	"cosmossdk.io/core/address"
	storetypes "cosmossdk.io/core/store"

	"github.com/cosmos/cosmos-sdk/codec"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/internal/fields"
	"github.com/openledger/openledger/x/models/types"
)

// ModelIndexes index models by owner.
type ModelIndexes struct {
	Owner *indexes.Multi[sdk.AccAddress, uint64, types.Model]
}

// IndexesList implements collections.Indexes.
func (i ModelIndexes) IndexesList() []collections.Index[uint64, types.Model] {
	return []collections.Index[uint64, types.Model]{i.Owner}
}

// DeploymentIndexes index deployments by owner, model, model version and status.
type DeploymentIndexes struct {
	Owner   *indexes.Multi[sdk.AccAddress, uint64, types.Deployment]
	Model   *indexes.Multi[uint64, uint64, types.Deployment]
	Version *indexes.Multi[collections.Pair[uint64, uint64], uint64, types.Deployment]
	Status  *indexes.Multi[int32, uint64, types.Deployment]
}

// IndexesList implements collections.Indexes.
func (i DeploymentIndexes) IndexesList() []collections.Index[uint64, types.Deployment] {
	return []collections.Index[uint64, types.Deployment]{i.Owner, i.Model, i.Version, i.Status}
}

// Keeper owns the models store.
type Keeper struct {
	cdc          codec.BinaryCodec
	addressCodec address.Codec
	authority    string
	datanet      types.DatanetKeeper

	Schema        collections.Schema
	Params        collections.Item[types.Params]
	ModelSeq      collections.Sequence
	DeploymentSeq collections.Sequence
	Models        *collections.IndexedMap[uint64, types.Model, ModelIndexes]
	// Versions: (model id, version) → model version.
	Versions    collections.Map[collections.Pair[uint64, uint64], types.ModelVersion]
	Deployments *collections.IndexedMap[uint64, types.Deployment, DeploymentIndexes]
	// PriceQueue: (effective height, deployment id) of every scheduled price.
	PriceQueue collections.KeySet[collections.Pair[int64, uint64]]
}

// NewKeeper builds the keeper. authority is the address allowed to update params
// (the governance module account).
func NewKeeper(
	cdc codec.BinaryCodec,
	storeService storetypes.KVStoreService,
	addressCodec address.Codec,
	authority string,
	dk types.DatanetKeeper,
) Keeper {
	if _, err := addressCodec.StringToBytes(authority); err != nil {
		panic(fmt.Errorf("models: invalid authority address %q: %w", authority, err))
	}
	sb := collections.NewSchemaBuilder(storeService)
	k := Keeper{
		cdc:           cdc,
		addressCodec:  fields.FastAddressCodec(addressCodec),
		authority:     authority,
		datanet:       dk,
		Params:        collections.NewItem(sb, types.ParamsKey, "params", codec.CollValue[types.Params](cdc)),
		ModelSeq:      collections.NewSequence(sb, types.ModelSeqKey, "model_seq"),
		DeploymentSeq: collections.NewSequence(sb, types.DeploymentSeqKey, "deployment_seq"),
		Models: collections.NewIndexedMap(sb, types.ModelsKey, "models",
			collections.Uint64Key, codec.CollValue[types.Model](cdc),
			ModelIndexes{
				Owner: indexes.NewMulti(sb, types.ModelsByOwnerKey, "models_by_owner",
					sdk.AccAddressKey, collections.Uint64Key,
					func(_ uint64, m types.Model) (sdk.AccAddress, error) {
						return addressCodec.StringToBytes(m.Owner)
					}),
			}),
		Versions: collections.NewMap(sb, types.VersionsKey, "versions",
			collections.PairKeyCodec(collections.Uint64Key, collections.Uint64Key), codec.CollValue[types.ModelVersion](cdc)),
		Deployments: collections.NewIndexedMap(sb, types.DeploymentsKey, "deployments",
			collections.Uint64Key, codec.CollValue[types.Deployment](cdc),
			DeploymentIndexes{
				Owner: indexes.NewMulti(sb, types.DeploymentsByOwnerKey, "deployments_by_owner",
					sdk.AccAddressKey, collections.Uint64Key,
					func(_ uint64, d types.Deployment) (sdk.AccAddress, error) {
						return addressCodec.StringToBytes(d.Owner)
					}),
				Model: indexes.NewMulti(sb, types.DeploymentsByModelKey, "deployments_by_model",
					collections.Uint64Key, collections.Uint64Key,
					func(_ uint64, d types.Deployment) (uint64, error) { return d.ModelId, nil }),
				Version: indexes.NewMulti(sb, types.DeploymentsByVersionKey, "deployments_by_version",
					collections.PairKeyCodec(collections.Uint64Key, collections.Uint64Key), collections.Uint64Key,
					func(_ uint64, d types.Deployment) (collections.Pair[uint64, uint64], error) {
						return collections.Join(d.ModelId, d.Version), nil
					}),
				Status: indexes.NewMulti(sb, types.DeploymentsByStatusKey, "deployments_by_status",
					collections.Int32Key, collections.Uint64Key,
					func(_ uint64, d types.Deployment) (int32, error) { return int32(d.Status), nil }),
			}),
		PriceQueue: collections.NewKeySet(sb, types.PriceQueueKey, "price_queue",
			collections.PairKeyCodec(collections.Int64Key, collections.Uint64Key)),
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

// AddressCodec returns the account address codec.
func (k Keeper) AddressCodec() address.Codec { return k.addressCodec }

func isNotFound(err error) bool { return errors.Is(err, collections.ErrNotFound) }

// GetModel returns a model or ErrModelNotFound.
func (k Keeper) GetModel(ctx context.Context, id uint64) (types.Model, error) {
	m, err := k.Models.Get(ctx, id)
	if err != nil {
		if isNotFound(err) {
			return m, types.ErrModelNotFound.Wrapf("model_id %d", id)
		}
		return m, err
	}
	return m, nil
}

// GetVersion returns a model version or ErrVersionNotFound.
func (k Keeper) GetVersion(ctx context.Context, modelID, version uint64) (types.ModelVersion, error) {
	v, err := k.Versions.Get(ctx, collections.Join(modelID, version))
	if err != nil {
		if isNotFound(err) {
			return v, types.ErrVersionNotFound.Wrapf("model %d version %d", modelID, version)
		}
		return v, err
	}
	return v, nil
}

// GetDeployment returns a deployment or ErrDeploymentNotFound.
func (k Keeper) GetDeployment(ctx context.Context, id uint64) (types.Deployment, error) {
	d, err := k.Deployments.Get(ctx, id)
	if err != nil {
		if isNotFound(err) {
			return d, types.ErrDeploymentNotFound.Wrapf("deployment_id %d", id)
		}
		return d, err
	}
	return d, nil
}
