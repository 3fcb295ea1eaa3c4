package types

import (
	errorsmod "cosmossdk.io/errors"
	"google.golang.org/grpc/codes"
)

// Registered errors of the rewards module. Codes start at 2 and never change.
var (
	ErrInvalidParams            = errorsmod.Register(ModuleName, 2, "invalid params")
	ErrInvalidAddress           = errorsmod.Register(ModuleName, 3, "invalid address")
	ErrInvalidAmount            = errorsmod.Register(ModuleName, 4, "invalid amount")
	ErrInvalidSummary           = errorsmod.Register(ModuleName, 5, "invalid attribution summary")
	ErrWeightsSum               = errorsmod.Register(ModuleName, 6, "summary weights do not sum to 1,000,000 ppm")
	ErrTooManyContributions     = errorsmod.Register(ModuleName, 7, "summary top list longer than max_top_k")
	ErrDuplicateEntry           = errorsmod.Register(ModuleName, 8, "duplicate summary entry")
	ErrContributionNotInVersion = errorsmod.Register(ModuleName, 9, "contribution is not an accepted member of the dataset version")
	ErrVersionNotInDeployment   = errorsmod.Register(ModuleName, 10, "dataset version is not in the deployment's data-share table")
	ErrDuplicateSettlement      = errorsmod.Register(ModuleName, 11, "settlement already recorded")
	ErrRecordNotFound           = errorsmod.RegisterWithGRPCCode(ModuleName, 12, codes.NotFound, "settlement record not found")
	ErrPoolNotFound             = errorsmod.RegisterWithGRPCCode(ModuleName, 13, codes.NotFound, "pool not found")
	ErrBelowMinClaim            = errorsmod.Register(ModuleName, 14, "claim below the minimum")
	ErrInvalidGenesis           = errorsmod.Register(ModuleName, 15, "invalid genesis state")
	ErrInvariant                = errorsmod.Register(ModuleName, 16, "invariant broken")
	ErrInvalidFilter            = errorsmod.Register(ModuleName, 17, "invalid claim filter")
)
