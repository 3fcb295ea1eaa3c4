package keeper

import (
	"context"
	"math"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/inference/types"
)

// The setters below are the only writers of the objects that have indexes: each
// keeps its indexes in step with the stored value.

// GetProvider returns a provider or ErrProviderNotFound.
func (k Keeper) GetProvider(ctx context.Context, operator sdk.AccAddress) (types.Provider, error) {
	p, err := k.Providers.Get(ctx, operator)
	if isNotFound(err) {
		return types.Provider{}, types.ErrProviderNotFound.Wrapf("%s", k.addrString(operator))
	}
	return p, err
}

// setProvider stores p and moves its status index from old (nil: new provider).
func (k Keeper) setProvider(ctx context.Context, operator sdk.AccAddress, old *types.Provider, p types.Provider) error {
	if old != nil && old.Status != p.Status {
		if err := k.ProvidersByStatus.Remove(ctx, collections.Join(int32(old.Status), operator)); err != nil {
			return err
		}
	}
	if old != nil && old.PeerId != p.PeerId {
		if err := k.PeerIDs.Remove(ctx, old.PeerId); err != nil {
			return err
		}
	}
	if err := k.ProvidersByStatus.Set(ctx, collections.Join(int32(p.Status), operator)); err != nil {
		return err
	}
	if err := k.PeerIDs.Set(ctx, p.PeerId, operator); err != nil {
		return err
	}
	return k.Providers.Set(ctx, operator, p)
}

// priceKey saturates a price amount to uint64 for the price index (prices beyond
// 2^64-1 base units sort last among themselves by operator).
func priceKey(amt sdkmath.Int) uint64 {
	if amt.IsUint64() {
		return amt.Uint64()
	}
	return math.MaxUint64
}

// GetOffer returns an offer or ErrOfferNotFound.
func (k Keeper) GetOffer(ctx context.Context, operator sdk.AccAddress, deploymentID uint64) (types.Offer, error) {
	o, err := k.Offers.Get(ctx, collections.Join(operator, deploymentID))
	if isNotFound(err) {
		return types.Offer{}, types.ErrOfferNotFound.Wrapf("provider %s has no offer for deployment %d", k.addrString(operator), deploymentID)
	}
	return o, err
}

// setOffer stores o and its price index entry.
func (k Keeper) setOffer(ctx context.Context, operator sdk.AccAddress, o types.Offer) error {
	key := collections.Join(operator, o.DeploymentId)
	old, err := k.Offers.Get(ctx, key)
	switch {
	case err == nil:
		if err := k.OffersByPrice.Remove(ctx, collections.Join3(o.DeploymentId, priceKey(old.ComputePricePerThousandTokens.Amount), operator)); err != nil {
			return err
		}
	case !isNotFound(err):
		return err
	}
	if err := k.OffersByPrice.Set(ctx, collections.Join3(o.DeploymentId, priceKey(o.ComputePricePerThousandTokens.Amount), operator)); err != nil {
		return err
	}
	return k.Offers.Set(ctx, key, o)
}

// removeOffer deletes an offer and its price index entry.
func (k Keeper) removeOffer(ctx context.Context, operator sdk.AccAddress, deploymentID uint64) error {
	o, err := k.GetOffer(ctx, operator, deploymentID)
	if err != nil {
		return err
	}
	if err := k.OffersByPrice.Remove(ctx, collections.Join3(deploymentID, priceKey(o.ComputePricePerThousandTokens.Amount), operator)); err != nil {
		return err
	}
	return k.Offers.Remove(ctx, collections.Join(operator, deploymentID))
}

// GetJob returns a job or ErrJobNotFound.
func (k Keeper) GetJob(ctx context.Context, id uint64) (types.Job, error) {
	j, err := k.Jobs.Get(ctx, id)
	if isNotFound(err) {
		return types.Job{}, types.ErrJobNotFound.Wrapf("job %d", id)
	}
	return j, err
}

// setJob stores j and keeps its indexes: status always, requester and deployment
// when new (old nil), provider whenever a winner is set.
func (k Keeper) setJob(ctx context.Context, old *types.Job, j types.Job) error {
	if old == nil {
		requester, err := k.parseAddress("requester", j.Requester)
		if err != nil {
			return err
		}
		if err := k.JobsByRequester.Set(ctx, collections.Join(requester, j.Id)); err != nil {
			return err
		}
		if err := k.JobsByDeployment.Set(ctx, collections.Join(j.DeploymentId, j.Id)); err != nil {
			return err
		}
	} else if old.Status != j.Status {
		if err := k.JobsByStatus.Remove(ctx, collections.Join(int32(old.Status), j.Id)); err != nil {
			return err
		}
	}
	if err := k.JobsByStatus.Set(ctx, collections.Join(int32(j.Status), j.Id)); err != nil {
		return err
	}
	if j.Winner != "" && (old == nil || old.Winner != j.Winner) {
		winner, err := k.parseAddress("winner", j.Winner)
		if err != nil {
			return err
		}
		if err := k.JobsByProvider.Set(ctx, collections.Join(winner, j.Id)); err != nil {
			return err
		}
	}
	return k.Jobs.Set(ctx, j.Id, j)
}

// GetSession returns a session or ErrSessionNotFound.
func (k Keeper) GetSession(ctx context.Context, id uint64) (types.Session, error) {
	s, err := k.Sessions.Get(ctx, id)
	if isNotFound(err) {
		return types.Session{}, types.ErrSessionNotFound.Wrapf("session %d", id)
	}
	return s, err
}

// setSession stores s; a new session (isNew) is indexed by requester and provider.
func (k Keeper) setSession(ctx context.Context, isNew bool, s types.Session) error {
	if isNew {
		requester, err := k.parseAddress("requester", s.Requester)
		if err != nil {
			return err
		}
		provider, err := k.parseAddress("provider", s.Provider)
		if err != nil {
			return err
		}
		if err := k.SessionsByRequester.Set(ctx, collections.Join(requester, s.Id)); err != nil {
			return err
		}
		if err := k.SessionsByProvider.Set(ctx, collections.Join(provider, s.Id)); err != nil {
			return err
		}
	}
	return k.Sessions.Set(ctx, s.Id, s)
}

// SessionBalance is what the module holds for a session: deposit − paid − refunded.
func SessionBalance(s types.Session) sdkmath.Int {
	return s.Deposit.Amount.Sub(s.Paid).Sub(s.Refunded)
}

// nextSettlementID draws an id shared by job receipts and session settlements.
func (k Keeper) nextSettlementID(ctx context.Context) (uint64, error) {
	return k.SettlementSeq.Next(ctx)
}
