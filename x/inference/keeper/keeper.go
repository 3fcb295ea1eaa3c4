// Package keeper holds the inference market's state: providers with bonded stake
// and offers, jobs auctioned to providers with their bids and receipts, and
// interactive sessions paid by cumulative vouchers. Payments are split by x/rewards.
package keeper

import (
	"context"
	"errors"
	"fmt"

	"cosmossdk.io/collections"
	collcodec "cosmossdk.io/collections/codec"
	"cosmossdk.io/core/address"
	storetypes "cosmossdk.io/core/store"

	"github.com/cosmos/cosmos-sdk/codec"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/inference/types"
	"github.com/openledger/openledger/x/internal/fields"
)

// Key shapes used by the collections.
type (
	// OfferKey is (operator, deployment id).
	OfferKey = collections.Pair[sdk.AccAddress, uint64]
	// OfferPriceKey is (deployment id, price amount saturated to uint64, operator).
	OfferPriceKey = collections.Triple[uint64, uint64, sdk.AccAddress]
	// UnbondingKey is (operator, entry id).
	UnbondingKey = collections.Pair[sdk.AccAddress, uint64]
	// UnbondingQueueKey is (completion height, operator, entry id).
	UnbondingQueueKey = collections.Triple[int64, sdk.AccAddress, uint64]
	// BidKey is (job id, provider).
	BidKey = collections.Pair[uint64, sdk.AccAddress]
	// HeightID keys the height-ordered queues: (height, id).
	HeightID = collections.Pair[int64, uint64]
	// AddrID indexes objects by an address: (address, id).
	AddrID = collections.Pair[sdk.AccAddress, uint64]
	// TargetKey is (target kind, target id).
	TargetKey = collections.Pair[int32, uint64]
	// VoteKey is (dispute id, voter).
	VoteKey = collections.Pair[uint64, sdk.AccAddress]
)

// Keeper owns the inference store.
type Keeper struct {
	cdc          codec.BinaryCodec
	addressCodec address.Codec
	authority    string
	acct         types.AccountKeeper
	bank         types.BankKeeper
	distr        types.DistributionKeeper
	models       types.ModelsKeeper
	rewards      types.RewardsKeeper

	Schema collections.Schema
	Params collections.Item[types.Params]

	JobSeq        collections.Sequence
	SessionSeq    collections.Sequence
	SettlementSeq collections.Sequence // shared by job receipts and session settlements (x/rewards ids)
	BidSeq        collections.Sequence
	UnbondingSeq  collections.Sequence

	// Providers: operator → provider.
	Providers collections.Map[sdk.AccAddress, types.Provider]
	// ProvidersByStatus: (status, operator).
	ProvidersByStatus collections.KeySet[collections.Pair[int32, sdk.AccAddress]]
	// PeerIDs: libp2p peer id → operator (a peer id belongs to one provider).
	PeerIDs collections.Map[string, sdk.AccAddress]
	// Offers: (operator, deployment) → offer.
	Offers collections.Map[OfferKey, types.Offer]
	// OffersByPrice: (deployment, price, operator), cheapest first.
	OffersByPrice collections.KeySet[OfferPriceKey]
	// Unbondings: (operator, entry id) → entry.
	Unbondings collections.Map[UnbondingKey, types.UnbondingEntry]
	// UnbondingQueue: (completion height, operator, entry id).
	UnbondingQueue collections.KeySet[UnbondingQueueKey]

	// Jobs: id → job.
	Jobs collections.Map[uint64, types.Job]
	// JobsByStatus: (status, job id).
	JobsByStatus collections.KeySet[collections.Pair[int32, uint64]]
	// JobsByRequester: (requester, job id).
	JobsByRequester collections.KeySet[AddrID]
	// JobsByDeployment: (deployment, job id).
	JobsByDeployment collections.KeySet[collections.Pair[uint64, uint64]]
	// JobsByProvider: (winner, job id) for every job ever awarded to the provider.
	JobsByProvider collections.KeySet[AddrID]
	// Bids: (job id, provider) → bid of the current auction.
	Bids collections.Map[BidKey, types.Bid]
	// Receipts: job id → receipt.
	Receipts collections.Map[uint64, types.Receipt]
	// BidCloseQueue: (bid close height, job id) of OPEN jobs.
	BidCloseQueue collections.KeySet[HeightID]
	// DeadlineQueue: (deadline height, job id) of AWARDED jobs.
	DeadlineQueue collections.KeySet[HeightID]
	// JobFinalizeQueue: (challenge end height, job id) of PENDING receipts.
	JobFinalizeQueue collections.KeySet[HeightID]

	// Sessions: id → session.
	Sessions collections.Map[uint64, types.Session]
	// SessionsByRequester: (requester, session id).
	SessionsByRequester collections.KeySet[AddrID]
	// SessionsByProvider: (provider, session id).
	SessionsByProvider collections.KeySet[AddrID]
	// Settlements: settlement id → session settlement.
	Settlements collections.Map[uint64, types.SessionSettlement]
	// SettlementsBySession: (session id, settlement id).
	SettlementsBySession collections.KeySet[collections.Pair[uint64, uint64]]
	// SettlementFinalizeQueue: (challenge end height, settlement id) of PENDING settlements.
	SettlementFinalizeQueue collections.KeySet[HeightID]
	// SessionExpiryQueue: (expiry + grace height, session id) of OPEN sessions: closed automatically.
	SessionExpiryQueue collections.KeySet[HeightID]

	// Verification (verification.go).
	DisputeSeq collections.Sequence
	// Disputes: id → dispute.
	Disputes collections.Map[uint64, types.Dispute]
	// DisputesByTarget: (target kind, target id) → dispute id.
	DisputesByTarget collections.Map[TargetKey, uint64]
	// DisputesByStatus: (status, dispute id).
	DisputesByStatus collections.KeySet[collections.Pair[int32, uint64]]
	// DisputesByProvider: (accused provider, dispute id).
	DisputesByProvider collections.KeySet[AddrID]
	// DisputesByMember: (committee member, dispute id).
	DisputesByMember collections.KeySet[AddrID]
	// DisputeQueue: (height, dispute id): SELECTING disputes at their creation height
	// (the committee is drawn at the end of that block), VOTING ones at reveal_end_height.
	DisputeQueue collections.KeySet[HeightID]
	// Votes: (dispute id, voter) → vote record.
	Votes collections.Map[VoteKey, types.VoteRecord]
	// VerificationSlashes: (operator, dispute id) → slash.
	VerificationSlashes collections.Map[AddrID, types.VerificationSlash]
}

// NewKeeper builds the keeper. authority may update params (the governance module account).
func NewKeeper(
	cdc codec.BinaryCodec,
	storeService storetypes.KVStoreService,
	addressCodec address.Codec,
	authority string,
	ak types.AccountKeeper,
	bk types.BankKeeper,
	dk types.DistributionKeeper,
	mk types.ModelsKeeper,
	rk types.RewardsKeeper,
) Keeper {
	if _, err := addressCodec.StringToBytes(authority); err != nil {
		panic(fmt.Errorf("inference: invalid authority address %q: %w", authority, err))
	}
	sb := collections.NewSchemaBuilder(storeService)
	heightID := collections.PairKeyCodec(collections.Int64Key, collections.Uint64Key)
	addrID := collections.PairKeyCodec(sdk.AccAddressKey, collections.Uint64Key)
	k := Keeper{
		cdc: cdc, addressCodec: fields.FastAddressCodec(addressCodec), authority: authority,
		acct: ak, bank: bk, distr: dk, models: mk, rewards: rk,
		Params:        collections.NewItem(sb, types.ParamsKey, "params", codec.CollValue[types.Params](cdc)),
		JobSeq:        collections.NewSequence(sb, types.JobSeqKey, "job_seq"),
		SessionSeq:    collections.NewSequence(sb, types.SessionSeqKey, "session_seq"),
		SettlementSeq: collections.NewSequence(sb, types.SettlementSeqKey, "settlement_seq"),
		BidSeq:        collections.NewSequence(sb, types.BidSeqKey, "bid_seq"),
		UnbondingSeq:  collections.NewSequence(sb, types.UnbondingSeqKey, "unbonding_seq"),
		Providers: collections.NewMap(sb, types.ProvidersKey, "providers", sdk.AccAddressKey,
			codec.CollValue[types.Provider](cdc)),
		ProvidersByStatus: collections.NewKeySet(sb, types.ProvidersByStatusKey, "providers_by_status",
			collections.PairKeyCodec(collections.Int32Key, sdk.AccAddressKey)),
		PeerIDs: collections.NewMap(sb, types.PeerIDsKey, "peer_ids", collections.StringKey,
			collcodec.KeyToValueCodec(sdk.AccAddressKey)),
		Offers: collections.NewMap(sb, types.OffersKey, "offers",
			collections.PairKeyCodec(sdk.AccAddressKey, collections.Uint64Key), codec.CollValue[types.Offer](cdc)),
		OffersByPrice: collections.NewKeySet(sb, types.OffersByPriceKey, "offers_by_price",
			collections.TripleKeyCodec(collections.Uint64Key, collections.Uint64Key, sdk.AccAddressKey)),
		Unbondings: collections.NewMap(sb, types.UnbondingsKey, "unbondings",
			collections.PairKeyCodec(sdk.AccAddressKey, collections.Uint64Key), codec.CollValue[types.UnbondingEntry](cdc)),
		UnbondingQueue: collections.NewKeySet(sb, types.UnbondingQueueKey, "unbonding_queue",
			collections.TripleKeyCodec(collections.Int64Key, sdk.AccAddressKey, collections.Uint64Key)),
		Jobs: collections.NewMap(sb, types.JobsKey, "jobs", collections.Uint64Key, codec.CollValue[types.Job](cdc)),
		JobsByStatus: collections.NewKeySet(sb, types.JobsByStatusKey, "jobs_by_status",
			collections.PairKeyCodec(collections.Int32Key, collections.Uint64Key)),
		JobsByRequester: collections.NewKeySet(sb, types.JobsByRequesterKey, "jobs_by_requester", addrID),
		JobsByDeployment: collections.NewKeySet(sb, types.JobsByDeploymentKey, "jobs_by_deployment",
			collections.PairKeyCodec(collections.Uint64Key, collections.Uint64Key)),
		JobsByProvider: collections.NewKeySet(sb, types.JobsByProviderKey, "jobs_by_provider", addrID),
		Bids: collections.NewMap(sb, types.BidsKey, "bids",
			collections.PairKeyCodec(collections.Uint64Key, sdk.AccAddressKey), codec.CollValue[types.Bid](cdc)),
		Receipts:         collections.NewMap(sb, types.ReceiptsKey, "receipts", collections.Uint64Key, codec.CollValue[types.Receipt](cdc)),
		BidCloseQueue:    collections.NewKeySet(sb, types.BidCloseQueueKey, "bid_close_queue", heightID),
		DeadlineQueue:    collections.NewKeySet(sb, types.DeadlineQueueKey, "deadline_queue", heightID),
		JobFinalizeQueue: collections.NewKeySet(sb, types.JobFinalizeQueueKey, "job_finalize_queue", heightID),
		Sessions: collections.NewMap(sb, types.SessionsKey, "sessions", collections.Uint64Key,
			codec.CollValue[types.Session](cdc)),
		SessionsByRequester: collections.NewKeySet(sb, types.SessionsByRequesterKey, "sessions_by_requester", addrID),
		SessionsByProvider:  collections.NewKeySet(sb, types.SessionsByProviderKey, "sessions_by_provider", addrID),
		Settlements: collections.NewMap(sb, types.SettlementsKey, "settlements", collections.Uint64Key,
			codec.CollValue[types.SessionSettlement](cdc)),
		SettlementsBySession: collections.NewKeySet(sb, types.SettlementsBySessionKey, "settlements_by_session",
			collections.PairKeyCodec(collections.Uint64Key, collections.Uint64Key)),
		SettlementFinalizeQueue: collections.NewKeySet(sb, types.SettlementFinalizeQueKey, "settlement_finalize_queue", heightID),
		SessionExpiryQueue:      collections.NewKeySet(sb, types.SessionExpiryQueueKey, "session_expiry_queue", heightID),
		DisputeSeq:              collections.NewSequence(sb, types.DisputeSeqKey, "dispute_seq"),
		Disputes: collections.NewMap(sb, types.DisputesKey, "disputes", collections.Uint64Key,
			codec.CollValue[types.Dispute](cdc)),
		DisputesByTarget: collections.NewMap(sb, types.DisputesByTargetKey, "disputes_by_target",
			collections.PairKeyCodec(collections.Int32Key, collections.Uint64Key), collections.Uint64Value),
		DisputesByStatus: collections.NewKeySet(sb, types.DisputesByStatusKey, "disputes_by_status",
			collections.PairKeyCodec(collections.Int32Key, collections.Uint64Key)),
		DisputesByProvider: collections.NewKeySet(sb, types.DisputesByProviderKey, "disputes_by_provider", addrID),
		DisputesByMember:   collections.NewKeySet(sb, types.DisputesByMemberKey, "disputes_by_member", addrID),
		DisputeQueue:       collections.NewKeySet(sb, types.DisputeQueueKey, "dispute_queue", heightID),
		Votes: collections.NewMap(sb, types.VotesKey, "votes",
			collections.PairKeyCodec(collections.Uint64Key, sdk.AccAddressKey), codec.CollValue[types.VoteRecord](cdc)),
		VerificationSlashes: collections.NewMap(sb, types.VerificationSlashesKey, "verification_slashes", addrID,
			codec.CollValue[types.VerificationSlash](cdc)),
	}
	schema, err := sb.Build()
	if err != nil {
		panic(err)
	}
	k.Schema = schema
	return k
}

// Authority is the address allowed to update params.
func (k Keeper) Authority() string { return k.authority }

// ModuleAddress is the module account holding escrows, deposits and stakes.
func (k Keeper) ModuleAddress() sdk.AccAddress { return k.acct.GetModuleAddress(types.ModuleName) }

// AddressCodec is the chain's account address codec.
func (k Keeper) AddressCodec() address.Codec { return k.addressCodec }

func isNotFound(err error) bool { return errors.Is(err, collections.ErrNotFound) }

// parseAddress decodes a bech32 account address, naming the field on error.
func (k Keeper) parseAddress(field, s string) (sdk.AccAddress, error) {
	if s == "" {
		return nil, types.ErrInvalidAddress.Wrapf("%s: must not be empty", field)
	}
	b, err := k.addressCodec.StringToBytes(s)
	if err != nil {
		return nil, types.ErrInvalidAddress.Wrapf("%s: %v", field, err)
	}
	return b, nil
}

// addrString encodes an address known to be valid.
func (k Keeper) addrString(a sdk.AccAddress) string {
	s, err := k.addressCodec.BytesToString(a)
	if err != nil {
		return ""
	}
	return s
}

// height is the current block height.
func height(ctx context.Context) int64 { return sdk.UnwrapSDKContext(ctx).BlockHeight() }
