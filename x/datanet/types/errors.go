package types

import (
	errorsmod "cosmossdk.io/errors"
	"google.golang.org/grpc/codes"
)

// Registered errors of the datanet module. Codes start at 2 and never change.
var (
	ErrInvalidParams        = errorsmod.Register(ModuleName, 2, "invalid params")
	ErrInvalidAddress       = errorsmod.Register(ModuleName, 3, "invalid address")
	ErrInvalidField         = errorsmod.Register(ModuleName, 4, "invalid field")
	ErrDatanetNotFound      = errorsmod.RegisterWithGRPCCode(ModuleName, 5, codes.NotFound, "datanet not found")
	ErrContributionNotFound = errorsmod.RegisterWithGRPCCode(ModuleName, 6, codes.NotFound, "contribution not found")
	ErrVersionNotFound      = errorsmod.RegisterWithGRPCCode(ModuleName, 7, codes.NotFound, "dataset version not found")
	ErrInvalidCID           = errorsmod.Register(ModuleName, 8, "invalid CID")
	ErrInvalidDigest        = errorsmod.Register(ModuleName, 9, "invalid sha256 digest")
	ErrInvalidSize          = errorsmod.Register(ModuleName, 10, "invalid size")
	ErrInvalidCuration      = errorsmod.Register(ModuleName, 11, "invalid curation")
	ErrInvalidDeposit       = errorsmod.Register(ModuleName, 12, "invalid deposit")
	ErrUnauthorized         = errorsmod.Register(ModuleName, 13, "unauthorized")
	ErrNotCurator           = errorsmod.Register(ModuleName, 14, "not a curator of this datanet")
	ErrAlreadyReviewed      = errorsmod.Register(ModuleName, 15, "curator already reviewed this contribution")
	ErrSelfReview           = errorsmod.Register(ModuleName, 16, "curators cannot review their own contribution")
	ErrWrongStatus          = errorsmod.Register(ModuleName, 17, "wrong status")
	ErrRequirementsFrozen   = errorsmod.Register(ModuleName, 18, "requirements are frozen once the datanet is READY")
	ErrNothingToVersion     = errorsmod.Register(ModuleName, 19, "no new accepted contributions since the last version")
	ErrInvalidDecision      = errorsmod.Register(ModuleName, 20, "invalid review decision")
	ErrNotInVersion         = errorsmod.Register(ModuleName, 21, "contribution is not in this dataset version")
	ErrInvalidGenesis       = errorsmod.Register(ModuleName, 22, "invalid genesis state")
	ErrInsufficientFunds    = errorsmod.Register(ModuleName, 23, "insufficient funds for the deposit")
	ErrInvalidProof         = errorsmod.Register(ModuleName, 24, "invalid inclusion proof")
	ErrDuplicateContent     = errorsmod.Register(ModuleName, 25, "the same content is already pending or accepted in this datanet")
)
