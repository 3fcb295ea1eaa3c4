package types

import "cosmossdk.io/collections"

const (
	// ModuleName is the module's name, its store key and its module account: it
	// holds job escrows, session deposits and provider stakes.
	ModuleName = "inference"
	// StoreKey is the KV store key.
	StoreKey = ModuleName
	// TokensPerPrice is the token count prices are quoted for (per 1,000 tokens).
	TokensPerPrice = 1_000
	// BpsScale is 100%.
	BpsScale = 10_000
)

// Store prefixes. Each collection owns one byte; never reuse a retired one.
var (
	ParamsKey                = collections.NewPrefix(0)
	JobSeqKey                = collections.NewPrefix(1)
	SessionSeqKey            = collections.NewPrefix(2)
	SettlementSeqKey         = collections.NewPrefix(3)
	BidSeqKey                = collections.NewPrefix(4)
	UnbondingSeqKey          = collections.NewPrefix(5)
	ProvidersKey             = collections.NewPrefix(10)
	ProvidersByStatusKey     = collections.NewPrefix(11)
	PeerIDsKey               = collections.NewPrefix(12)
	OffersKey                = collections.NewPrefix(13)
	OffersByPriceKey         = collections.NewPrefix(14)
	UnbondingsKey            = collections.NewPrefix(15)
	UnbondingQueueKey        = collections.NewPrefix(16)
	JobsKey                  = collections.NewPrefix(20)
	JobsByStatusKey          = collections.NewPrefix(21)
	JobsByRequesterKey       = collections.NewPrefix(22)
	JobsByDeploymentKey      = collections.NewPrefix(23)
	JobsByProviderKey        = collections.NewPrefix(24)
	BidsKey                  = collections.NewPrefix(25)
	ReceiptsKey              = collections.NewPrefix(26)
	BidCloseQueueKey         = collections.NewPrefix(27)
	DeadlineQueueKey         = collections.NewPrefix(28)
	JobFinalizeQueueKey      = collections.NewPrefix(29)
	SessionsKey              = collections.NewPrefix(30)
	SessionsByRequesterKey   = collections.NewPrefix(31)
	SessionsByProviderKey    = collections.NewPrefix(32)
	SettlementsKey           = collections.NewPrefix(33)
	SettlementsBySessionKey  = collections.NewPrefix(34)
	SettlementFinalizeQueKey = collections.NewPrefix(35)
	SessionExpiryQueueKey    = collections.NewPrefix(36)
	DisputeSeqKey            = collections.NewPrefix(40)
	DisputesKey              = collections.NewPrefix(41)
	DisputesByTargetKey      = collections.NewPrefix(42)
	DisputesByStatusKey      = collections.NewPrefix(43)
	DisputesByProviderKey    = collections.NewPrefix(44)
	DisputesByMemberKey      = collections.NewPrefix(45)
	DisputeQueueKey          = collections.NewPrefix(46)
	VotesKey                 = collections.NewPrefix(47)
	VerificationSlashesKey   = collections.NewPrefix(48)
)
