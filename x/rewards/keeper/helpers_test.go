package keeper_test

import "cosmossdk.io/collections"

func joinRec(payer string, id uint64) collections.Pair[string, uint64] {
	return collections.Join(payer, id)
}

func joinPool(datanet, version uint64) collections.Pair[uint64, uint64] {
	return collections.Join(datanet, version)
}
