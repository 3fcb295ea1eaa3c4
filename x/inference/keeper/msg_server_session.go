package keeper

import (
	"context"
	"crypto/ed25519"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/inference/types"
	"github.com/openledger/openledger/x/internal/fields"
)

// OpenSession escrows a deposit for an interactive session between a requester and
// an ACTIVE provider with an offer for an ACTIVE deployment. The deployment's royalty
// is locked for the session; vouchers are verified with session_pubkey (ed25519).
func (m msgServer) OpenSession(ctx context.Context, msg *types.MsgOpenSession) (*types.MsgOpenSessionResponse, error) {
	k := m.k
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	h := sdkCtx.BlockHeight()
	requester, err := k.parseAddress("requester", msg.Requester)
	if err != nil {
		return nil, err
	}
	provider, err := k.parseAddress("provider", msg.Provider)
	if err != nil {
		return nil, err
	}
	if requester.Equals(provider) {
		return nil, types.ErrSelfDealing.Wrapf("%s opens a session with itself", msg.Requester)
	}
	if err := msg.Deposit.Validate(); err != nil {
		return nil, types.ErrInvalidAmount.Wrapf("deposit: %v", err)
	}
	if !msg.Deposit.IsPositive() {
		return nil, types.ErrInvalidAmount.Wrap("deposit must be positive")
	}
	if len(msg.SessionPubkey) != ed25519.PublicKeySize {
		return nil, types.ErrInvalidField.Wrapf("session_pubkey: must be %d bytes (ed25519), got %d", ed25519.PublicKeySize, len(msg.SessionPubkey))
	}
	params, err := k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	if msg.ExpiryHeight <= h || msg.ExpiryHeight > h+int64(params.MaxSessionBlocks) {
		return nil, types.ErrInvalidExpiry.Wrapf("expiry_height %d must be in (%d, %d]", msg.ExpiryHeight, h, h+int64(params.MaxSessionBlocks))
	}
	p, err := k.GetProvider(ctx, provider)
	if err != nil {
		return nil, err
	}
	if p.Status != types.PROVIDER_STATUS_ACTIVE {
		return nil, types.ErrProviderNotActive.Wrapf("provider %s is %s", msg.Provider, p.Status)
	}
	if _, err := k.GetOffer(ctx, provider, msg.DeploymentId); err != nil {
		return nil, err
	}
	dep, err := k.models.GetActiveDeployment(ctx, msg.DeploymentId)
	if err != nil {
		return nil, types.ErrDeploymentMismatch.Wrapf("deployment %d: %v", msg.DeploymentId, err)
	}
	royalty := dep.RoyaltyPerThousandTokens
	if msg.Deposit.Denom != royalty.Denom {
		return nil, types.ErrInvalidAmount.Wrapf("deposit denom %s must be the deployment's royalty denom %s", msg.Deposit.Denom, royalty.Denom)
	}
	if err := k.bank.SendCoinsFromAccountToModule(ctx, requester, types.ModuleName, sdk.NewCoins(msg.Deposit)); err != nil {
		return nil, err
	}
	id, err := k.SessionSeq.Next(ctx)
	if err != nil {
		return nil, err
	}
	s := types.Session{
		Id:                       id,
		Requester:                k.addrString(requester),
		Provider:                 k.addrString(provider),
		DeploymentId:             msg.DeploymentId,
		Deposit:                  msg.Deposit,
		SettledAmount:            sdkmath.ZeroInt(),
		Paid:                     sdkmath.ZeroInt(),
		Refunded:                 sdkmath.ZeroInt(),
		RoyaltyPerThousandTokens: royalty,
		ExpiryHeight:             msg.ExpiryHeight,
		SessionPubkey:            append([]byte(nil), msg.SessionPubkey...),
		Status:                   types.SESSION_STATUS_OPEN,
		OpenedHeight:             h,
	}
	if err := k.setSession(ctx, true, s); err != nil {
		return nil, err
	}
	if err := k.SessionExpiryQueue.Set(ctx, collections.Join(sessionDeadline(s, params), id)); err != nil {
		return nil, err
	}
	return &types.MsgOpenSessionResponse{SessionId: id}, sdkCtx.EventManager().EmitTypedEvent(&types.EventSessionOpened{
		SessionId: id, Requester: s.Requester, Provider: s.Provider, DeploymentId: msg.DeploymentId,
		Deposit: msg.Deposit, ExpiryHeight: msg.ExpiryHeight,
	})
}

// TopUpSession adds to an OPEN session's deposit and/or extends its expiry.
func (m msgServer) TopUpSession(ctx context.Context, msg *types.MsgTopUpSession) (*types.MsgTopUpSessionResponse, error) {
	k := m.k
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	h := sdkCtx.BlockHeight()
	requester, s, params, err := k.openSessionFor(ctx, msg.SessionId, "requester", msg.Requester, "top up")
	if err != nil {
		return nil, err
	}
	amount := sdk.NewCoin(s.Deposit.Denom, sdkmath.ZeroInt())
	if !msg.Amount.Amount.IsNil() && !msg.Amount.Amount.IsZero() {
		if err := msg.Amount.Validate(); err != nil {
			return nil, types.ErrInvalidAmount.Wrapf("amount: %v", err)
		}
		if msg.Amount.Denom != s.Deposit.Denom {
			return nil, types.ErrInvalidAmount.Wrapf("amount denom %s must be the deposit's %s", msg.Amount.Denom, s.Deposit.Denom)
		}
		amount = msg.Amount
	} else if msg.Amount.Denom != "" && msg.Amount.Denom != s.Deposit.Denom {
		return nil, types.ErrInvalidAmount.Wrapf("amount denom %s must be the deposit's %s", msg.Amount.Denom, s.Deposit.Denom)
	}
	expiry := s.ExpiryHeight
	if msg.ExpiryHeight != 0 {
		if msg.ExpiryHeight < s.ExpiryHeight || msg.ExpiryHeight > h+int64(params.MaxSessionBlocks) {
			return nil, types.ErrInvalidExpiry.Wrapf("expiry_height %d must be in [%d, %d]", msg.ExpiryHeight, s.ExpiryHeight, h+int64(params.MaxSessionBlocks))
		}
		expiry = msg.ExpiryHeight
	}
	if amount.IsZero() && expiry == s.ExpiryHeight {
		return nil, types.ErrInvalidAmount.Wrap("top-up adds nothing and keeps the expiry")
	}
	if amount.IsPositive() {
		if err := k.bank.SendCoinsFromAccountToModule(ctx, requester, types.ModuleName, sdk.NewCoins(amount)); err != nil {
			return nil, err
		}
		s.Deposit = s.Deposit.Add(amount)
	}
	if expiry != s.ExpiryHeight {
		if err := k.SessionExpiryQueue.Remove(ctx, collections.Join(sessionDeadline(s, params), s.Id)); err != nil {
			return nil, err
		}
		s.ExpiryHeight = expiry
		if err := k.SessionExpiryQueue.Set(ctx, collections.Join(sessionDeadline(s, params), s.Id)); err != nil {
			return nil, err
		}
	}
	if err := k.setSession(ctx, false, s); err != nil {
		return nil, err
	}
	return &types.MsgTopUpSessionResponse{}, sdkCtx.EventManager().EmitTypedEvent(&types.EventSessionToppedUp{
		SessionId: s.Id, Deposit: s.Deposit, ExpiryHeight: s.ExpiryHeight,
	})
}

// SettleSession accepts the provider's latest voucher and books its increment over
// the last one as a PENDING settlement, paid when its challenge window ends. Vouchers
// are cumulative: a higher sequence supersedes every earlier one, and the amounts may
// never go down, so a replayed or older voucher can never be paid twice.
func (m msgServer) SettleSession(ctx context.Context, msg *types.MsgSettleSession) (*types.MsgSettleSessionResponse, error) {
	k := m.k
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	h := sdkCtx.BlockHeight()
	_, s, params, err := k.openSessionFor(ctx, msg.SessionId, "provider", msg.Provider, "settle")
	if err != nil {
		return nil, err
	}
	if deadline := sessionDeadline(s, params); h > deadline {
		return nil, types.ErrSessionClosed.Wrapf("session %d expired: settlements were accepted until height %d (expiry %d + grace %d)",
			s.Id, deadline, s.ExpiryHeight, params.SessionGraceBlocks)
	}
	v := msg.Voucher
	switch {
	case v.Sequence <= s.LastSequence:
		return nil, types.ErrStaleVoucher.Wrapf("sequence %d, last settled %d", v.Sequence, s.LastSequence)
	case v.CumulativeAmount.IsNil() || v.CumulativeAmount.IsNegative():
		return nil, types.ErrInvalidAmount.Wrap("voucher cumulative_amount must be >= 0")
	case v.CumulativeAmount.LT(s.SettledAmount) || v.CumulativeTokens < s.SettledTokens || v.ReceiptCount < s.SettledRequests:
		return nil, types.ErrVoucherRegression.Wrapf("voucher (%s, %d tokens, %d requests) below settled (%s, %d tokens, %d requests)",
			v.CumulativeAmount, v.CumulativeTokens, v.ReceiptCount, s.SettledAmount, s.SettledTokens, s.SettledRequests)
	case v.CumulativeAmount.GT(s.Deposit.Amount):
		return nil, types.ErrExceedsDeposit.Wrapf("voucher %s > deposit %s", v.CumulativeAmount, s.Deposit.Amount)
	case len(v.ReceiptsRoot) != 32:
		return nil, types.ErrInvalidField.Wrapf("voucher receipts_root: must be 32 bytes, got %d", len(v.ReceiptsRoot))
	}
	if err := verifyVoucher(sdkCtx.ChainID(), s, v); err != nil {
		return nil, err
	}
	dAmount := v.CumulativeAmount.Sub(s.SettledAmount)
	dTokens := v.CumulativeTokens - s.SettledTokens
	dRequests := v.ReceiptCount - s.SettledRequests
	if dAmount.IsZero() && dTokens == 0 && dRequests == 0 {
		return nil, types.ErrInvalidAmount.Wrap("voucher settles nothing new (amount, tokens and receipt count unchanged)")
	}
	royaltyNow, err := royaltyOf(v.CumulativeTokens, s.RoyaltyPerThousandTokens.Amount)
	if err != nil {
		return nil, err
	}
	royaltyBefore, err := royaltyOf(s.SettledTokens, s.RoyaltyPerThousandTokens.Amount)
	if err != nil {
		return nil, err
	}
	dRoyalty := royaltyNow.Sub(royaltyBefore)
	if dAmount.LT(dRoyalty) {
		return nil, types.ErrRoyaltyUnderpaid.Wrapf("increment %s for %d tokens, royalty alone is %s", dAmount, dTokens, dRoyalty)
	}
	recordCID := msg.RecordCid
	if dAmount.IsPositive() || recordCID != "" {
		if recordCID, err = fields.NormalizeCID(types.ErrInvalidField, "record_cid", msg.RecordCid); err != nil {
			return nil, err
		}
	}
	if dAmount.IsPositive() {
		if err := k.rewards.ValidateSettlement(ctx, s.DeploymentId, msg.Summary); err != nil {
			return nil, types.ErrInvalidSummary.Wrap(err.Error())
		}
	}
	id, err := k.nextSettlementID(ctx)
	if err != nil {
		return nil, err
	}
	denom := s.Deposit.Denom
	st := types.SessionSettlement{
		Id:                 id,
		SessionId:          s.Id,
		Sequence:           v.Sequence,
		Amount:             sdk.NewCoin(denom, dAmount),
		Tokens:             dTokens,
		Royalty:            sdk.NewCoin(denom, dRoyalty),
		ReceiptsRoot:       append([]byte(nil), v.ReceiptsRoot...),
		RecordCid:          recordCID,
		Summary:            msg.Summary,
		SubmittedHeight:    h,
		ChallengeEndHeight: h + int64(params.ChallengeWindowBlocks),
		Status:             types.SETTLEMENT_STATUS_PENDING,
		VoucherSignature:   append([]byte(nil), v.Signature...),
		Requests:           dRequests,
	}
	if dRequests > 0 {
		st.FirstRequest = s.SettledRequests + 1
	}
	if err := k.Settlements.Set(ctx, id, st); err != nil {
		return nil, err
	}
	if err := k.SettlementsBySession.Set(ctx, collections.Join(s.Id, id)); err != nil {
		return nil, err
	}
	if err := k.SettlementFinalizeQueue.Set(ctx, collections.Join(st.ChallengeEndHeight, id)); err != nil {
		return nil, err
	}
	s.SettledAmount = v.CumulativeAmount
	s.SettledTokens = v.CumulativeTokens
	s.SettledRequests = v.ReceiptCount
	s.LastSequence = v.Sequence
	s.ReceiptsRoot = st.ReceiptsRoot
	s.Settlements++
	if err := k.setSession(ctx, false, s); err != nil {
		return nil, err
	}
	return &types.MsgSettleSessionResponse{SettlementId: id, Amount: st.Amount, ChallengeEndHeight: st.ChallengeEndHeight},
		sdkCtx.EventManager().EmitTypedEvent(&types.EventSessionSettled{
			SessionId: s.Id, SettlementId: id, Sequence: v.Sequence, Amount: st.Amount, Tokens: dTokens,
			ChallengeEndHeight: st.ChallengeEndHeight,
		})
}

// CloseSession closes an OPEN session: its provider at any time, its requester once
// expiry + grace has passed. The unsettled deposit is refunded now; pending
// settlements stay held until they finalise.
func (m msgServer) CloseSession(ctx context.Context, msg *types.MsgCloseSession) (*types.MsgCloseSessionResponse, error) {
	k := m.k
	h := sdk.UnwrapSDKContext(ctx).BlockHeight()
	sender, err := k.parseAddress("sender", msg.Sender)
	if err != nil {
		return nil, err
	}
	s, err := k.GetSession(ctx, msg.SessionId)
	if err != nil {
		return nil, err
	}
	var closedBy string
	switch k.addrString(sender) {
	case s.Provider:
		closedBy = closedByProvider
	case s.Requester:
		closedBy = closedByRequester
	default:
		return nil, types.ErrUnauthorized.Wrapf("%s is neither the provider nor the requester of session %d", msg.Sender, s.Id)
	}
	if s.Status != types.SESSION_STATUS_OPEN {
		return nil, types.ErrSessionClosed.Wrapf("session %d", s.Id)
	}
	params, err := k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	if deadline := sessionDeadline(s, params); closedBy == closedByRequester && h <= deadline {
		return nil, types.ErrSessionNotExpired.Wrapf("the requester may close session %d after height %d (expiry %d + grace %d)",
			s.Id, deadline, s.ExpiryHeight, params.SessionGraceBlocks)
	}
	refund, err := k.closeSession(ctx, params, s, closedBy)
	if err != nil {
		return nil, err
	}
	return &types.MsgCloseSessionResponse{Refunded: refund}, nil
}

// openSessionFor resolves the signer and loads an OPEN session for a msg whose signer must be the session's
// requester or provider (role names which, and is the signer field's name), and the
// params. verb says what the signer attempts, for the error.
func (k Keeper) openSessionFor(ctx context.Context, id uint64, role, signer, verb string) (sdk.AccAddress, types.Session, types.Params, error) {
	addr, err := k.parseAddress(role, signer)
	if err != nil {
		return nil, types.Session{}, types.Params{}, err
	}
	s, err := k.GetSession(ctx, id)
	if err != nil {
		return nil, types.Session{}, types.Params{}, err
	}
	want := s.Requester
	if role == "provider" {
		want = s.Provider
	}
	if k.addrString(addr) != want {
		return nil, types.Session{}, types.Params{}, types.ErrUnauthorized.Wrapf("only the %s %s may %s session %d", role, want, verb, s.Id)
	}
	if s.Status != types.SESSION_STATUS_OPEN {
		return nil, types.Session{}, types.Params{}, types.ErrSessionClosed.Wrapf("session %d", s.Id)
	}
	params, err := k.Params.Get(ctx)
	if err != nil {
		return nil, types.Session{}, types.Params{}, err
	}
	return addr, s, params, nil
}
