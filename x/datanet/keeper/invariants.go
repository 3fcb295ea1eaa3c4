package keeper

import (
	"context"
	"fmt"

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

// StatsInvariant checks that each datanet's pending counter matches its contributions
// and that its stored Merkle root matches the tree.
func (k Keeper) StatsInvariant(ctx context.Context) error {
	pending := map[uint64]uint64{}
	iter, err := k.Contributions.Indexes.Status.MatchExact(ctx, int32(types.CONTRIBUTION_STATUS_PENDING))
	if err != nil {
		return err
	}
	defer iter.Close()
	for ; iter.Valid(); iter.Next() {
		id, err := iter.PrimaryKey()
		if err != nil {
			return err
		}
		c, err := k.Contributions.Get(ctx, id)
		if err != nil {
			return err
		}
		pending[c.DatanetId]++
	}
	return k.Datanets.Walk(ctx, nil, func(id uint64, d types.Datanet) (bool, error) {
		if d.Stats.PendingContributions != pending[id] {
			return true, fmt.Errorf("datanet %d: pending counter %d, pending contributions %d", id, d.Stats.PendingContributions, pending[id])
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
