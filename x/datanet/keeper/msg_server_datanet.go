package keeper

import (
	"context"
	"encoding/hex"

	"cosmossdk.io/collections"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/datanet/types"
)

// CreateDatanet creates a datanet in COLLECTING status (READY at once if it has no requirements).
func (m msgServer) CreateDatanet(ctx context.Context, msg *types.MsgCreateDatanet) (*types.MsgCreateDatanetResponse, error) {
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
	metadataCID := ""
	if msg.MetadataCid != "" {
		if metadataCID, err = types.NormalizeCID("metadata_cid", msg.MetadataCid); err != nil {
			return nil, err
		}
	}
	if err := types.CheckToken("license", msg.License, params.MaxTagLength); err != nil {
		return nil, err
	}
	if err := types.CheckTags(msg.Tags, params); err != nil {
		return nil, err
	}
	if err := m.validateCuration(msg.Curation, params); err != nil {
		return nil, err
	}
	if err := params.ValidateDeposit(msg.ContributionDeposit); err != nil {
		return nil, err
	}

	id, err := m.DatanetSeq.Next(ctx)
	if err != nil {
		return nil, err
	}
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	d := types.Datanet{
		Id:                  id,
		Owner:               msg.Owner,
		Name:                msg.Name,
		Description:         msg.Description,
		MetadataCid:         metadataCID,
		License:             msg.License,
		Tags:                msg.Tags,
		Requirements:        msg.Requirements,
		Curation:            msg.Curation,
		ContributionDeposit: msg.ContributionDeposit,
		Status:              types.DATANET_STATUS_COLLECTING,
		CreatedHeight:       sdkCtx.BlockHeight(),
		MerkleRoot:          hex.EncodeToString(types.EmptyRoot()),
	}
	if err := sdkCtx.EventManager().EmitTypedEvent(&types.EventDatanetCreated{DatanetId: id, Owner: msg.Owner, Name: msg.Name}); err != nil {
		return nil, err
	}
	if err := m.maybeReady(sdkCtx, &d); err != nil {
		return nil, err
	}
	if err := m.Datanets.Set(ctx, id, d); err != nil {
		return nil, err
	}
	return &types.MsgCreateDatanetResponse{DatanetId: id}, nil
}

// UpdateDatanet applies the fields that are set (owner only).
func (m msgServer) UpdateDatanet(ctx context.Context, msg *types.MsgUpdateDatanet) (*types.MsgUpdateDatanetResponse, error) {
	d, params, err := m.ownedDatanet(ctx, msg.Owner, msg.DatanetId)
	if err != nil {
		return nil, err
	}
	if d.Status == types.DATANET_STATUS_ARCHIVED {
		return nil, types.ErrWrongStatus.Wrapf("datanet %d is archived and cannot be updated", d.Id)
	}
	var fields []string
	if msg.Name != nil {
		if err := types.CheckText("name", msg.Name.Value, params.MaxNameLength, true); err != nil {
			return nil, err
		}
		d.Name, fields = msg.Name.Value, append(fields, "name")
	}
	if msg.Description != nil {
		if err := types.CheckText("description", msg.Description.Value, params.MaxDescriptionLength, false); err != nil {
			return nil, err
		}
		d.Description, fields = msg.Description.Value, append(fields, "description")
	}
	if msg.MetadataCid != nil {
		normalized := ""
		if msg.MetadataCid.Value != "" {
			if normalized, err = types.NormalizeCID("metadata_cid", msg.MetadataCid.Value); err != nil {
				return nil, err
			}
		}
		d.MetadataCid, fields = normalized, append(fields, "metadata_cid")
	}
	if msg.License != nil {
		if err := types.CheckToken("license", msg.License.Value, params.MaxTagLength); err != nil {
			return nil, err
		}
		d.License, fields = msg.License.Value, append(fields, "license")
	}
	if msg.Tags != nil {
		if err := types.CheckTags(msg.Tags.Values, params); err != nil {
			return nil, err
		}
		d.Tags, fields = msg.Tags.Values, append(fields, "tags")
	}
	if msg.Requirements != nil {
		if d.Status != types.DATANET_STATUS_COLLECTING {
			return nil, types.ErrRequirementsFrozen.Wrapf("datanet %d is %s", d.Id, d.Status)
		}
		d.Requirements, fields = *msg.Requirements, append(fields, "requirements")
	}
	if msg.Curation != nil {
		if err := m.validateCuration(*msg.Curation, params); err != nil {
			return nil, err
		}
		d.Curation, fields = *msg.Curation, append(fields, "curation")
	}
	if msg.ContributionDeposit != nil {
		if err := params.ValidateDeposit(*msg.ContributionDeposit); err != nil {
			return nil, err
		}
		d.ContributionDeposit, fields = *msg.ContributionDeposit, append(fields, "contribution_deposit")
	}
	if len(fields) == 0 {
		return nil, types.ErrInvalidField.Wrap("nothing to update: set at least one field")
	}
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	if err := sdkCtx.EventManager().EmitTypedEvent(&types.EventDatanetUpdated{DatanetId: d.Id, Fields: fields}); err != nil {
		return nil, err
	}
	if err := m.maybeReady(sdkCtx, &d); err != nil {
		return nil, err
	}
	if err := m.Datanets.Set(ctx, d.Id, d); err != nil {
		return nil, err
	}
	return &types.MsgUpdateDatanetResponse{}, nil
}

// ArchiveDatanet closes a datanet (owner only). Pending contributions keep their
// review window; accepted ones and versions stay queryable.
func (m msgServer) ArchiveDatanet(ctx context.Context, msg *types.MsgArchiveDatanet) (*types.MsgArchiveDatanetResponse, error) {
	d, _, err := m.ownedDatanet(ctx, msg.Owner, msg.DatanetId)
	if err != nil {
		return nil, err
	}
	if d.Status == types.DATANET_STATUS_ARCHIVED {
		return nil, types.ErrWrongStatus.Wrapf("datanet %d is already archived", d.Id)
	}
	if err := m.setStatus(sdk.UnwrapSDKContext(ctx), &d, types.DATANET_STATUS_ARCHIVED); err != nil {
		return nil, err
	}
	if err := m.Datanets.Set(ctx, d.Id, d); err != nil {
		return nil, err
	}
	return &types.MsgArchiveDatanetResponse{}, nil
}

// CreateDatasetVersion freezes the accepted contributions of a READY datanet (owner or curator).
func (m msgServer) CreateDatasetVersion(ctx context.Context, msg *types.MsgCreateDatasetVersion) (*types.MsgCreateDatasetVersionResponse, error) {
	if _, err := m.parseAddress("creator", msg.Creator); err != nil {
		return nil, err
	}
	d, err := m.GetDatanet(ctx, msg.DatanetId)
	if err != nil {
		return nil, err
	}
	if msg.Creator != d.Owner && !isCurator(d, msg.Creator) {
		return nil, types.ErrUnauthorized.Wrapf("creator: only the owner or a curator of datanet %d may create versions", d.Id)
	}
	if d.Status != types.DATANET_STATUS_READY {
		return nil, types.ErrWrongStatus.Wrapf("datanet %d is %s; versions need READY", d.Id, d.Status)
	}
	if d.Stats.Versions > 0 {
		last, err := m.GetDatasetVersion(ctx, d.Id, d.Stats.Versions)
		if err != nil {
			return nil, err
		}
		if last.LeafCount == d.Stats.AcceptedContributions {
			return nil, types.ErrNothingToVersion.Wrapf("version %d already holds all %d accepted contributions", last.Version, last.LeafCount)
		}
	}
	if d.Stats.AcceptedContributions == 0 {
		return nil, types.ErrNothingToVersion.Wrapf("datanet %d has no accepted contributions", d.Id)
	}
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	d.Stats.Versions++
	v := types.DatasetVersion{
		DatanetId:            d.Id,
		Version:              d.Stats.Versions,
		Root:                 d.MerkleRoot,
		LeafCount:            d.Stats.AcceptedContributions,
		TotalBytes:           d.Stats.AcceptedBytes,
		TotalShares:          d.Stats.AcceptedShares,
		DistinctContributors: d.Stats.DistinctContributors,
		Height:               sdkCtx.BlockHeight(),
		Creator:              msg.Creator,
	}
	if err := m.Versions.Set(ctx, collections.Join(d.Id, v.Version), v); err != nil {
		return nil, err
	}
	if err := m.Datanets.Set(ctx, d.Id, d); err != nil {
		return nil, err
	}
	if err := sdkCtx.EventManager().EmitTypedEvent(&types.EventDatasetVersionCreated{
		DatanetId: d.Id, Version: v.Version, Root: v.Root, LeafCount: v.LeafCount, TotalBytes: v.TotalBytes,
	}); err != nil {
		return nil, err
	}
	return &types.MsgCreateDatasetVersionResponse{Version: v}, nil
}

// ownedDatanet loads a datanet and checks that signer owns it.
func (m msgServer) ownedDatanet(ctx context.Context, owner string, id uint64) (types.Datanet, types.Params, error) {
	if _, err := m.parseAddress("owner", owner); err != nil {
		return types.Datanet{}, types.Params{}, err
	}
	d, err := m.GetDatanet(ctx, id)
	if err != nil {
		return d, types.Params{}, err
	}
	if d.Owner != owner {
		return d, types.Params{}, types.ErrUnauthorized.Wrapf("owner: %s does not own datanet %d", owner, id)
	}
	params, err := m.Params.Get(ctx)
	return d, params, err
}

// validateCuration checks curators, quorum and review window against the params.
func (k Keeper) validateCuration(c types.Curation, p types.Params) error {
	n := len(c.Curators)
	if n == 0 {
		return types.ErrInvalidCuration.Wrap("curators: at least one curator is required")
	}
	if uint64(n) > uint64(p.MaxCurators) {
		return types.ErrInvalidCuration.Wrapf("curators: %d curators exceeds the maximum of %d", n, p.MaxCurators)
	}
	seen := make(map[string]struct{}, n)
	for i, addr := range c.Curators {
		if _, err := k.parseAddress("curators", addr); err != nil {
			return types.ErrInvalidCuration.Wrapf("curators[%d]: %v", i, err)
		}
		if _, dup := seen[addr]; dup {
			return types.ErrInvalidCuration.Wrapf("curators[%d]: %s is listed twice", i, addr)
		}
		seen[addr] = struct{}{}
	}
	if c.ApprovalQuorum == 0 || int(c.ApprovalQuorum) > n {
		return types.ErrInvalidCuration.Wrapf("approval_quorum: must be in [1, %d] (the number of curators), got %d", n, c.ApprovalQuorum)
	}
	if c.ReviewWindowBlocks < p.MinReviewWindowBlocks || c.ReviewWindowBlocks > p.MaxReviewWindowBlocks {
		return types.ErrInvalidCuration.Wrapf("review_window_blocks: must be in [%d, %d], got %d",
			p.MinReviewWindowBlocks, p.MaxReviewWindowBlocks, c.ReviewWindowBlocks)
	}
	return nil
}

func isCurator(d types.Datanet, addr string) bool {
	for _, c := range d.Curation.Curators {
		if c == addr {
			return true
		}
	}
	return false
}

// maybeReady moves a COLLECTING datanet to READY once every requirement is met.
func (k Keeper) maybeReady(ctx sdk.Context, d *types.Datanet) error {
	if d.Status != types.DATANET_STATUS_COLLECTING {
		return nil
	}
	r, s := d.Requirements, d.Stats
	if s.AcceptedContributions < r.MinAcceptedContributions || s.DistinctContributors < r.MinDistinctContributors ||
		s.AcceptedBytes < r.MinAcceptedBytes {
		return nil
	}
	d.ReadyHeight = ctx.BlockHeight()
	return k.setStatus(ctx, d, types.DATANET_STATUS_READY)
}

func (k Keeper) setStatus(ctx sdk.Context, d *types.Datanet, to types.DatanetStatus) error {
	from := d.Status
	d.Status = to
	return ctx.EventManager().EmitTypedEvent(&types.EventDatanetStatusChanged{DatanetId: d.Id, From: from, To: to})
}
