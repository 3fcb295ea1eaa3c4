package types

import (
	errorsmod "cosmossdk.io/errors"
	"google.golang.org/grpc/codes"
)

// Registered errors of the models module. Codes start at 2 and never change.
var (
	ErrInvalidParams          = errorsmod.Register(ModuleName, 2, "invalid params")
	ErrInvalidAddress         = errorsmod.Register(ModuleName, 3, "invalid address")
	ErrInvalidField           = errorsmod.Register(ModuleName, 4, "invalid field")
	ErrModelNotFound          = errorsmod.RegisterWithGRPCCode(ModuleName, 5, codes.NotFound, "model not found")
	ErrVersionNotFound        = errorsmod.RegisterWithGRPCCode(ModuleName, 6, codes.NotFound, "model version not found")
	ErrDeploymentNotFound     = errorsmod.RegisterWithGRPCCode(ModuleName, 7, codes.NotFound, "deployment not found")
	ErrInvalidCID             = errorsmod.Register(ModuleName, 8, "invalid CID")
	ErrInvalidDigest          = errorsmod.Register(ModuleName, 9, "invalid sha256 digest")
	ErrInvalidSize            = errorsmod.Register(ModuleName, 10, "invalid size")
	ErrUnauthorized           = errorsmod.Register(ModuleName, 11, "unauthorized")
	ErrDatasetVersionNotFound = errorsmod.RegisterWithGRPCCode(ModuleName, 12, codes.NotFound, "dataset version unknown or not frozen")
	ErrParentNotFound         = errorsmod.RegisterWithGRPCCode(ModuleName, 13, codes.NotFound, "parent version not found")
	ErrInvalidBps             = errorsmod.Register(ModuleName, 14, "invalid basis points")
	ErrInvalidRoyalty         = errorsmod.Register(ModuleName, 15, "invalid royalty")
	ErrLineageTooDeep         = errorsmod.Register(ModuleName, 16, "lineage deeper than the bound")
	ErrTooManyShares          = errorsmod.Register(ModuleName, 17, "data-share table larger than the bound")
	ErrWrongStatus            = errorsmod.Register(ModuleName, 18, "wrong status")
	ErrInvalidKind            = errorsmod.Register(ModuleName, 19, "invalid version kind")
	ErrInvalidGenesis         = errorsmod.Register(ModuleName, 20, "invalid genesis state")
	ErrDeploymentNotActive    = errorsmod.Register(ModuleName, 21, "deployment is not active")
	ErrNoDataShares           = errorsmod.Register(ModuleName, 22, "the lineage declares no dataset versions")
	ErrInferenceNotFound      = errorsmod.RegisterWithGRPCCode(ModuleName, 23, codes.NotFound, "inference not found")
	ErrNotRequester           = errorsmod.Register(ModuleName, 24, "only the requester of the inference may rate it")
	ErrFeedbackExists         = errorsmod.Register(ModuleName, 25, "the inference already has feedback")
	ErrFeedbackWindowClosed   = errorsmod.Register(ModuleName, 26, "the feedback window of the inference has closed")
	ErrInferenceNotPaid       = errorsmod.Register(ModuleName, 27, "the inference is not paid")
	ErrInvalidProof           = errorsmod.Register(ModuleName, 28, "invalid receipt or inclusion proof")
	ErrPaymentTooSmall        = errorsmod.Register(ModuleName, 29, "the inference paid less than the feedback minimum")
	ErrNotDescendant          = errorsmod.Register(ModuleName, 30, "the version does not descend from the deployed one")
	ErrQualityGate            = errorsmod.Register(ModuleName, 31, "the version's declared metrics regress from its parent's")
	ErrFeedbackUnavailable    = errorsmod.Register(ModuleName, 32, "feedback is not wired on this chain")
	ErrFeedbackNotFound       = errorsmod.RegisterWithGRPCCode(ModuleName, 33, codes.NotFound, "feedback not found")
	ErrSwitchDropsShares      = errorsmod.Register(ModuleName, 34, "the new version's data-share table drops a dataset version of the deployed one")
)
