package keeper

import (
	"context"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	"github.com/openledger/openledger/x/rewards/types"
)

// rpsScale is 10^18, the scale of reward_per_share.
var rpsScale = sdkmath.NewIntWithDecimal(1, types.RewardPerShareScaleDigits)

// deposit adds amt to a version's pool, creating it with shares = the version's
// total_shares, the sum of its contributions' capped sizes (fixed for good: a version
// is frozen). A version without shares cannot pay anyone: its deposit is dust.
func (k Keeper) deposit(ctx context.Context, datanetID, version, shares uint64, amt sdkmath.Int) error {
	if !amt.IsPositive() {
		return nil
	}
	key := collections.Join(datanetID, version)
	pool, err := k.Pools.Get(ctx, key)
	switch {
	case isNotFound(err):
		if shares == 0 {
			d, err := k.dust(ctx)
			if err != nil {
				return err
			}
			return k.Dust.Set(ctx, d.Add(amt))
		}
		pool = types.VersionPool{
			DatanetId: datanetID, Version: version, TotalShares: shares,
			RewardPerShare: sdkmath.ZeroInt(), Carry: sdkmath.ZeroInt(),
			Balance: sdkmath.ZeroInt(), TotalDeposited: sdkmath.ZeroInt(),
		}
	case err != nil:
		return err
	}
	scaled := amt.Mul(rpsScale).Add(pool.Carry)
	s := sdkmath.NewIntFromUint64(pool.TotalShares)
	pool.RewardPerShare = pool.RewardPerShare.Add(scaled.Quo(s))
	pool.Carry = scaled.Mod(s)
	pool.Balance = pool.Balance.Add(amt)
	pool.TotalDeposited = pool.TotalDeposited.Add(amt)
	return k.Pools.Set(ctx, key, pool)
}

// owed is what a contribution holding shares has earned in pool since its cursor.
func owed(pool types.VersionPool, shares uint64, last sdkmath.Int) sdkmath.Int {
	return pool.RewardPerShare.Sub(last).Mul(sdkmath.NewIntFromUint64(shares)).Quo(rpsScale)
}

// cursor returns a contribution's reward_per_share at its last collection (0 before any).
func (k Keeper) cursor(ctx context.Context, datanetID, version, contributionID uint64) (sdkmath.Int, error) {
	c, err := k.Cursors.Get(ctx, collections.Join3(datanetID, version, contributionID))
	if isNotFound(err) {
		return sdkmath.ZeroInt(), nil
	}
	return c, err
}

// PendingInPool is what a contribution of shares bytes can collect from a pool now.
func (k Keeper) PendingInPool(ctx context.Context, datanetID, version, contributionID, shares uint64) (sdkmath.Int, error) {
	pool, err := k.Pools.Get(ctx, collections.Join(datanetID, version))
	if isNotFound(err) {
		return sdkmath.ZeroInt(), nil
	} else if err != nil {
		return sdkmath.Int{}, err
	}
	last, err := k.cursor(ctx, datanetID, version, contributionID)
	if err != nil {
		return sdkmath.Int{}, err
	}
	return owed(pool, shares, last), nil
}

// collect takes a contribution's earnings out of a pool and moves its cursor.
func (k Keeper) collect(ctx context.Context, datanetID, version, contributionID, shares uint64) (sdkmath.Int, error) {
	key := collections.Join(datanetID, version)
	pool, err := k.Pools.Get(ctx, key)
	if isNotFound(err) {
		return sdkmath.ZeroInt(), nil
	} else if err != nil {
		return sdkmath.Int{}, err
	}
	last, err := k.cursor(ctx, datanetID, version, contributionID)
	if err != nil {
		return sdkmath.Int{}, err
	}
	amt := owed(pool, shares, last)
	if amt.GT(pool.Balance) { // cannot happen while shares sum to total_shares
		return sdkmath.Int{}, types.ErrInvariant.Wrapf("pool (%d, %d) owes %s > balance %s", datanetID, version, amt, pool.Balance)
	}
	if err := k.Cursors.Set(ctx, collections.Join3(datanetID, version, contributionID), pool.RewardPerShare); err != nil {
		return sdkmath.Int{}, err
	}
	if !amt.IsPositive() {
		return amt, nil
	}
	pool.Balance = pool.Balance.Sub(amt)
	return amt, k.Pools.Set(ctx, key, pool)
}
