package app

import "github.com/cosmos/cosmos-sdk/version"

// VersionString is the binary's version as set at build time (ldflags).
func VersionString() string {
	if version.Version == "" {
		return "dev"
	}
	return version.Version
}
