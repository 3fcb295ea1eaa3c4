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
	// inference is shared by every copy of the keeper (see SetInferenceSource).
	inference *inferenceHolder

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

	FeedbackSeq collections.Sequence
	// Feedbacks: feedback id → feedback.
	Feedbacks collections.Map[uint64, types.Feedback]
	// FeedbackByInference: (inference kind, job or session id, request seq) → feedback
	// id; its presence is the once-per-inference rule.
	FeedbackByInference collections.Map[collections.Triple[int32, uint64, uint64], uint64]
	// FeedbackByDeployment: (deployment id, feedback id).
	FeedbackByDeployment collections.KeySet[collections.Pair[uint64, uint64]]
	// FeedbackCounts: deployment id → its feedback totals.
	FeedbackCounts collections.Map[uint64, types.FeedbackCounts]
}

// inferenceHolder holds the x/inference reader. x/inference's keeper is built after
// this one (it reads deployments), so the app sets the reader afterwards with
// SetInferenceSource. Keepers are passed by value to other modules before that call;
// the holder is a pointer created in NewKeeper, so every copy sees the reader once set.
type inferenceHolder struct {
	src types.InferenceSource
}

// SetInferenceSource wires the x/inference reader feedback needs. Call it once, at
// app construction, after x/inference's keeper exists.
func (k Keeper) SetInferenceSource(src types.InferenceSource) {
	k.inference.src = src
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
		inference:     &inferenceHolder{},
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
		FeedbackSeq: collections.NewSequence(sb, types.FeedbackSeqKey, "feedback_seq"),
		Feedbacks: collections.NewMap(sb, types.FeedbacksKey, "feedbacks",
			collections.Uint64Key, codec.CollValue[types.Feedback](cdc)),
		FeedbackByInference: collections.NewMap(sb, types.FeedbackByInferenceKey, "feedback_by_inference",
			collections.TripleKeyCodec(collections.Int32Key, collections.Uint64Key, collections.Uint64Key), collections.Uint64Value),
		FeedbackByDeployment: collections.NewKeySet(sb, types.FeedbackByDeploymentKey, "feedback_by_deployment",
			collections.PairKeyCodec(collections.Uint64Key, collections.Uint64Key)),
		FeedbackCounts: collections.NewMap(sb, types.FeedbackCountsKey, "feedback_counts",
			collections.Uint64Key, codec.CollValue[types.FeedbackCounts](cdc)),
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
