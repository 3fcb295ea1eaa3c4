package types

import (
	"cmp"
	"slices"
)

// LineageLevel is what one version of a lineage contributes to its data-share
// table: its own dataset versions and the part of its data share it passes up.
type LineageLevel struct {
	DatasetVersions  []DatasetVersionRef
	UpstreamShareBps uint32
}

// CompareDatasetRefs orders dataset versions by (datanet id, version).
func CompareDatasetRefs(a, b DatasetVersionRef) int {
	if c := cmp.Compare(a.DatanetId, b.DatanetId); c != 0 {
		return c
	}
	return cmp.Compare(a.Version, b.Version)
}

// SortDatasetRefs returns a sorted copy of refs, or an error naming the first
// duplicate or zero reference.
func SortDatasetRefs(refs []DatasetVersionRef) ([]DatasetVersionRef, error) {
	out := slices.Clone(refs)
	for i, r := range out {
		if r.DatanetId == 0 || r.Version == 0 {
			return nil, ErrDatasetVersionNotFound.Wrapf("dataset_versions[%d]: datanet %d version %d: ids start at 1", i, r.DatanetId, r.Version)
		}
	}
	slices.SortFunc(out, CompareDatasetRefs)
	for i := 1; i < len(out); i++ {
		if CompareDatasetRefs(out[i-1], out[i]) == 0 {
			return nil, ErrInvalidField.Wrapf("dataset_versions: datanet %d version %d appears twice", out[i].DatanetId, out[i].Version)
		}
	}
	return out, nil
}

// FlattenShares computes the data-share table of a lineage. levels[0] is the
// version itself, levels[i+1] the parent of levels[i]; the last level is the root
// (its upstream share is ignored). The rule, exact in integers:
//
//   - level 0 holds amount = 10,000 bps;
//   - each level passes up = ⌊amount × upstream_share_bps / 10,000⌋ to its parent
//     and keeps own = amount − up (the root keeps everything);
//   - own is split equally over the level's dataset versions in (datanet, version)
//     order: each gets ⌊own / n⌋ and the first own mod n get one more bp;
//   - amounts for the same dataset version at several levels add up; zero entries
//     are dropped; the table is sorted by (datanet, version).
//
// The bps of the result sum to exactly 10,000. A level that keeps a positive amount
// but has no dataset versions is an error (ErrNoDataShares), as is a table of more
// than maxEntries entries (ErrTooManyShares).
func FlattenShares(levels []LineageLevel, maxEntries uint32) ([]DataShare, error) {
	var table []DataShare
	amount := uint64(BpsScale)
	for i, lvl := range levels {
		if amount == 0 {
			break
		}
		up := uint64(0)
		if i < len(levels)-1 {
			if lvl.UpstreamShareBps > BpsScale {
				return nil, ErrInvalidBps.Wrapf("upstream_share_bps %d exceeds %d at depth %d", lvl.UpstreamShareBps, BpsScale, i)
			}
			up = amount * uint64(lvl.UpstreamShareBps) / BpsScale
		}
		own := amount - up
		amount = up
		if own == 0 {
			continue
		}
		n := uint64(len(lvl.DatasetVersions))
		if n == 0 {
			return nil, ErrNoDataShares.Wrapf("the version at depth %d keeps %d bps but declares no dataset versions", i, own)
		}
		base, rem := own/n, own%n
		for j, ref := range lvl.DatasetVersions {
			bps := base
			if uint64(j) < rem {
				bps++
			}
			if bps == 0 {
				continue
			}
			var err error
			if table, err = addShare(table, ref, uint32(bps), maxEntries); err != nil {
				return nil, err
			}
		}
	}
	if amount != 0 {
		return nil, ErrNoDataShares.Wrapf("%d bps passed beyond the oldest ancestor", amount)
	}
	return table, nil
}

// addShare adds bps to ref's entry of a sorted table, inserting it if needed.
func addShare(table []DataShare, ref DatasetVersionRef, bps uint32, maxEntries uint32) ([]DataShare, error) {
	i, found := slices.BinarySearchFunc(table, ref, func(s DataShare, r DatasetVersionRef) int {
		return CompareDatasetRefs(DatasetVersionRef{DatanetId: s.DatanetId, Version: s.Version}, r)
	})
	if found {
		table[i].Bps += bps
		return table, nil
	}
	if uint64(len(table)) >= uint64(maxEntries) {
		return nil, ErrTooManyShares.Wrapf("more than max_share_entries (%d) dataset versions in the lineage", maxEntries)
	}
	return slices.Insert(table, i, DataShare{DatanetId: ref.DatanetId, Version: ref.Version, Bps: bps}), nil
}

// CheckShareTable checks that a table is sorted, unique, free of zero entries and
// sums to exactly 10,000 bps.
func CheckShareTable(table []DataShare) error {
	sum := uint64(0)
	for i, s := range table {
		if s.Bps == 0 {
			return ErrInvalidBps.Wrapf("data_shares[%d]: zero bps", i)
		}
		if i > 0 {
			prev := DatasetVersionRef{DatanetId: table[i-1].DatanetId, Version: table[i-1].Version}
			if CompareDatasetRefs(prev, DatasetVersionRef{DatanetId: s.DatanetId, Version: s.Version}) >= 0 {
				return ErrInvalidField.Wrapf("data_shares[%d]: not sorted or duplicated", i)
			}
		}
		sum += uint64(s.Bps)
	}
	if sum != BpsScale {
		return ErrInvalidBps.Wrapf("data_shares sum to %d bps, want %d", sum, BpsScale)
	}
	return nil
}
