package app_test

import (
	"testing"

	sdk "github.com/cosmos/cosmos-sdk/types"

	_ "github.com/openledger/openledger/app"
)

// TestNoAddressVerifier pins what x/internal/fields.FastAddressCodec relies on: the
// chain configures no custom address verifier, so the SDK's bech32 codec only checks
// the prefix and a length of 1..255 bytes.
func TestNoAddressVerifier(t *testing.T) {
	if sdk.GetConfig().GetAddressVerifier() != nil {
		t.Fatal("an address verifier is configured: FastAddressCodec would skip it")
	}
}
