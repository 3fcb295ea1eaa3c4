package types

// DefaultGenesis returns the default genesis state: default params, no objects.
func DefaultGenesis() *GenesisState {
	return &GenesisState{
		Params:           DefaultParams(),
		NextModelId:      1,
		NextDeploymentId: 1,
		NextFeedbackId:   1,
	}
}

// Validate checks the genesis state's structure: params, id uniqueness and bounds,
// references between objects, lineage depths (which proves the lineage acyclic),
// share tables, and the price queue against the deployments' pending prices.
// Dataset versions are checked against x/datanet by the keeper's InitGenesis.
func (gs GenesisState) Validate() error {
	if err := gs.Params.Validate(); err != nil {
		return err
	}
	if gs.NextModelId == 0 || gs.NextDeploymentId == 0 {
		return ErrInvalidGenesis.Wrap("next ids start at 1")
	}
	models := make(map[uint64]*Model, len(gs.Models))
	for i := range gs.Models {
		m := &gs.Models[i]
		if m.Id == 0 || m.Id >= gs.NextModelId {
			return ErrInvalidGenesis.Wrapf("model id %d out of range [1, %d)", m.Id, gs.NextModelId)
		}
		if _, dup := models[m.Id]; dup {
			return ErrInvalidGenesis.Wrapf("duplicate model %d", m.Id)
		}
		if m.Owner == "" {
			return ErrInvalidGenesis.Wrapf("model %d: empty owner", m.Id)
		}
		if err := CheckText("name", m.Name, gs.Params.MaxNameLength, true); err != nil {
			return ErrInvalidGenesis.Wrapf("model %d: %v", m.Id, err)
		}
		models[m.Id] = m
	}
	versions := make(map[VersionRef]*ModelVersion, len(gs.Versions))
	for i := range gs.Versions {
		v := &gs.Versions[i]
		m, ok := models[v.ModelId]
		if !ok {
			return ErrInvalidGenesis.Wrapf("version %d of unknown model %d", v.Version, v.ModelId)
		}
		if v.Version == 0 || v.Version > m.LatestVersion {
			return ErrInvalidGenesis.Wrapf("model %d: version %d out of range [1, %d]", v.ModelId, v.Version, m.LatestVersion)
		}
		ref := VersionRef{ModelId: v.ModelId, Version: v.Version}
		if _, dup := versions[ref]; dup {
			return ErrInvalidGenesis.Wrapf("duplicate version %d of model %d", v.Version, v.ModelId)
		}
		if err := v.validateStored(gs.Params); err != nil {
			return ErrInvalidGenesis.Wrapf("model %d version %d: %v", v.ModelId, v.Version, err)
		}
		versions[ref] = v
	}
	// Every parent exists and is exactly one level shallower: depths strictly
	// decrease along parent links, so the lineage graph has no cycle.
	for i := range gs.Versions {
		v := &gs.Versions[i]
		if v.Parent == nil {
			if v.Depth != 0 {
				return ErrInvalidGenesis.Wrapf("model %d version %d: depth %d without a parent", v.ModelId, v.Version, v.Depth)
			}
			continue
		}
		p, ok := versions[*v.Parent]
		if !ok {
			return ErrInvalidGenesis.Wrapf("model %d version %d: unknown parent %d/%d", v.ModelId, v.Version, v.Parent.ModelId, v.Parent.Version)
		}
		if v.Depth != p.Depth+1 {
			return ErrInvalidGenesis.Wrapf("model %d version %d: depth %d, parent depth %d", v.ModelId, v.Version, v.Depth, p.Depth)
		}
	}
	deployments := make(map[uint64]*Deployment, len(gs.Deployments))
	pending := 0
	for i := range gs.Deployments {
		d := &gs.Deployments[i]
		if d.Id == 0 || d.Id >= gs.NextDeploymentId {
			return ErrInvalidGenesis.Wrapf("deployment id %d out of range [1, %d)", d.Id, gs.NextDeploymentId)
		}
		if _, dup := deployments[d.Id]; dup {
			return ErrInvalidGenesis.Wrapf("duplicate deployment %d", d.Id)
		}
		if _, ok := versions[VersionRef{ModelId: d.ModelId, Version: d.Version}]; !ok {
			return ErrInvalidGenesis.Wrapf("deployment %d: unknown version %d/%d", d.Id, d.ModelId, d.Version)
		}
		if d.Owner == "" {
			return ErrInvalidGenesis.Wrapf("deployment %d: empty owner", d.Id)
		}
		if d.Status == DEPLOYMENT_STATUS_UNSPECIFIED || DeploymentStatus_name[int32(d.Status)] == "" {
			return ErrInvalidGenesis.Wrapf("deployment %d: invalid status %d", d.Id, d.Status)
		}
		if uint64(d.DeveloperBps)+uint64(d.DataBps) != BpsScale {
			return ErrInvalidGenesis.Wrapf("deployment %d: developer_bps + data_bps = %d", d.Id, uint64(d.DeveloperBps)+uint64(d.DataBps))
		}
		if err := d.RoyaltyPerThousandTokens.Validate(); err != nil {
			return ErrInvalidGenesis.Wrapf("deployment %d: royalty: %v", d.Id, err)
		}
		if err := CheckShareTable(d.DataShares); err != nil {
			return ErrInvalidGenesis.Wrapf("deployment %d: %v", d.Id, err)
		}
		hasPending := d.PendingRoyaltyPerThousandTokens != nil
		if hasPending != (d.PendingEffectiveHeight != 0) {
			return ErrInvalidGenesis.Wrapf("deployment %d: pending price and effective height must be set together", d.Id)
		}
		if hasPending {
			if err := d.PendingRoyaltyPerThousandTokens.Validate(); err != nil {
				return ErrInvalidGenesis.Wrapf("deployment %d: pending royalty: %v", d.Id, err)
			}
			pending++
		}
		deployments[d.Id] = d
	}
	if len(gs.PriceQueue) != pending {
		return ErrInvalidGenesis.Wrapf("price queue has %d entries for %d pending prices", len(gs.PriceQueue), pending)
	}
	seen := make(map[uint64]struct{}, len(gs.PriceQueue))
	for _, e := range gs.PriceQueue {
		d, ok := deployments[e.DeploymentId]
		if !ok || d.PendingEffectiveHeight != e.EffectiveHeight || d.PendingRoyaltyPerThousandTokens == nil {
			return ErrInvalidGenesis.Wrapf("price entry (%d, %d) does not match a pending price", e.EffectiveHeight, e.DeploymentId)
		}
		if _, dup := seen[e.DeploymentId]; dup {
			return ErrInvalidGenesis.Wrapf("duplicate price entry for deployment %d", e.DeploymentId)
		}
		seen[e.DeploymentId] = struct{}{}
	}
	return validateFeedbacks(gs.Feedbacks, gs.NextFeedbackId, deployments)
}

// validateStored checks a stored version's own fields.
func (v *ModelVersion) validateStored(p Params) error {
	if !ValidKind(v.Kind) {
		return ErrInvalidKind.Wrapf("kind %d", v.Kind)
	}
	if v.Status == VERSION_STATUS_UNSPECIFIED || VersionStatus_name[int32(v.Status)] == "" {
		return ErrWrongStatus.Wrapf("invalid status %d", v.Status)
	}
	for _, f := range []struct{ name, val string }{{"artifact_cid", v.ArtifactCid}, {"manifest_cid", v.ManifestCid}} {
		if norm, err := NormalizeCID(f.name, f.val); err != nil || norm != f.val {
			return ErrInvalidCID.Wrapf("%s %q is not a normalised CIDv1", f.name, f.val)
		}
	}
	for _, f := range []struct{ name, val string }{{"artifact_sha256", v.ArtifactSha256}, {"manifest_sha256", v.ManifestSha256}} {
		if norm, err := NormalizeSHA256(f.name, f.val); err != nil || norm != f.val {
			return ErrInvalidDigest.Wrapf("%s is not 64 lowercase hex characters", f.name)
		}
	}
	if v.ArtifactSize == 0 {
		return ErrInvalidSize.Wrap("artifact_size: zero")
	}
	sorted, err := SortDatasetRefs(v.DatasetVersions)
	if err != nil {
		return err
	}
	for i := range sorted {
		if sorted[i] != v.DatasetVersions[i] {
			return ErrInvalidField.Wrap("dataset_versions are not sorted")
		}
	}
	if err := CheckUpstream(v.Parent != nil, len(v.DatasetVersions), v.UpstreamShareBps); err != nil {
		return err
	}
	if v.Depth > MaxLineageDepthBound {
		return ErrLineageTooDeep.Wrapf("depth %d", v.Depth)
	}
	if err := v.Metrics.Validate(); err != nil {
		return err
	}
	return nil
}

// CheckUpstream enforces the upstream-share rules: at most 10,000 bps; zero without
// a parent (a root must declare dataset versions); 10,000 for a version that
// declares no dataset versions of its own.
func CheckUpstream(hasParent bool, datasets int, bps uint32) error {
	switch {
	case bps > BpsScale:
		return ErrInvalidBps.Wrapf("upstream_share_bps: %d exceeds %d", bps, BpsScale)
	case !hasParent && bps != 0:
		return ErrInvalidBps.Wrapf("upstream_share_bps: must be 0 without a parent, got %d", bps)
	case !hasParent && datasets == 0:
		return ErrDatasetVersionNotFound.Wrap("dataset_versions: a version without a parent must declare at least one dataset version")
	case datasets == 0 && bps != BpsScale:
		return ErrInvalidBps.Wrapf("upstream_share_bps: must be %d when no dataset versions are declared, got %d", BpsScale, bps)
	}
	return nil
}
