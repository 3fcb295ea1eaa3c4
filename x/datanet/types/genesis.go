package types

import "fmt"

// DefaultGenesis returns the default genesis state: default params, no objects.
func DefaultGenesis() *GenesisState {
	return &GenesisState{
		Params:             DefaultParams(),
		NextDatanetId:      1,
		NextContributionId: 1,
	}
}

// Validate checks the genesis state's structure: params, id uniqueness and bounds,
// references between objects, and the expiry queue against pending contributions.
// Merkle consistency is checked against the contributions by the keeper's InitGenesis.
func (gs GenesisState) Validate() error {
	if err := gs.Params.Validate(); err != nil {
		return err
	}
	if gs.NextDatanetId == 0 || gs.NextContributionId == 0 {
		return ErrInvalidGenesis.Wrap("next ids start at 1")
	}
	datanets := make(map[uint64]*Datanet, len(gs.Datanets))
	for i := range gs.Datanets {
		d := &gs.Datanets[i]
		if d.Id == 0 || d.Id >= gs.NextDatanetId {
			return ErrInvalidGenesis.Wrapf("datanet id %d out of range [1, %d)", d.Id, gs.NextDatanetId)
		}
		if _, dup := datanets[d.Id]; dup {
			return ErrInvalidGenesis.Wrapf("duplicate datanet %d", d.Id)
		}
		if d.Status == DATANET_STATUS_UNSPECIFIED || DatanetStatus_name[int32(d.Status)] == "" {
			return ErrInvalidGenesis.Wrapf("datanet %d: invalid status %d", d.Id, d.Status)
		}
		if err := CheckText("name", d.Name, gs.Params.MaxNameLength, true); err != nil {
			return ErrInvalidGenesis.Wrapf("datanet %d: %v", d.Id, err)
		}
		if err := d.ContributionDeposit.Validate(); err != nil {
			return ErrInvalidGenesis.Wrapf("datanet %d: deposit: %v", d.Id, err)
		}
		datanets[d.Id] = d
	}
	contributions := make(map[uint64]*Contribution, len(gs.Contributions))
	pending := 0
	for i := range gs.Contributions {
		c := &gs.Contributions[i]
		if c.Id == 0 || c.Id >= gs.NextContributionId {
			return ErrInvalidGenesis.Wrapf("contribution id %d out of range [1, %d)", c.Id, gs.NextContributionId)
		}
		if _, dup := contributions[c.Id]; dup {
			return ErrInvalidGenesis.Wrapf("duplicate contribution %d", c.Id)
		}
		if _, ok := datanets[c.DatanetId]; !ok {
			return ErrInvalidGenesis.Wrapf("contribution %d: unknown datanet %d", c.Id, c.DatanetId)
		}
		if c.Status == CONTRIBUTION_STATUS_UNSPECIFIED || ContributionStatus_name[int32(c.Status)] == "" {
			return ErrInvalidGenesis.Wrapf("contribution %d: invalid status %d", c.Id, c.Status)
		}
		if norm, err := NormalizeCID("cid", c.Cid); err != nil || norm != c.Cid {
			return ErrInvalidGenesis.Wrapf("contribution %d: cid %q is not a normalised CIDv1", c.Id, c.Cid)
		}
		if norm, err := NormalizeSHA256("sha256", c.Sha256); err != nil || norm != c.Sha256 {
			return ErrInvalidGenesis.Wrapf("contribution %d: sha256 is not 64 lowercase hex characters", c.Id)
		}
		if c.SizeBytes == 0 {
			return ErrInvalidGenesis.Wrapf("contribution %d: zero size", c.Id)
		}
		accepted := c.Status == CONTRIBUTION_STATUS_ACCEPTED
		if accepted && (c.Shares == 0 || c.Shares > c.SizeBytes) || !accepted && c.Shares != 0 {
			return ErrInvalidGenesis.Wrapf("contribution %d: shares %d: an accepted contribution has 1..size_bytes (%d), others 0", c.Id, c.Shares, c.SizeBytes)
		}
		if err := c.Deposit.Validate(); err != nil {
			return ErrInvalidGenesis.Wrapf("contribution %d: deposit: %v", c.Id, err)
		}
		if c.Status == CONTRIBUTION_STATUS_PENDING {
			pending++
		}
		contributions[c.Id] = c
	}
	type reviewKey struct {
		id      uint64
		curator string
	}
	reviews := make(map[reviewKey]struct{}, len(gs.Reviews))
	for _, r := range gs.Reviews {
		if _, ok := contributions[r.ContributionId]; !ok {
			return ErrInvalidGenesis.Wrapf("review of unknown contribution %d", r.ContributionId)
		}
		if r.Decision != REVIEW_DECISION_APPROVE && r.Decision != REVIEW_DECISION_REJECT {
			return ErrInvalidGenesis.Wrapf("review of contribution %d: invalid decision", r.ContributionId)
		}
		k := reviewKey{r.ContributionId, r.Curator}
		if _, dup := reviews[k]; dup {
			return ErrInvalidGenesis.Wrapf("duplicate review of contribution %d by %s", r.ContributionId, r.Curator)
		}
		reviews[k] = struct{}{}
	}
	type versionKey struct{ datanet, version uint64 }
	versions := make(map[versionKey]struct{}, len(gs.DatasetVersions))
	for _, v := range gs.DatasetVersions {
		d, ok := datanets[v.DatanetId]
		if !ok {
			return ErrInvalidGenesis.Wrapf("version %d of unknown datanet %d", v.Version, v.DatanetId)
		}
		if v.Version == 0 || v.Version > d.Stats.Versions {
			return ErrInvalidGenesis.Wrapf("datanet %d: version %d out of range [1, %d]", v.DatanetId, v.Version, d.Stats.Versions)
		}
		if v.LeafCount == 0 || v.LeafCount > d.Stats.AcceptedContributions {
			return ErrInvalidGenesis.Wrapf("datanet %d version %d: leaf count %d out of range", v.DatanetId, v.Version, v.LeafCount)
		}
		if v.TotalShares > v.TotalBytes || v.TotalShares > d.Stats.AcceptedShares {
			return ErrInvalidGenesis.Wrapf("datanet %d version %d: total shares %d above its bytes %d or the datanet's accepted shares %d",
				v.DatanetId, v.Version, v.TotalShares, v.TotalBytes, d.Stats.AcceptedShares)
		}
		k := versionKey{v.DatanetId, v.Version}
		if _, dup := versions[k]; dup {
			return ErrInvalidGenesis.Wrapf("duplicate version %d of datanet %d", v.Version, v.DatanetId)
		}
		versions[k] = struct{}{}
	}
	for _, n := range gs.MerkleNodes {
		if _, ok := datanets[n.DatanetId]; !ok {
			return ErrInvalidGenesis.Wrapf("merkle node of unknown datanet %d", n.DatanetId)
		}
		if _, err := DecodeHash("merkle node hash", n.Hash); err != nil {
			return ErrInvalidGenesis.Wrapf("datanet %d merkle node (%d,%d): %v", n.DatanetId, n.Level, n.Index, err)
		}
	}
	for _, cc := range gs.ContributorCounts {
		if _, ok := datanets[cc.DatanetId]; !ok || cc.Accepted == 0 {
			return ErrInvalidGenesis.Wrapf("contributor count for datanet %d is invalid", cc.DatanetId)
		}
	}
	if len(gs.ExpiryQueue) != pending {
		return ErrInvalidGenesis.Wrapf("expiry queue has %d entries for %d pending contributions", len(gs.ExpiryQueue), pending)
	}
	for _, e := range gs.ExpiryQueue {
		c, ok := contributions[e.ContributionId]
		if !ok || c.Status != CONTRIBUTION_STATUS_PENDING || c.ReviewDeadline != e.Deadline {
			return ErrInvalidGenesis.Wrap(fmt.Sprintf("expiry entry (%d, %d) does not match a pending contribution", e.Deadline, e.ContributionId))
		}
	}
	return nil
}
