package types

import "cosmossdk.io/collections"

const (
	// ModuleName is the module's name, its store key and its module account (which
	// holds accrued and pooled rewards; it has no permissions and is a blocked address).
	ModuleName = "rewards"
	// StoreKey is the KV store key.
	StoreKey = ModuleName
)

// Fixed scales of the split.
const (
	// BpsScale is 100% in basis points.
	BpsScale = 10_000
	// PpmScale is 100% in parts per million: a summary's weights sum to it.
	PpmScale = 1_000_000
	// RewardPerShareScaleDigits: a pool's reward_per_share is scaled by 10^18.
	RewardPerShareScaleDigits = 18
)

// Store prefixes. Each collection owns one byte; never reuse a retired one.
var (
	ParamsKey           = collections.NewPrefix(0)
	AccrualsKey         = collections.NewPrefix(1)
	PoolsKey            = collections.NewPrefix(2)
	CursorsKey          = collections.NewPrefix(3)
	RecordsKey          = collections.NewPrefix(4)
	PruneQueueKey       = collections.NewPrefix(5)
	DustKey             = collections.NewPrefix(6)
	ClaimCursorKey      = collections.NewPrefix(7)
	DeploymentTotalsKey = collections.NewPrefix(8)
	DatanetTotalsKey    = collections.NewPrefix(9)
)
