package keeper

import (
	"context"
	"fmt"

	"cosmossdk.io/collections"
	"cosmossdk.io/collections/indexes"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/datanet/types"
)

// pendingDepositTotal sums the deposits of pending contributions, optionally of one
// contributor (walking that contributor's index instead of every pending item).
func (k Keeper) pendingDepositTotal(ctx context.Context, contributor sdk.AccAddress) (sdk.Coins, error) {
	var (
		iter indexes.MultiIterator[int32, uint64]
		ids  []uint64
		err  error
	)
	if contributor != nil {
		citer, err := k.Contributions.Indexes.Contributor.MatchExact(ctx, contributor)
		if err != nil {
			return nil, err
		}
		ids, err = citer.PrimaryKeys()
		if err != nil {
			return nil, err
		}
	} else {
		if iter, err = k.Contributions.Indexes.Status.MatchExact(ctx, int32(types.CONTRIBUTION_STATUS_PENDING)); err != nil {
			return nil, err
		}
		if ids, err = iter.PrimaryKeys(); err != nil {
			return nil, err
		}
	}
	total := sdk.NewCoins()
	for _, id := range ids {
		c, err := k.Contributions.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if c.Status == types.CONTRIBUTION_STATUS_PENDING {
			total = total.Add(c.Deposit)
		}
	}
	return total, nil
}

// EscrowInvariant checks that the module account holds exactly the sum of pending
// deposits. It returns a description of the breach, or nil. Tests and simulations
// call it after every block (x/crisis is gone from the SDK).
func (k Keeper) EscrowInvariant(ctx context.Context) error {
	want, err := k.pendingDepositTotal(ctx, nil)
	if err != nil {
		return err
	}
	have := k.bank.GetAllBalances(ctx, k.ModuleAddress())
	if !have.Equal(want) {
		return fmt.Errorf("datanet escrow: module account holds %s, pending deposits sum to %s", have, want)
	}
	return nil
}

// datanetTally is what a datanet's stats must say, recounted from its objects.
type datanetTally struct {
	pending, accepted, rejected, bytes, shares, versions, distinct, counted uint64
}

// StatsInvariant checks each datanet's stats against its objects (pending, accepted
// and rejected contributions, accepted bytes, distinct contributors, versions) and
// that its stored Merkle root matches the tree.
func (k Keeper) StatsInvariant(ctx context.Context) error {
	tally := map[uint64]*datanetTally{}
	get := func(id uint64) *datanetTally {
		if tally[id] == nil {
			tally[id] = &datanetTally{}
		}
		return tally[id]
	}
	for _, st := range []types.ContributionStatus{
		types.CONTRIBUTION_STATUS_PENDING, types.CONTRIBUTION_STATUS_ACCEPTED, types.CONTRIBUTION_STATUS_REJECTED,
	} {
		iter, err := k.Contributions.Indexes.Status.MatchExact(ctx, int32(st))
		if err != nil {
			return err
		}
		ids, err := iter.PrimaryKeys()
		if err != nil {
			return err
		}
		for _, id := range ids {
			c, err := k.Contributions.Get(ctx, id)
			if err != nil {
				return err
			}
			t := get(c.DatanetId)
			switch st {
			case types.CONTRIBUTION_STATUS_PENDING:
				t.pending++
			case types.CONTRIBUTION_STATUS_ACCEPTED:
				t.accepted++
				t.bytes += c.SizeBytes
				t.shares += c.Shares
			default:
				t.rejected++
			}
		}
	}
	err := k.ContributorCounts.Walk(ctx, nil, func(key collections.Pair[uint64, sdk.AccAddress], n uint64) (bool, error) {
		t := get(key.K1())
		t.distinct++
		t.counted += n
		return false, nil
	})
	if err != nil {
		return err
	}
	err = k.Versions.Walk(ctx, nil, func(key collections.Pair[uint64, uint64], _ types.DatasetVersion) (bool, error) {
		get(key.K1()).versions++
		return false, nil
	})
	if err != nil {
		return err
	}
	return k.Datanets.Walk(ctx, nil, func(id uint64, d types.Datanet) (bool, error) {
		t, s := get(id), d.Stats
		if s.PendingContributions != t.pending {
			return true, fmt.Errorf("datanet %d: pending counter %d, pending contributions %d", id, s.PendingContributions, t.pending)
		}
		if s.AcceptedContributions != t.accepted || s.AcceptedBytes != t.bytes || s.RejectedContributions != t.rejected {
			return true, fmt.Errorf("datanet %d: stats say %d accepted (%d bytes), %d rejected; contributions say %d (%d bytes), %d",
				id, s.AcceptedContributions, s.AcceptedBytes, s.RejectedContributions, t.accepted, t.bytes, t.rejected)
		}
		if s.AcceptedShares != t.shares {
			return true, fmt.Errorf("datanet %d: stats say %d accepted shares; contributions say %d", id, s.AcceptedShares, t.shares)
		}
		if s.DistinctContributors != t.distinct || t.counted != t.accepted {
			return true, fmt.Errorf("datanet %d: %d distinct contributors, %d contributor counts summing to %d for %d accepted",
				id, s.DistinctContributors, t.distinct, t.counted, t.accepted)
		}
		if s.Versions != t.versions {
			return true, fmt.Errorf("datanet %d: versions counter %d, %d versions stored", id, s.Versions, t.versions)
		}
		root, err := types.Root(k.merkle(ctx, id), d.Stats.AcceptedContributions)
		if err != nil {
			return true, err
		}
		if fmt.Sprintf("%x", root) != d.MerkleRoot {
			return true, fmt.Errorf("datanet %d: stored root %s, tree root %x", id, d.MerkleRoot, root)
		}
		return false, nil
	})
}
