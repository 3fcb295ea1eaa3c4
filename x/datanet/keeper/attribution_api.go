package keeper

import (
	"context"

	"cosmossdk.io/collections"

	sdk "github.com/cosmos/cosmos-sdk/types"
)

// ContributionIDsOf returns up to limit ids of a contributor's contributions (any
// status), ascending from startID inclusive, for x/rewards' bounded, resumable claims.
func (k Keeper) ContributionIDsOf(ctx context.Context, contributor sdk.AccAddress, startID uint64, limit int) ([]uint64, error) {
	rng := collections.NewPrefixedPairRange[sdk.AccAddress, uint64](contributor).StartInclusive(startID)
	it, err := k.Contributions.Indexes.Contributor.Iterate(ctx, rng)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var ids []uint64
	for ; it.Valid() && len(ids) < limit; it.Next() {
		pk, err := it.PrimaryKey()
		if err != nil {
			return nil, err
		}
		ids = append(ids, pk)
	}
	return ids, nil
}
