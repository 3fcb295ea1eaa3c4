package keeper

import (
	"context"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/inference/types"
)

// JobHeld is what the module holds for a job: its whole escrow until the job
// reaches a final status, nothing after.
func JobHeld(j types.Job) sdk.Coin {
	switch j.Status {
	case types.JOB_STATUS_OPEN, types.JOB_STATUS_AWARDED, types.JOB_STATUS_PENDING, types.JOB_STATUS_CHALLENGED:
		return j.Escrow
	default:
		return sdk.NewCoin(j.Escrow.Denom, sdkmath.ZeroInt())
	}
}

// Owed is everything the module account must hold: open job escrows, session
// balances (deposit − paid − refunded), bonded stakes, unbonding entries and the
// bonds of open disputes.
func (k Keeper) Owed(ctx context.Context) (sdk.Coins, error) {
	owed := sdk.NewCoins()
	add := func(c sdk.Coin) {
		if c.IsPositive() {
			owed = owed.Add(c)
		}
	}
	err := k.Jobs.Walk(ctx, nil, func(_ uint64, j types.Job) (bool, error) {
		add(JobHeld(j))
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	err = k.Sessions.Walk(ctx, nil, func(_ uint64, s types.Session) (bool, error) {
		add(sdk.NewCoin(s.Deposit.Denom, SessionBalance(s)))
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	err = k.Providers.Walk(ctx, nil, func(_ sdk.AccAddress, p types.Provider) (bool, error) {
		add(p.Stake)
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	err = k.Unbondings.Walk(ctx, nil, func(_ UnbondingKey, u types.UnbondingEntry) (bool, error) {
		add(u.Amount)
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	bonds, err := k.disputeBondsHeld(ctx)
	return owed.Add(bonds...), err
}

// BalanceInvariant checks that the module account holds exactly what it owes (for
// tests and simulations; x/crisis is gone).
func (k Keeper) BalanceInvariant(ctx context.Context) error {
	owed, err := k.Owed(ctx)
	if err != nil {
		return err
	}
	held := k.bank.GetAllBalances(ctx, k.ModuleAddress())
	if !held.Equal(owed) {
		return types.ErrInvariant.Wrapf("module account holds %s, owes %s", held, owed)
	}
	return nil
}

// StakeInvariant checks that each provider's unbonding total equals the sum of its
// entries and that every session's accounting is consistent.
func (k Keeper) StakeInvariant(ctx context.Context) error {
	return k.Providers.Walk(ctx, nil, func(op sdk.AccAddress, p types.Provider) (bool, error) {
		sum := sdkmath.ZeroInt()
		rng := collections.NewPrefixedPairRange[sdk.AccAddress, uint64](op)
		err := k.Unbondings.Walk(ctx, rng, func(_ UnbondingKey, u types.UnbondingEntry) (bool, error) {
			sum = sum.Add(u.Amount.Amount)
			return false, nil
		})
		if err != nil {
			return true, err
		}
		if !sum.Equal(p.Unbonding) {
			return true, types.ErrInvariant.Wrapf("provider %s: unbonding %s, entries sum to %s", p.Operator, p.Unbonding, sum)
		}
		return false, nil
	})
}

// SessionInvariant checks each session: paid + refunded never exceed the deposit,
// settled never exceeds the deposit, and a closed session holds exactly its pending
// settlements (settled − paid − fallback refunds).
func (k Keeper) SessionInvariant(ctx context.Context) error {
	return k.Sessions.Walk(ctx, nil, func(id uint64, s types.Session) (bool, error) {
		if SessionBalance(s).IsNegative() || s.SettledAmount.GT(s.Deposit.Amount) || s.Paid.GT(s.SettledAmount) {
			return true, types.ErrInvariant.Wrapf("session %d: deposit %s settled %s paid %s refunded %s",
				id, s.Deposit.Amount, s.SettledAmount, s.Paid, s.Refunded)
		}
		pending := sdkmath.ZeroInt()
		rng := collections.NewPrefixedPairRange[uint64, uint64](id)
		err := k.SettlementsBySession.Walk(ctx, rng, func(key collections.Pair[uint64, uint64]) (bool, error) {
			st, err := k.Settlements.Get(ctx, key.K2())
			if err != nil {
				return true, err
			}
			if st.Status == types.SETTLEMENT_STATUS_PENDING || st.Status == types.SETTLEMENT_STATUS_CHALLENGED {
				pending = pending.Add(st.Amount.Amount)
			}
			return false, nil
		})
		if err != nil {
			return true, err
		}
		if s.Status == types.SESSION_STATUS_CLOSED && !pending.Equal(SessionBalance(s)) {
			return true, types.ErrInvariant.Wrapf("session %d closed: holds %s, pending settlements %s", id, SessionBalance(s), pending)
		}
		return false, nil
	})
}

// AllInvariants runs every invariant of the module.
func (k Keeper) AllInvariants(ctx context.Context) error {
	for _, check := range []func(context.Context) error{k.BalanceInvariant, k.StakeInvariant, k.SessionInvariant, k.DisputeInvariant} {
		if err := check(ctx); err != nil {
			return err
		}
	}
	return nil
}

// DisputeInvariant checks every dispute's books and its target: an open dispute has
// paid nothing out and holds a CHALLENGED target that names it; a resolved one
// returned or slashed exactly its bond, paid the challenger and the voters no more
// than the slash they came from, and left its target out of CHALLENGED.
func (k Keeper) DisputeInvariant(ctx context.Context) error {
	return k.Disputes.Walk(ctx, nil, func(id uint64, d types.Dispute) (bool, error) {
		t, err := k.loadTarget(ctx, d.TargetKind, d.TargetId)
		if err != nil {
			return true, types.ErrInvariant.Wrapf("dispute %d: target: %v", id, err)
		}
		if t.disputeID != id {
			return true, types.ErrInvariant.Wrapf("dispute %d: target names dispute %d", id, t.disputeID)
		}
		if types.DisputeIsOpen(d.Status) {
			if t.status != types.SETTLEMENT_STATUS_CHALLENGED || d.BondReturned.IsPositive() || d.BondSlashed.IsPositive() ||
				d.ProviderSlashed.IsPositive() {
				return true, types.ErrInvariant.Wrapf("dispute %d open: target %s, bond returned %s slashed %s", id, t.status, d.BondReturned, d.BondSlashed)
			}
			return false, nil
		}
		if t.status == types.SETTLEMENT_STATUS_CHALLENGED {
			return true, types.ErrInvariant.Wrapf("dispute %d resolved but its target is still CHALLENGED", id)
		}
		if !d.BondReturned.Add(d.BondSlashed).IsEqual(d.Bond) {
			return true, types.ErrInvariant.Wrapf("dispute %d: bond %s, returned %s + slashed %s", id, d.Bond, d.BondReturned, d.BondSlashed)
		}
		source := d.BondSlashed.Amount.Add(d.ProviderSlashed.Amount)
		if d.ChallengerReward.Amount.GT(d.ProviderSlashed.Amount) || d.ChallengerReward.Amount.Add(d.VoterRewards.Amount).GT(source) {
			return true, types.ErrInvariant.Wrapf("dispute %d: rewards %s + %s exceed the slash %s", id, d.ChallengerReward, d.VoterRewards, source)
		}
		return false, nil
	})
}
