package keeper_test

import "cosmossdk.io/collections"

func joinRec(payer string, id uint64) collections.Pair[string, uint64] {
	return collections.Join(payer, id)
}
