package inference

import (
	"strings"
	"testing"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/inference/types"
)

func TestWriteSessions(t *testing.T) {
	var b strings.Builder
	if err := writeSessions(&b, "open1req", nil, nil); err != nil || b.String() != "open1req has no sessions\n" {
		t.Fatalf("empty: %q %v", b.String(), err)
	}
	b.Reset()
	sessions := []types.Session{
		{Id: 1, Status: types.SESSION_STATUS_OPEN, DeploymentId: 2, Provider: "open1prov", Deposit: sdk.NewInt64Coin("uopen", 1000),
			SettledAmount: sdkmath.NewInt(300), Paid: sdkmath.NewInt(200), Refunded: sdkmath.ZeroInt(), ExpiryHeight: 99},
		{Id: 2, Status: types.SESSION_STATUS_CLOSED, DeploymentId: 2, Provider: "open1prov", Deposit: sdk.NewInt64Coin("uopen", 50),
			SettledAmount: sdkmath.NewInt(50), Paid: sdkmath.NewInt(50), Refunded: sdkmath.ZeroInt(), ExpiryHeight: 10},
	}
	if err := writeSessions(&b, "open1req", sessions, func(s types.Session) bool { return s.Id == 1 }); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Sessions of open1req",
		"1  SESSION_STATUS_OPEN  deployment 2  provider open1prov",
		"deposit 1000uopen, settled 300, held 800uopen, expiry height 99, key here",
		"2  SESSION_STATUS_CLOSED",
		"held 0uopen, expiry height 10, no local key",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in:\n%s", want, b.String())
		}
	}
}
