package types

import (
	errorsmod "cosmossdk.io/errors"
	"google.golang.org/grpc/codes"
)

// Registered errors of the inference module. Codes start at 2 and never change.
var (
	ErrInvalidParams      = errorsmod.Register(ModuleName, 2, "invalid params")
	ErrInvalidAddress     = errorsmod.Register(ModuleName, 3, "invalid address")
	ErrInvalidField       = errorsmod.Register(ModuleName, 4, "invalid field")
	ErrInvalidAmount      = errorsmod.Register(ModuleName, 5, "invalid amount")
	ErrUnauthorized       = errorsmod.Register(ModuleName, 6, "unauthorized")
	ErrProviderNotFound   = errorsmod.RegisterWithGRPCCode(ModuleName, 7, codes.NotFound, "provider not found")
	ErrProviderExists     = errorsmod.Register(ModuleName, 8, "provider already registered")
	ErrProviderNotActive  = errorsmod.Register(ModuleName, 9, "provider not active")
	ErrPeerIDTaken        = errorsmod.Register(ModuleName, 10, "peer id registered by another provider")
	ErrInvalidPeerID      = errorsmod.Register(ModuleName, 11, "invalid libp2p peer id")
	ErrInsufficientStake  = errorsmod.Register(ModuleName, 12, "insufficient stake")
	ErrTooManyUnbondings  = errorsmod.Register(ModuleName, 13, "too many unbonding entries")
	ErrStillJailed        = errorsmod.Register(ModuleName, 14, "provider still jailed")
	ErrOfferNotFound      = errorsmod.RegisterWithGRPCCode(ModuleName, 15, codes.NotFound, "offer not found")
	ErrJobNotFound        = errorsmod.RegisterWithGRPCCode(ModuleName, 16, codes.NotFound, "job not found")
	ErrWrongJobStatus     = errorsmod.Register(ModuleName, 17, "job not in the required status")
	ErrBidWindowClosed    = errorsmod.Register(ModuleName, 18, "bid window closed")
	ErrBidTooHigh         = errorsmod.Register(ModuleName, 19, "bid above the job's max price")
	ErrDuplicateBid       = errorsmod.Register(ModuleName, 20, "provider already bid on this job")
	ErrTooManyBids        = errorsmod.Register(ModuleName, 21, "job has the maximum number of bids")
	ErrSelfDealing        = errorsmod.Register(ModuleName, 22, "requester and provider are the same account")
	ErrNotWinner          = errorsmod.Register(ModuleName, 23, "not the job's winner")
	ErrDeadlinePassed     = errorsmod.Register(ModuleName, 24, "deadline passed")
	ErrTooManyTokens      = errorsmod.Register(ModuleName, 25, "tokens exceed the job's max")
	ErrBadSignature       = errorsmod.Register(ModuleName, 26, "bad signature")
	ErrReceiptExists      = errorsmod.Register(ModuleName, 27, "receipt already submitted")
	ErrSessionNotFound    = errorsmod.RegisterWithGRPCCode(ModuleName, 28, codes.NotFound, "session not found")
	ErrSessionClosed      = errorsmod.Register(ModuleName, 29, "session closed")
	ErrStaleVoucher       = errorsmod.Register(ModuleName, 30, "voucher sequence not above the last settled one")
	ErrVoucherRegression  = errorsmod.Register(ModuleName, 31, "voucher amount or tokens below what was settled")
	ErrExceedsDeposit     = errorsmod.Register(ModuleName, 32, "voucher exceeds the session deposit")
	ErrRoyaltyUnderpaid   = errorsmod.Register(ModuleName, 33, "voucher increment does not cover the royalty")
	ErrSessionNotExpired  = errorsmod.Register(ModuleName, 34, "session not expired (plus grace)")
	ErrInvalidExpiry      = errorsmod.Register(ModuleName, 35, "invalid expiry height")
	ErrDeploymentMismatch = errorsmod.Register(ModuleName, 36, "deployment unusable for this request")
	ErrExcludedProvider   = errorsmod.Register(ModuleName, 37, "provider missed this job's deadline before")
	ErrEngineNotSupported = errorsmod.Register(ModuleName, 38, "engine not declared by the provider")
	ErrInvalidSummary     = errorsmod.Register(ModuleName, 39, "invalid attribution summary")
	ErrSettlementNotFound = errorsmod.RegisterWithGRPCCode(ModuleName, 40, codes.NotFound, "settlement not found")
)

// Errors of genesis and invariants.
var (
	ErrInvalidGenesis = errorsmod.Register(ModuleName, 41, "invalid genesis")
	ErrInvariant      = errorsmod.Register(ModuleName, 42, "invariant broken")
)

// Errors of verification.
var (
	ErrDisputeNotFound    = errorsmod.RegisterWithGRPCCode(ModuleName, 43, codes.NotFound, "dispute not found")
	ErrNotChallengeable   = errorsmod.Register(ModuleName, 44, "target not challengeable")
	ErrAlreadyDisputed    = errorsmod.Register(ModuleName, 45, "target already disputed")
	ErrWindowClosed       = errorsmod.Register(ModuleName, 46, "window closed")
	ErrNotCommitteeMember = errorsmod.Register(ModuleName, 47, "not a member of the dispute's committee")
	ErrAlreadyCommitted   = errorsmod.Register(ModuleName, 48, "vote already committed")
	ErrNoCommitment       = errorsmod.Register(ModuleName, 49, "no vote committed")
	ErrCommitmentMismatch = errorsmod.Register(ModuleName, 50, "vote and salt do not match the commitment")
	ErrAlreadyRevealed    = errorsmod.Register(ModuleName, 51, "vote already revealed")
	ErrWrongDisputeStatus = errorsmod.Register(ModuleName, 52, "dispute not in the required status")
	ErrPartyToDispute     = errorsmod.Register(ModuleName, 53, "a party may not challenge its own target")
)
