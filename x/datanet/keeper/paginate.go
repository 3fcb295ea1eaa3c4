package keeper

import (
	"context"

	"cosmossdk.io/collections"
	"cosmossdk.io/collections/indexes"

	"github.com/cosmos/cosmos-sdk/types/query"
)

// paginateIndex pages through the primary keys a Multi index holds for one
// reference key, keeping only those whose value passes keep.
func paginateIndex[R, V any](
	ctx context.Context,
	idx *indexes.Multi[R, uint64, V],
	ref R,
	page *query.PageRequest,
	get func(context.Context, uint64) (V, error),
	keep func(V) bool,
) ([]uint64, *query.PageResponse, error) {
	return query.CollectionFilteredPaginate(ctx, idx, page,
		func(key collections.Pair[R, uint64], _ collections.NoValue) (bool, error) {
			v, err := get(ctx, key.K2())
			if err != nil {
				return false, err
			}
			return keep(v), nil
		},
		func(key collections.Pair[R, uint64], _ collections.NoValue) (uint64, error) { return key.K2(), nil },
		query.WithCollectionPaginationPairPrefix[R, uint64](ref),
	)
}
