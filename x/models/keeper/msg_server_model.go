package keeper

import (
	"context"
	"errors"

	"cosmossdk.io/collections"

	sdk "github.com/cosmos/cosmos-sdk/types"

	datanettypes "github.com/openledger/openledger/x/datanet/types"
	"github.com/openledger/openledger/x/models/types"
)

// CreateModel registers a model.
func (m msgServer) CreateModel(ctx context.Context, msg *types.MsgCreateModel) (*types.MsgCreateModelResponse, error) {
	if _, err := m.parseAddress("owner", msg.Owner); err != nil {
		return nil, err
	}
	params, err := m.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	if err := types.CheckText("name", msg.Name, params.MaxNameLength, true); err != nil {
		return nil, err
	}
	if err := types.CheckText("description", msg.Description, params.MaxDescriptionLength, false); err != nil {
		return nil, err
	}
	if err := types.CheckToken("task", msg.Task, params.MaxTokenLength); err != nil {
		return nil, err
	}
	if err := types.CheckToken("license", msg.License, params.MaxTokenLength); err != nil {
		return nil, err
	}
	tokenizer, err := types.NormalizeOptionalCID("tokenizer_cid", msg.TokenizerCid)
	if err != nil {
		return nil, err
	}
	base, err := types.CheckExternalBase(msg.ExternalBase, params)
	if err != nil {
		return nil, err
	}

	id, err := m.ModelSeq.Next(ctx)
	if err != nil {
		return nil, err
	}
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	model := types.Model{
		Id:            id,
		Owner:         msg.Owner,
		Name:          msg.Name,
		Description:   msg.Description,
		Task:          msg.Task,
		License:       msg.License,
		TokenizerCid:  tokenizer,
		ExternalBase:  base,
		CreatedHeight: sdkCtx.BlockHeight(),
	}
	if err := m.Models.Set(ctx, id, model); err != nil {
		return nil, err
	}
	if err := sdkCtx.EventManager().EmitTypedEvent(&types.EventModelCreated{ModelId: id, Owner: msg.Owner, Name: msg.Name}); err != nil {
		return nil, err
	}
	return &types.MsgCreateModelResponse{ModelId: id}, nil
}

// UpdateModel applies the fields that are set (owner only).
func (m msgServer) UpdateModel(ctx context.Context, msg *types.MsgUpdateModel) (*types.MsgUpdateModelResponse, error) {
	model, params, err := m.ownedModel(ctx, msg.Owner, msg.ModelId)
	if err != nil {
		return nil, err
	}
	var fields []string
	if msg.Name != nil {
		if err := types.CheckText("name", msg.Name.Value, params.MaxNameLength, true); err != nil {
			return nil, err
		}
		model.Name, fields = msg.Name.Value, append(fields, "name")
	}
	if msg.Description != nil {
		if err := types.CheckText("description", msg.Description.Value, params.MaxDescriptionLength, false); err != nil {
			return nil, err
		}
		model.Description, fields = msg.Description.Value, append(fields, "description")
	}
	if msg.Task != nil {
		if err := types.CheckToken("task", msg.Task.Value, params.MaxTokenLength); err != nil {
			return nil, err
		}
		model.Task, fields = msg.Task.Value, append(fields, "task")
	}
	if msg.License != nil {
		if err := types.CheckToken("license", msg.License.Value, params.MaxTokenLength); err != nil {
			return nil, err
		}
		model.License, fields = msg.License.Value, append(fields, "license")
	}
	if msg.TokenizerCid != nil {
		c, err := types.NormalizeOptionalCID("tokenizer_cid", msg.TokenizerCid.Value)
		if err != nil {
			return nil, err
		}
		model.TokenizerCid, fields = c, append(fields, "tokenizer_cid")
	}
	if len(fields) == 0 {
		return nil, types.ErrInvalidField.Wrap("no field to update")
	}
	if err := m.Models.Set(ctx, model.Id, model); err != nil {
		return nil, err
	}
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	if err := sdkCtx.EventManager().EmitTypedEvent(&types.EventModelUpdated{ModelId: model.Id, Fields: fields}); err != nil {
		return nil, err
	}
	return &types.MsgUpdateModelResponse{}, nil
}

// PublishVersion publishes the next version of a model (owner only). Every dataset
// version must exist (be frozen) in x/datanet, the parent must exist, the lineage
// must stay within max_lineage_depth and its data-share table within
// max_share_entries, so that every published version can be deployed.
func (m msgServer) PublishVersion(ctx context.Context, msg *types.MsgPublishVersion) (*types.MsgPublishVersionResponse, error) {
	model, params, err := m.ownedModel(ctx, msg.Owner, msg.ModelId)
	if err != nil {
		return nil, err
	}
	if !types.ValidKind(msg.Kind) {
		return nil, types.ErrInvalidKind.Wrapf("kind: %d", msg.Kind)
	}
	if uint64(len(msg.DatasetVersions)) > uint64(params.MaxDatasetVersions) {
		return nil, types.ErrTooManyShares.Wrapf("dataset_versions: %d exceeds max_dataset_versions %d", len(msg.DatasetVersions), params.MaxDatasetVersions)
	}
	datasets, err := types.SortDatasetRefs(msg.DatasetVersions)
	if err != nil {
		return nil, err
	}
	for _, ref := range datasets {
		if _, err := m.datanet.GetDatasetVersion(ctx, ref.DatanetId, ref.Version); err != nil {
			if errors.Is(err, datanettypes.ErrVersionNotFound) {
				return nil, types.ErrDatasetVersionNotFound.Wrapf("dataset_versions: datanet %d version %d does not exist", ref.DatanetId, ref.Version)
			}
			return nil, err
		}
	}
	if err := types.CheckUpstream(msg.Parent != nil, len(datasets), msg.UpstreamShareBps); err != nil {
		return nil, err
	}
	v := types.ModelVersion{
		ModelId:          model.Id,
		Version:          model.LatestVersion + 1,
		Kind:             msg.Kind,
		DatasetVersions:  datasets,
		UpstreamShareBps: msg.UpstreamShareBps,
		Status:           types.VERSION_STATUS_PUBLISHED,
		Publisher:        msg.Owner,
		ArtifactSize:     msg.ArtifactSize,
	}
	if msg.Metrics != nil {
		if err := msg.Metrics.Validate(); err != nil {
			return nil, err
		}
		v.Metrics = *msg.Metrics
	}
	if msg.Parent != nil {
		parent, err := m.Versions.Get(ctx, collections.Join(msg.Parent.ModelId, msg.Parent.Version))
		if err != nil {
			if isNotFound(err) {
				return nil, types.ErrParentNotFound.Wrapf("parent: model %d version %d", msg.Parent.ModelId, msg.Parent.Version)
			}
			return nil, err
		}
		if parent.Depth+1 > params.MaxLineageDepth {
			return nil, types.ErrLineageTooDeep.Wrapf("parent: would give %d ancestors; max_lineage_depth is %d", parent.Depth+1, params.MaxLineageDepth)
		}
		v.Parent = &types.VersionRef{ModelId: parent.ModelId, Version: parent.Version}
		v.Depth = parent.Depth + 1
	}
	if v.ArtifactCid, err = types.NormalizeCID("artifact_cid", msg.ArtifactCid); err != nil {
		return nil, err
	}
	if v.ArtifactSha256, err = types.NormalizeSHA256("artifact_sha256", msg.ArtifactSha256); err != nil {
		return nil, err
	}
	if msg.ArtifactSize == 0 {
		return nil, types.ErrInvalidSize.Wrap("artifact_size: must be at least 1")
	}
	if v.ManifestCid, err = types.NormalizeCID("manifest_cid", msg.ManifestCid); err != nil {
		return nil, err
	}
	if v.ManifestSha256, err = types.NormalizeSHA256("manifest_sha256", msg.ManifestSha256); err != nil {
		return nil, err
	}
	if v.SpanIndexCid, err = types.NormalizeOptionalCID("span_index_cid", msg.SpanIndexCid); err != nil {
		return nil, err
	}
	if v.InfluenceSketchCid, err = types.NormalizeOptionalCID("influence_sketch_cid", msg.InfluenceSketchCid); err != nil {
		return nil, err
	}
	if err := types.CheckToken("engine_name", msg.EngineName, params.MaxTokenLength); err != nil {
		return nil, err
	}
	if err := types.CheckToken("engine_version", msg.EngineVersion, params.MaxTokenLength); err != nil {
		return nil, err
	}
	v.EngineName, v.EngineVersion = msg.EngineName, msg.EngineVersion
	// The table must flatten within the bounds now, so the version can be deployed.
	if _, err := m.shareTable(ctx, v, params); err != nil {
		return nil, err
	}

	sdkCtx := sdk.UnwrapSDKContext(ctx)
	v.PublishedHeight = sdkCtx.BlockHeight()
	if err := m.Versions.Set(ctx, collections.Join(v.ModelId, v.Version), v); err != nil {
		return nil, err
	}
	model.LatestVersion = v.Version
	if err := m.Models.Set(ctx, model.Id, model); err != nil {
		return nil, err
	}
	if err := sdkCtx.EventManager().EmitTypedEvent(&types.EventVersionPublished{
		ModelId: v.ModelId, Version: v.Version, Kind: v.Kind, Parent: v.Parent,
		ArtifactCid: v.ArtifactCid, DatasetVersions: v.DatasetVersions,
	}); err != nil {
		return nil, err
	}
	return &types.MsgPublishVersionResponse{Version: v.Version}, nil
}

// DeprecateVersion marks a published version deprecated (owner only). Existing
// deployments keep running; new ones are refused.
func (m msgServer) DeprecateVersion(ctx context.Context, msg *types.MsgDeprecateVersion) (*types.MsgDeprecateVersionResponse, error) {
	if _, _, err := m.ownedModel(ctx, msg.Owner, msg.ModelId); err != nil {
		return nil, err
	}
	v, err := m.GetVersion(ctx, msg.ModelId, msg.Version)
	if err != nil {
		return nil, err
	}
	if v.Status != types.VERSION_STATUS_PUBLISHED {
		return nil, types.ErrWrongStatus.Wrapf("version: model %d version %d is %s", v.ModelId, v.Version, v.Status)
	}
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	v.Status = types.VERSION_STATUS_DEPRECATED
	v.DeprecatedHeight = sdkCtx.BlockHeight()
	if err := m.Versions.Set(ctx, collections.Join(v.ModelId, v.Version), v); err != nil {
		return nil, err
	}
	if err := sdkCtx.EventManager().EmitTypedEvent(&types.EventVersionDeprecated{ModelId: v.ModelId, Version: v.Version}); err != nil {
		return nil, err
	}
	return &types.MsgDeprecateVersionResponse{}, nil
}
