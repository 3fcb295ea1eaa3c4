package types

import errorsmod "cosmossdk.io/errors"

// Registered errors of the models module. Codes start at 2 and never change.
var (
	ErrInvalidParams          = errorsmod.Register(ModuleName, 2, "invalid params")
	ErrInvalidAddress         = errorsmod.Register(ModuleName, 3, "invalid address")
	ErrInvalidField           = errorsmod.Register(ModuleName, 4, "invalid field")
	ErrModelNotFound          = errorsmod.Register(ModuleName, 5, "model not found")
	ErrVersionNotFound        = errorsmod.Register(ModuleName, 6, "model version not found")
	ErrDeploymentNotFound     = errorsmod.Register(ModuleName, 7, "deployment not found")
	ErrInvalidCID             = errorsmod.Register(ModuleName, 8, "invalid CID")
	ErrInvalidDigest          = errorsmod.Register(ModuleName, 9, "invalid sha256 digest")
	ErrInvalidSize            = errorsmod.Register(ModuleName, 10, "invalid size")
	ErrUnauthorized           = errorsmod.Register(ModuleName, 11, "unauthorized")
	ErrDatasetVersionNotFound = errorsmod.Register(ModuleName, 12, "dataset version unknown or not frozen")
	ErrParentNotFound         = errorsmod.Register(ModuleName, 13, "parent version not found")
	ErrInvalidBps             = errorsmod.Register(ModuleName, 14, "invalid basis points")
	ErrInvalidRoyalty         = errorsmod.Register(ModuleName, 15, "invalid royalty")
	ErrLineageTooDeep         = errorsmod.Register(ModuleName, 16, "lineage deeper than the bound")
	ErrTooManyShares          = errorsmod.Register(ModuleName, 17, "data-share table larger than the bound")
	ErrWrongStatus            = errorsmod.Register(ModuleName, 18, "wrong status")
	ErrInvalidKind            = errorsmod.Register(ModuleName, 19, "invalid version kind")
	ErrInvalidGenesis         = errorsmod.Register(ModuleName, 20, "invalid genesis state")
	ErrDeploymentNotActive    = errorsmod.Register(ModuleName, 21, "deployment is not active")
	ErrNoDataShares           = errorsmod.Register(ModuleName, 22, "the lineage declares no dataset versions")
)
