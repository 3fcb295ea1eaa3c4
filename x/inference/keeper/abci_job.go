package keeper

import (
	"context"
	"slices"

	"cosmossdk.io/collections"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/inference/types"
)

// processJobQueues closes due auctions, handles missed deadlines and finalises
// receipts whose challenge window ended; each queue visits at most limit items.
func (k Keeper) processJobQueues(ctx context.Context, params types.Params, limit int) error {
	if _, err := k.drainQueue(ctx, k.BidCloseQueue, limit, "bid_close", k.closeAuction); err != nil {
		return err
	}
	if _, err := k.drainQueue(ctx, k.DeadlineQueue, limit, "deadline", func(ctx sdk.Context, id uint64) error {
		return k.missDeadline(ctx, params, id)
	}); err != nil {
		return err
	}
	_, err := k.drainQueue(ctx, k.JobFinalizeQueue, limit, "job_finalize", func(ctx sdk.Context, id uint64) error {
		return k.finalizeJob(ctx, params, id)
	})
	return err
}

// closeAuction awards an OPEN job to its best bid from a still ACTIVE provider
// (lowest price, then higher bonded stake, then the earlier bid), or expires and
// refunds it when there is none.
func (k Keeper) closeAuction(ctx sdk.Context, id uint64) error {
	j, err := k.GetJob(ctx, id)
	if err != nil {
		return err
	}
	if j.Status != types.JOB_STATUS_OPEN {
		return nil
	}
	ranks, statuses, err := k.rankedBids(ctx, id)
	if err != nil {
		return err
	}
	win := -1
	for i := range ranks {
		if statuses[i] == types.PROVIDER_STATUS_ACTIVE {
			win = i
			break
		}
	}
	if win < 0 {
		_, err := k.refundJob(ctx, j, types.JOB_STATUS_EXPIRED)
		return err
	}
	b := ranks[win].bid
	old := j
	h := ctx.BlockHeight()
	j.Status = types.JOB_STATUS_AWARDED
	j.Winner = b.Provider
	j.WinningPrice = b.Price
	j.AwardedHeight = h
	j.DeadlineHeight = h + int64(j.ExecutionBlocks)
	if err := k.setJob(ctx, &old, j); err != nil {
		return err
	}
	if err := k.DeadlineQueue.Set(ctx, collections.Join(j.DeadlineHeight, id)); err != nil {
		return err
	}
	return marketEmit(ctx, &types.EventJobAwarded{
		JobId: id, Winner: j.Winner, Price: j.WinningPrice, DeadlineHeight: j.DeadlineHeight, Bids: j.BidCount,
	})
}

// missDeadline punishes an AWARDED job's winner that posted no receipt in time
// (slash deadline_slash_bps of its stake, count the miss, jail after
// jail_after_misses) and re-auctions the job without it, or fails and refunds the
// job once max_reauctions re-auctions were held.
func (k Keeper) missDeadline(ctx sdk.Context, params types.Params, id uint64) error {
	j, err := k.GetJob(ctx, id)
	if err != nil {
		return err
	}
	if j.Status != types.JOB_STATUS_AWARDED {
		return nil
	}
	winner, err := k.parseAddress("winner", j.Winner)
	if err != nil {
		return err
	}
	// A failed slash must not strand the job: it runs in its own cache context and
	// its failure is logged.
	slashCtx, write := ctx.CacheContext()
	if _, err := k.Slash(slashCtx, winner, params.DeadlineSlashBps, reasonMissedDeadline, id); err != nil {
		ctx.Logger().Error("inference: deadline slash failed", "job", id, "provider", j.Winner, "err", err)
	} else {
		write()
	}
	p, err := k.GetProvider(ctx, winner)
	if err != nil {
		return err
	}
	old := p
	p.MissedDeadlines++
	if err := k.setProvider(ctx, winner, &old, p); err != nil {
		return err
	}
	if params.JailAfterMisses > 0 && p.MissedDeadlines >= uint64(params.JailAfterMisses) {
		if err := k.Jail(ctx, winner, reasonMissedDeadline); err != nil {
			return err
		}
	}
	oldJob, defaulted := j, j.Winner
	j.Excluded = append(slices.Clone(j.Excluded), defaulted)
	if j.Auctions > params.MaxReauctions {
		_, err := k.refundJob(ctx, j, types.JOB_STATUS_FAILED)
		return err
	}
	j.Status = types.JOB_STATUS_OPEN
	j.Auctions++
	j.Winner = ""
	j.WinningPrice = marketZero(j.WinningPrice.Denom)
	j.AwardedHeight, j.DeadlineHeight = 0, 0
	j.BidCount = 0
	j.BidCloseHeight = ctx.BlockHeight() + int64(j.BidWindowBlocks)
	if err := k.setJob(ctx, &oldJob, j); err != nil {
		return err
	}
	if err := k.dropBids(ctx, id); err != nil {
		return err
	}
	if err := k.BidCloseQueue.Set(ctx, collections.Join(j.BidCloseHeight, id)); err != nil {
		return err
	}
	return marketEmit(ctx, &types.EventJobReauctioned{JobId: id, Defaulted: defaulted, BidCloseHeight: j.BidCloseHeight})
}

// finalizeJob pays a PENDING job whose challenge window ended (a CHALLENGED one
// waits for its verdict; one drawn for a random audit becomes CHALLENGED): compute and royalty through x/rewards, the rest of the
// escrow back to the requester. If x/rewards refuses the settlement, compute is
// paid to the provider directly and the royalty refunded (see the job accounting
// comment in job.go).
func (k Keeper) finalizeJob(ctx sdk.Context, params types.Params, id uint64) error {
	j, err := k.GetJob(ctx, id)
	if err != nil {
		return err
	}
	if j.Status != types.JOB_STATUS_PENDING {
		return nil
	}
	if audited, err := k.maybeAudit(ctx, params, types.TARGET_KIND_JOB_RECEIPT, id); err != nil || audited {
		return err
	}
	r, err := k.Receipts.Get(ctx, id)
	if err != nil {
		return err
	}
	winner, err := k.parseAddress("winner", j.Winner)
	if err != nil {
		return err
	}
	requester, err := k.parseAddress("requester", j.Requester)
	if err != nil {
		return err
	}
	denom := j.Escrow.Denom
	compute, royalty := jobPayment(j, r.PromptTokens+r.CompletionTokens)
	paid := compute.Add(royalty)
	var settlementID uint64
	if paid.IsPositive() {
		if settlementID, err = k.nextSettlementID(ctx); err != nil {
			return err
		}
		_, serr := k.rewards.Settle(ctx, types.ModuleName, settlementID, winner,
			sdk.NewCoin(denom, compute), sdk.NewCoin(denom, royalty), j.DeploymentId, r.Summary)
		if serr != nil {
			// Fallback: compute to the provider, the royalty back with the rest.
			ctx.Logger().Error("inference: job settlement refused; paying compute directly", "job", id, "err", serr)
			settlementID, paid = 0, compute
			if compute.IsPositive() {
				if err := k.bank.SendCoinsFromModuleToAccount(ctx, types.ModuleName, winner, sdk.NewCoins(sdk.NewCoin(denom, compute))); err != nil {
					return err
				}
			}
			if err := ctx.EventManager().EmitTypedEvent(&types.EventSettlementFallback{
				JobId: id, ComputePaid: sdk.NewCoin(denom, compute), RoyaltyRefunded: sdk.NewCoin(denom, royalty),
				Reason: serr.Error(),
			}); err != nil {
				return err
			}
		}
	}
	refund := j.Escrow.Amount.Sub(paid)
	if refund.IsPositive() {
		if err := k.bank.SendCoinsFromModuleToAccount(ctx, types.ModuleName, requester, sdk.NewCoins(sdk.NewCoin(denom, refund))); err != nil {
			return err
		}
	}
	old := j
	j.Status = types.JOB_STATUS_FINALIZED
	j.Paid = sdk.NewCoin(denom, paid)
	j.Refunded = sdk.NewCoin(denom, refund)
	j.ClosedHeight = ctx.BlockHeight()
	if err := k.setJob(ctx, &old, j); err != nil {
		return err
	}
	r.Status = types.SETTLEMENT_STATUS_FINALIZED
	r.SettlementId = settlementID
	r.Price = j.Paid
	if err := k.Receipts.Set(ctx, id, r); err != nil {
		return err
	}
	if err := k.dropBids(ctx, id); err != nil {
		return err
	}
	return marketEmit(ctx, &types.EventJobFinalized{JobId: id, SettlementId: settlementID, Paid: j.Paid, Refunded: j.Refunded})
}
