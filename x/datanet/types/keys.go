package types

import "cosmossdk.io/collections"

const (
	// ModuleName is the module's name, its store key and its module account.
	ModuleName = "datanet"
	// StoreKey is the KV store key.
	StoreKey = ModuleName
)

// Store prefixes. Each collection owns one byte; never reuse a retired one.
var (
	ParamsKey                 = collections.NewPrefix(0)
	DatanetSeqKey             = collections.NewPrefix(1)
	ContributionSeqKey        = collections.NewPrefix(2)
	DatanetsKey               = collections.NewPrefix(3)
	DatanetsByOwnerKey        = collections.NewPrefix(4)
	DatanetsByStatusKey       = collections.NewPrefix(5)
	ContributionsKey          = collections.NewPrefix(6)
	ContributionsByDatanetKey = collections.NewPrefix(7)
	ContributionsByAddrKey    = collections.NewPrefix(8)
	ContributionsByStatusKey  = collections.NewPrefix(9)
	ReviewsKey                = collections.NewPrefix(10)
	VersionsKey               = collections.NewPrefix(11)
	MerkleNodesKey            = collections.NewPrefix(12)
	ContributorCountsKey      = collections.NewPrefix(13)
	ExpiryQueueKey            = collections.NewPrefix(14)
	ContentIndexKey           = collections.NewPrefix(15)
)
