package rewards_test

import (
	"os"

	sdkmath "cosmossdk.io/math"

	"github.com/openledger/openledger/cmd/openledgerd/porcelain/rewards"
	"github.com/openledger/openledger/x/rewards/types"
)

func ExampleWriteBreakdown() {
	_ = rewards.WriteBreakdown(os.Stdout, "open1bob", &types.QueryPendingRewardsResponse{
		Denom:     "uopen",
		Developer: []types.Accrual{{SourceId: 1, Amount: sdkmath.NewInt(191)}},
		Pools: []types.PendingPoolShare{
			{DatanetId: 1, Version: 1, ContributionId: 1, Shares: 24516, Amount: sdkmath.NewInt(111)},
			{DatanetId: 1, Version: 1, ContributionId: 3, Shares: 53589, Amount: sdkmath.NewInt(2420)},
		},
		Total: sdkmath.NewInt(2722),
	})
	// Output:
	// Rewards claimable by open1bob
	//
	// Deployment developer shares (1)
	//   deployment 1                                        191uopen
	//
	// Direct contribution credits (top-K) (0)
	//
	// Dataset-version pool shares (2)
	//   datanet 1 version 1 contribution 1 (24516 shares)   111uopen
	//   datanet 1 version 1 contribution 3 (53589 shares)  2420uopen
	//
	// Total                                                2722uopen
	//
	// Pool shares below 1uopen stay in their pool (tracked, never lost) and are paid once they add up.
	// Claim with: openledgerd tx attribution claim --from open1bob
}
