// Package bidder decides and places the provider's bids.
//
// Decide is a pure function: for an announced job of a deployment the provider
// offers, the current load and the price policy, it returns the bid price or the
// reason not to bid. Service consumes the follower's events, records each job and
// its bid in the store before acting, and submits MsgBid through the chain client.
package bidder

import (
	"fmt"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
)

// Policy is the price policy (from config.Price and config.Bid).
type Policy struct {
	// MarkupBPSPerLoad: at full load the bid is base × (1 + markup/10,000).
	MarkupBPSPerLoad uint32
	// MaxConcurrency is the total slot count, all deployments together.
	MaxConcurrency uint32
	// RefuseWhenSaturated skips jobs while all slots are busy.
	RefuseWhenSaturated bool
	// MarginBlocks skips auctions closing in fewer blocks than this.
	MarginBlocks int64
	// Deployments the provider offers, by id.
	Deployments map[uint64]Offer
}

// Offer is the provider's terms for one deployment.
type Offer struct {
	// Base is the bid per 1,000 tokens at zero load.
	Base sdk.Coin
	// Floor is the lowest acceptable bid.
	Floor sdk.Coin
	// MaxConcurrency bounds this deployment's jobs (0: only the global bound).
	MaxConcurrency uint32
}

// Job is what the bidder needs of an announced job.
type Job struct {
	ID             uint64
	DeploymentID   uint64
	Requester      string
	MaxPrice       sdk.Coin
	BidCloseHeight int64
}

// Load is what the provider is busy with: jobs won or bid on and not finished.
type Load struct {
	Running      uint32
	ByDeployment map[uint64]uint32
}

// Decision is Decide's answer.
type Decision struct {
	Bid    bool
	Price  sdk.Coin
	Reason string
}

// Reasons not to bid.
const (
	ReasonNotOffered   = "deployment not offered"
	ReasonOwnJob       = "own job"
	ReasonClosing      = "auction closes too soon"
	ReasonSaturated    = "saturated"
	ReasonDenom        = "price denom differs from the job's"
	ReasonBelowFloor   = "job's max price is below the floor"
	ReasonInvalidPrice = "invalid price"
)

func refuse(reason string) Decision { return Decision{Reason: reason} }

// Decide returns the bid for job at height `height` given load, or why not:
//
//	price = ceil(base × (1 + markup/10,000 × running/max_concurrency)),
//	capped at the job's max price, and never below the offer's floor.
//
// With RefuseWhenSaturated, a full provider (or deployment) does not bid;
// without it, load is capped at 1.
func Decide(p Policy, job Job, load Load, self string, height int64) Decision {
	offer, ok := p.Deployments[job.DeploymentID]
	if !ok {
		return refuse(ReasonNotOffered)
	}
	if self != "" && job.Requester == self {
		return refuse(ReasonOwnJob)
	}
	if job.BidCloseHeight-height < p.MarginBlocks {
		return refuse(ReasonClosing)
	}
	if !offer.Base.IsValid() || !offer.Base.IsPositive() || !offer.Floor.IsValid() || !job.MaxPrice.IsValid() || p.MaxConcurrency == 0 {
		return refuse(ReasonInvalidPrice)
	}
	if offer.Base.Denom != job.MaxPrice.Denom || offer.Floor.Denom != job.MaxPrice.Denom {
		return refuse(ReasonDenom)
	}
	running, slots := load.Running, p.MaxConcurrency
	saturated := running >= slots
	if offer.MaxConcurrency > 0 && load.ByDeployment[job.DeploymentID] >= offer.MaxConcurrency {
		saturated = true
	}
	if saturated {
		if p.RefuseWhenSaturated {
			return refuse(ReasonSaturated)
		}
		running = slots
	}
	// base × (10,000 × slots + markup × running) / (10,000 × slots), rounded up.
	den := sdkmath.NewIntFromUint64(10_000 * uint64(slots))
	num := offer.Base.Amount.Mul(den.Add(sdkmath.NewIntFromUint64(uint64(p.MarkupBPSPerLoad) * uint64(running))))
	price := num.Add(den).SubRaw(1).Quo(den)
	if price.GT(job.MaxPrice.Amount) {
		price = job.MaxPrice.Amount
	}
	if price.LT(offer.Floor.Amount) {
		return refuse(ReasonBelowFloor)
	}
	return Decision{Bid: true, Price: sdk.NewCoin(job.MaxPrice.Denom, price)}
}

// String renders a decision for logs.
func (d Decision) String() string {
	if d.Bid {
		return fmt.Sprintf("bid %s", d.Price)
	}
	return "no bid: " + d.Reason
}
