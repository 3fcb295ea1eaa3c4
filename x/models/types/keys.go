package types

import "cosmossdk.io/collections"

const (
	// ModuleName is the module's name and its store key.
	ModuleName = "models"
	// StoreKey is the KV store key.
	StoreKey = ModuleName
)

// BpsScale is 100%: every split in basis points sums to it.
const BpsScale = 10_000

// Store prefixes. Each collection owns one byte; never reuse a retired one.
var (
	ParamsKey               = collections.NewPrefix(0)
	ModelSeqKey             = collections.NewPrefix(1)
	DeploymentSeqKey        = collections.NewPrefix(2)
	ModelsKey               = collections.NewPrefix(3)
	ModelsByOwnerKey        = collections.NewPrefix(4)
	VersionsKey             = collections.NewPrefix(5)
	DeploymentsKey          = collections.NewPrefix(6)
	DeploymentsByOwnerKey   = collections.NewPrefix(7)
	DeploymentsByModelKey   = collections.NewPrefix(8)
	DeploymentsByVersionKey = collections.NewPrefix(9)
	DeploymentsByStatusKey  = collections.NewPrefix(10)
	PriceQueueKey           = collections.NewPrefix(11)
	FeedbackSeqKey          = collections.NewPrefix(12)
	FeedbacksKey            = collections.NewPrefix(13)
	FeedbackByInferenceKey  = collections.NewPrefix(14)
	FeedbackByDeploymentKey = collections.NewPrefix(15)
	FeedbackCountsKey       = collections.NewPrefix(16)
)
