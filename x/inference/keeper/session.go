package keeper

import (
	"context"
	"crypto/ed25519"
	"errors"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/x/inference/types"
)

// Session accounting (ADR-004). The module holds, per session,
// deposit − paid − refunded:
//
//   - settled_amount is the highest voucher amount accepted; settled_amount − paid
//     − (royalties refunded by a failed split) is held for PENDING settlements;
//   - deposit − settled_amount is the unsettled part, refunded when the session closes;
//   - a CLOSED session therefore holds exactly its pending settlements, which pay out
//     as their challenge windows end.

// Closers named in EventSessionClosed.
const (
	closedByProvider  = "provider"
	closedByRequester = "requester"
	closedByExpiry    = "expiry"
)

// royaltyOf is the royalty owed for tokens at perThousand: ⌊tokens × perThousand / 1000⌋.
// Royalties are always taken as a difference of these cumulative floors, so rounding
// never accumulates over many settlements.
func royaltyOf(tokens uint64, perThousand sdkmath.Int) (sdkmath.Int, error) {
	p, err := sdkmath.NewIntFromUint64(tokens).SafeMul(perThousand)
	if err != nil {
		return sdkmath.Int{}, types.ErrInvalidAmount.Wrapf("royalty of %d tokens: %v", tokens, err)
	}
	return p.QuoRaw(1000), nil
}

// sessionDeadline is the last height at which a session's provider may settle, and
// after which the requester may close: expiry + grace.
func sessionDeadline(s types.Session, params types.Params) int64 {
	return s.ExpiryHeight + int64(params.SessionGraceBlocks)
}

// canonicalVoucher is the voucher the requester signed for a settlement: the msg's
// fields bound to this chain, the session and its deposit denom.
func canonicalVoucher(chainID string, s types.Session, v types.Voucher) voucher.Voucher {
	out := voucher.Voucher{
		ChainID:          chainID,
		SessionID:        s.Id,
		Sequence:         v.Sequence,
		Denom:            s.Deposit.Denom,
		CumulativeAmount: v.CumulativeAmount,
		CumulativeTokens: v.CumulativeTokens,
		ReceiptCount:     v.ReceiptCount,
		Signature:        v.Signature,
	}
	copy(out.ReceiptsRoot[:], v.ReceiptsRoot)
	return out
}

// verifyVoucher checks v's signature with the session key.
func verifyVoucher(chainID string, s types.Session, v types.Voucher) error {
	if len(s.SessionPubkey) != ed25519.PublicKeySize {
		return types.ErrBadSignature.Wrapf("session %d has a %d-byte key", s.Id, len(s.SessionPubkey))
	}
	if len(v.Signature) != ed25519.SignatureSize {
		return types.ErrBadSignature.Wrapf("signature is %d bytes, want %d", len(v.Signature), ed25519.SignatureSize)
	}
	if err := canonicalVoucher(chainID, s, v).Verify(ed25519.PublicKey(s.SessionPubkey)); err != nil {
		return types.ErrBadSignature.Wrapf("voucher %d of session %d: %v", v.Sequence, s.Id, err)
	}
	return nil
}

// closeSession refunds the unsettled part of the deposit (deposit − settled_amount) to
// the requester, marks the session CLOSED and drops it from the expiry queue. Pending
// settlements stay held and pay out when they finalise.
func (k Keeper) closeSession(ctx context.Context, params types.Params, s types.Session, closedBy string) (sdk.Coin, error) {
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	refund := sdk.NewCoin(s.Deposit.Denom, s.Deposit.Amount.Sub(s.SettledAmount))
	if refund.IsNegative() {
		return sdk.Coin{}, types.ErrInvariant.Wrapf("session %d: settled %s exceeds deposit %s", s.Id, s.SettledAmount, s.Deposit)
	}
	if refund.IsPositive() {
		requester, err := k.parseAddress("requester", s.Requester)
		if err != nil {
			return sdk.Coin{}, err
		}
		if err := k.bank.SendCoinsFromModuleToAccount(ctx, types.ModuleName, requester, sdk.NewCoins(refund)); err != nil {
			return sdk.Coin{}, err
		}
	}
	// The key was set with the grace in force then; if governance changed the grace
	// since, a stale key may remain and the expiry handler ignores it (session CLOSED).
	if err := k.SessionExpiryQueue.Remove(ctx, collections.Join(sessionDeadline(s, params), s.Id)); err != nil {
		return sdk.Coin{}, err
	}
	s.Refunded = s.Refunded.Add(refund.Amount)
	s.Status = types.SESSION_STATUS_CLOSED
	s.ClosedHeight = sdkCtx.BlockHeight()
	if err := k.setSession(ctx, false, s); err != nil {
		return sdk.Coin{}, err
	}
	return refund, sdkCtx.EventManager().EmitTypedEvent(&types.EventSessionClosed{
		SessionId: s.Id, ClosedBy: closedBy, Refunded: refund,
	})
}

// finalizeSettlement pays a PENDING settlement whose challenge window has ended:
// compute (amount − royalty) and royalty through x/rewards. If x/rewards refuses the
// split (say the deployment's table or a contribution changed since the settlement was
// accepted), the funds are never stranded: compute goes to the provider directly, the
// royalty back to the requester, the settlement is FINALIZED and the reason is logged
// and emitted. A CHALLENGED settlement is left alone (its dispute decides); one drawn
// for a random audit becomes CHALLENGED.
func (k Keeper) finalizeSettlement(ctx sdk.Context, params types.Params, id uint64) error {
	st, err := k.Settlements.Get(ctx, id)
	if isNotFound(err) {
		return types.ErrSettlementNotFound.Wrapf("settlement %d", id)
	} else if err != nil {
		return err
	}
	if st.Status != types.SETTLEMENT_STATUS_PENDING {
		return nil
	}
	if audited, err := k.maybeAudit(ctx, params, types.TARGET_KIND_SESSION_SETTLEMENT, id); err != nil || audited {
		return err
	}
	s, err := k.GetSession(ctx, st.SessionId)
	if err != nil {
		return err
	}
	if st.Amount.IsPositive() {
		if err := k.paySettlement(ctx, &s, st); err != nil {
			return err
		}
	}
	st.Status = types.SETTLEMENT_STATUS_FINALIZED
	if err := k.Settlements.Set(ctx, st.Id, st); err != nil {
		return err
	}
	if err := k.setSession(ctx, false, s); err != nil {
		return err
	}
	return ctx.EventManager().EmitTypedEvent(&types.EventSessionSettlementFinalized{
		SessionId: s.Id, SettlementId: st.Id, Paid: st.Amount,
	})
}

// paySettlement moves a settlement's amount out of the module and books it on s.
func (k Keeper) paySettlement(ctx sdk.Context, s *types.Session, st types.SessionSettlement) error {
	provider, err := k.parseAddress("provider", s.Provider)
	if err != nil {
		return err
	}
	compute := sdk.NewCoin(st.Amount.Denom, st.Amount.Amount.Sub(st.Royalty.Amount))
	_, settleErr := k.rewards.Settle(ctx, types.ModuleName, st.Id, provider, compute, st.Royalty, s.DeploymentId, st.Summary)
	if settleErr == nil {
		s.Paid = s.Paid.Add(st.Amount.Amount)
		return nil
	}
	// Fallback: x/rewards wrote nothing (Settle is all or nothing).
	requester, err := k.parseAddress("requester", s.Requester)
	if err != nil {
		return err
	}
	if compute.IsPositive() {
		if err := k.bank.SendCoinsFromModuleToAccount(ctx, types.ModuleName, provider, sdk.NewCoins(compute)); err != nil {
			return errors.Join(settleErr, err)
		}
	}
	if st.Royalty.IsPositive() {
		if err := k.bank.SendCoinsFromModuleToAccount(ctx, types.ModuleName, requester, sdk.NewCoins(st.Royalty)); err != nil {
			return errors.Join(settleErr, err)
		}
	}
	s.Paid = s.Paid.Add(compute.Amount)
	s.Refunded = s.Refunded.Add(st.Royalty.Amount)
	ctx.Logger().Error("inference: x/rewards refused a session settlement; compute paid directly, royalty refunded",
		"session", s.Id, "settlement", st.Id, "err", settleErr)
	return ctx.EventManager().EmitTypedEvent(&types.EventSettlementFallback{
		SessionId: s.Id, SettlementId: st.Id, ComputePaid: compute, RoyaltyRefunded: st.Royalty, Reason: settleErr.Error(),
	})
}

// expireSession closes a session still OPEN at expiry + grace (the expiry queue). A
// key left by an earlier expiry or grace is ignored or moved to the current deadline.
func (k Keeper) expireSession(ctx sdk.Context, params types.Params, id uint64) error {
	s, err := k.GetSession(ctx, id)
	if err != nil {
		return err
	}
	if s.Status != types.SESSION_STATUS_OPEN {
		return nil
	}
	if at := sessionDeadline(s, params); ctx.BlockHeight() < at {
		return k.SessionExpiryQueue.Set(ctx, collections.Join(at, id))
	}
	_, err = k.closeSession(ctx, params, s, closedByExpiry)
	return err
}
