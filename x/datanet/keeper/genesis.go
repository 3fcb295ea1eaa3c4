package keeper

import (
	"bytes"
	"context"
	"encoding/hex"

	"cosmossdk.io/collections"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/datanet/types"
)

// InitGenesis loads a validated genesis state and checks it against itself: every
// accepted contribution's leaf is in its datanet's tree, roots and versions match
// the stored nodes, and the escrow account holds exactly the pending deposits.
func (k Keeper) InitGenesis(ctx context.Context, gs types.GenesisState) error {
	if err := gs.Validate(); err != nil {
		return err
	}
	if err := k.Params.Set(ctx, gs.Params); err != nil {
		return err
	}
	if err := k.DatanetSeq.Set(ctx, gs.NextDatanetId); err != nil {
		return err
	}
	if err := k.ContributionSeq.Set(ctx, gs.NextContributionId); err != nil {
		return err
	}
	for _, d := range gs.Datanets {
		if _, err := k.parseAddress("owner", d.Owner); err != nil {
			return err
		}
		// Curators are compared as strings: a non-canonical one could never review.
		for _, c := range d.Curation.Curators {
			if _, err := k.parseAddress("curators", c); err != nil {
				return err
			}
		}
		if err := k.Datanets.Set(ctx, d.Id, d); err != nil {
			return err
		}
	}
	for _, n := range gs.MerkleNodes {
		h, err := hex.DecodeString(n.Hash)
		if err != nil {
			return types.ErrInvalidGenesis.Wrapf("merkle node: %v", err)
		}
		if err := k.MerkleNodes.Set(ctx, collections.Join3(n.DatanetId, n.Level, n.Index), h); err != nil {
			return err
		}
	}
	for _, c := range gs.Contributions {
		if _, err := k.parseAddress("contributor", c.Contributor); err != nil {
			return err
		}
		if err := k.Contributions.Set(ctx, c.Id, c); err != nil {
			return err
		}
		if c.Status == types.CONTRIBUTION_STATUS_PENDING || c.Status == types.CONTRIBUTION_STATUS_ACCEPTED {
			if err := k.ContentIndex.Set(ctx, collections.Join(c.DatanetId, c.Sha256), c.Id); err != nil {
				return err
			}
		}
		if c.Status == types.CONTRIBUTION_STATUS_ACCEPTED {
			if err := k.checkLeaf(ctx, c); err != nil {
				return err
			}
		}
	}
	for _, r := range gs.Reviews {
		curator, err := k.parseAddress("curator", r.Curator)
		if err != nil {
			return err
		}
		if err := k.Reviews.Set(ctx, collections.Join(r.ContributionId, curator), r); err != nil {
			return err
		}
	}
	for _, v := range gs.DatasetVersions {
		root, err := types.Root(k.merkle(ctx, v.DatanetId), v.LeafCount)
		if err != nil {
			return types.ErrInvalidGenesis.Wrapf("datanet %d version %d: %v", v.DatanetId, v.Version, err)
		}
		if hex.EncodeToString(root) != v.Root {
			return types.ErrInvalidGenesis.Wrapf("datanet %d version %d: root does not match the tree", v.DatanetId, v.Version)
		}
		if err := k.Versions.Set(ctx, collections.Join(v.DatanetId, v.Version), v); err != nil {
			return err
		}
	}
	for _, cc := range gs.ContributorCounts {
		addr, err := k.parseAddress("contributor", cc.Contributor)
		if err != nil {
			return err
		}
		if err := k.ContributorCounts.Set(ctx, collections.Join(cc.DatanetId, addr), cc.Accepted); err != nil {
			return err
		}
	}
	for _, e := range gs.ExpiryQueue {
		if err := k.ExpiryQueue.Set(ctx, collections.Join(e.Deadline, e.ContributionId)); err != nil {
			return err
		}
	}
	if err := k.StatsInvariant(ctx); err != nil {
		return types.ErrInvalidGenesis.Wrap(err.Error())
	}
	if err := k.EscrowInvariant(ctx); err != nil {
		return types.ErrInvalidGenesis.Wrap(err.Error())
	}
	return nil
}

// checkLeaf verifies that an accepted contribution's leaf hash is stored at its index.
func (k Keeper) checkLeaf(ctx context.Context, c types.Contribution) error {
	want, err := k.leafHash(c)
	if err != nil {
		return err
	}
	have, err := k.merkle(ctx, c.DatanetId).GetNode(0, c.LeafIndex)
	if err != nil {
		return types.ErrInvalidGenesis.Wrapf("contribution %d: %v", c.Id, err)
	}
	if !bytes.Equal(want, have) {
		return types.ErrInvalidGenesis.Wrapf("contribution %d: leaf %d does not match its fields", c.Id, c.LeafIndex)
	}
	return nil
}

// ExportGenesis exports the whole module state, objects in key order.
func (k Keeper) ExportGenesis(ctx context.Context) (*types.GenesisState, error) {
	params, err := k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	gs := &types.GenesisState{Params: params}
	if gs.NextDatanetId, err = k.DatanetSeq.Peek(ctx); err != nil {
		return nil, err
	}
	if gs.NextContributionId, err = k.ContributionSeq.Peek(ctx); err != nil {
		return nil, err
	}
	err = k.Datanets.Walk(ctx, nil, func(_ uint64, d types.Datanet) (bool, error) {
		gs.Datanets = append(gs.Datanets, d)
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	err = k.Contributions.Walk(ctx, nil, func(_ uint64, c types.Contribution) (bool, error) {
		gs.Contributions = append(gs.Contributions, c)
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	err = k.Reviews.Walk(ctx, nil, func(_ collections.Pair[uint64, sdk.AccAddress], r types.Review) (bool, error) {
		gs.Reviews = append(gs.Reviews, r)
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	err = k.Versions.Walk(ctx, nil, func(_ collections.Pair[uint64, uint64], v types.DatasetVersion) (bool, error) {
		gs.DatasetVersions = append(gs.DatasetVersions, v)
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	err = k.MerkleNodes.Walk(ctx, nil, func(key collections.Triple[uint64, uint32, uint64], h []byte) (bool, error) {
		gs.MerkleNodes = append(gs.MerkleNodes, types.MerkleNode{
			DatanetId: key.K1(), Level: key.K2(), Index: key.K3(), Hash: hex.EncodeToString(h),
		})
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	err = k.ContributorCounts.Walk(ctx, nil, func(key collections.Pair[uint64, sdk.AccAddress], n uint64) (bool, error) {
		addr, err := k.addressCodec.BytesToString(key.K2())
		if err != nil {
			return true, err
		}
		gs.ContributorCounts = append(gs.ContributorCounts, types.ContributorCount{DatanetId: key.K1(), Contributor: addr, Accepted: n})
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	err = k.ExpiryQueue.Walk(ctx, nil, func(key collections.Pair[int64, uint64]) (bool, error) {
		gs.ExpiryQueue = append(gs.ExpiryQueue, types.ExpiryEntry{Deadline: key.K1(), ContributionId: key.K2()})
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	return gs, nil
}
