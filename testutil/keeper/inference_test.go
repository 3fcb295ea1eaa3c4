package keeper_test

import (
	"testing"

	testkeeper "github.com/openledger/openledger/testutil/keeper"
)

// TestInferenceFixture checks that the fixture's deployment accepts its summary.
func TestInferenceFixture(t *testing.T) {
	f := testkeeper.NewInferenceFixture(t, 6)
	if err := f.App.RewardsKeeper.ValidateSettlement(f.Ctx, f.DeploymentID, f.Summary); err != nil {
		t.Fatalf("fixture summary rejected: %v", err)
	}
	_, p1 := f.PeerKey(1)
	_, p2 := f.PeerKey(2)
	if p1 == p2 || p1 == "" {
		t.Fatalf("peer keys not distinct: %s %s", p1, p2)
	}
	f.CheckInferenceInvariants(f.Ctx)
}
