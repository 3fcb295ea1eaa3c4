package keeper

import (
	"encoding/hex"

	"cosmossdk.io/collections"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/datanet/types"
)

// communityPool names the community pool as a deposit destination in events.
const communityPool = "community_pool"

// settle moves a PENDING contribution to its final status: it pays the deposit out
// (refund, or community pool on rejection), leaves the expiry queue, and on
// acceptance appends the contribution to the datanet's Merkle tree.
func (k Keeper) settle(ctx sdk.Context, c types.Contribution, to types.ContributionStatus) error {
	d, err := k.GetDatanet(ctx, c.DatanetId)
	if err != nil {
		return err
	}
	contributor, err := k.addressCodec.StringToBytes(c.Contributor)
	if err != nil {
		return err
	}
	depositTo := c.Contributor
	if c.Deposit.IsPositive() {
		coins := sdk.NewCoins(c.Deposit)
		if to == types.CONTRIBUTION_STATUS_REJECTED {
			err = k.distr.FundCommunityPool(ctx, coins, k.ModuleAddress())
			depositTo = communityPool
		} else {
			err = k.bank.SendCoinsFromModuleToAccount(ctx, types.ModuleName, contributor, coins)
		}
		if err != nil {
			return err
		}
	}
	if err := k.ExpiryQueue.Remove(ctx, collections.Join(c.ReviewDeadline, c.Id)); err != nil {
		return err
	}
	d.Stats.PendingContributions--
	c.Status = to
	c.DecidedHeight = ctx.BlockHeight()

	switch to {
	case types.CONTRIBUTION_STATUS_ACCEPTED:
		if err := k.appendAccepted(ctx, &d, &c, contributor); err != nil {
			return err
		}
	case types.CONTRIBUTION_STATUS_REJECTED:
		d.Stats.RejectedContributions++
		fallthrough
	default:
		if err := k.ContentIndex.Remove(ctx, collections.Join(d.Id, c.Sha256)); err != nil {
			return err
		}
	}
	if err := k.Contributions.Set(ctx, c.Id, c); err != nil {
		return err
	}
	if err := k.maybeReady(ctx, &d); err != nil {
		return err
	}
	if err := k.Datanets.Set(ctx, d.Id, d); err != nil {
		return err
	}
	return ctx.EventManager().EmitTypedEvent(&types.EventContributionDecided{
		ContributionId: c.Id, DatanetId: d.Id, Status: to, DepositTo: depositTo, LeafIndex: c.LeafIndex,
	})
}

// appendAccepted adds an accepted contribution to the datanet's tree and totals.
func (k Keeper) appendAccepted(ctx sdk.Context, d *types.Datanet, c *types.Contribution, contributor sdk.AccAddress) error {
	c.LeafIndex = d.Stats.AcceptedContributions
	leaf, err := types.ContributionLeafHashOf(*c, contributor)
	if err != nil {
		return err
	}
	tree := k.merkle(ctx, d.Id)
	if err := types.AppendLeaf(tree, c.LeafIndex, leaf); err != nil {
		return err
	}
	d.Stats.AcceptedContributions++
	d.Stats.AcceptedBytes += c.SizeBytes
	params, err := k.Params.Get(ctx)
	if err != nil {
		return err
	}
	c.Shares = params.SharesOf(c.SizeBytes)
	d.Stats.AcceptedShares += c.Shares
	root, err := types.Root(tree, d.Stats.AcceptedContributions)
	if err != nil {
		return err
	}
	d.MerkleRoot = hex.EncodeToString(root)

	countKey := collections.Join(d.Id, contributor)
	count, err := k.ContributorCounts.Get(ctx, countKey)
	if err != nil && !isNotFound(err) {
		return err
	}
	if count == 0 {
		d.Stats.DistinctContributors++
	}
	return k.ContributorCounts.Set(ctx, countKey, count+1)
}
