package rewards_test

import (
	"strings"
	"testing"

	sdkmath "cosmossdk.io/math"

	rewardsporcelain "github.com/openledger/openledger/cmd/openledgerd/porcelain/rewards"
	"github.com/openledger/openledger/x/rewards/types"
)

func TestWriteBreakdown(t *testing.T) {
	const who = "open1alice"
	full := &types.QueryPendingRewardsResponse{
		Denom:     "uopen",
		Developer: []types.Accrual{{Recipient: who, Kind: types.SOURCE_KIND_DEPLOYMENT, SourceId: 7, Amount: sdkmath.NewInt(2_940)}},
		Direct:    []types.Accrual{{Recipient: who, Kind: types.SOURCE_KIND_CONTRIBUTION, SourceId: 1, Amount: sdkmath.NewInt(2_744)}},
		Pools: []types.PendingPoolShare{
			{DatanetId: 1, Version: 1, ContributionId: 1, Shares: 100, Amount: sdkmath.NewInt(343)},
			{DatanetId: 1, Version: 2, ContributionId: 1, Shares: 100, Amount: sdkmath.NewInt(12)},
		},
		Total:              sdkmath.NewInt(2_940 + 2_744 + 343 + 12),
		NextContributionId: 9,
	}
	cases := []struct {
		name    string
		res     *types.QueryPendingRewardsResponse
		want    []string
		notWant []string
	}{
		{name: "every source, total, more, dust note", res: full, want: []string{
			"Rewards claimable by open1alice",
			"Deployment developer shares (1)", "deployment 7", "2940uopen",
			"Direct contribution credits (top-K) (1)", "contribution 1", "2744uopen",
			"Dataset-version pool shares (2)", "datanet 1 version 1 contribution 1 (100 shares)", "343uopen",
			"datanet 1 version 2 contribution 1 (100 shares)", "12uopen",
			"Total", "6039uopen",
			"continue with --start 9",
			"stay in their pool", "tx attribution claim --from open1alice",
		}},
		{name: "nothing to claim", res: &types.QueryPendingRewardsResponse{Denom: "uopen", Total: sdkmath.ZeroInt()},
			want:    []string{"Deployment developer shares (0)", "Direct contribution credits (top-K) (0)", "Dataset-version pool shares (0)", "0uopen"},
			notWant: []string{"--start"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if err := rewardsporcelain.WriteBreakdown(&b, who, tc.res); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			for _, s := range tc.want {
				if !strings.Contains(out, s) {
					t.Errorf("missing %q in:\n%s", s, out)
				}
			}
			for _, s := range tc.notWant {
				if strings.Contains(out, s) {
					t.Errorf("unexpected %q in:\n%s", s, out)
				}
			}
		})
	}
}

func TestClaimMsg(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want types.MsgClaimRewards
		err  string
	}{
		{name: "everything", want: types.MsgClaimRewards{Claimant: "c"}},
		{name: "datanet and version, budget", args: []string{"--datanet", "3", "--dataset-version", "2", "--max-items", "50"},
			want: types.MsgClaimRewards{Claimant: "c", DatanetId: 3, Version: 2, MaxItems: 50}},
		{name: "version without datanet", args: []string{"--dataset-version", "2"}, err: "--dataset-version needs --datanet"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := rewardsporcelain.NewClaimCmd()
			if err := cmd.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
			msg, err := rewardsporcelain.ClaimMsg("c", cmd)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || *msg != tc.want {
				t.Fatalf("got %v %v, want %v", msg, err, tc.want)
			}
		})
	}
}

func TestGroups(t *testing.T) {
	q, tx := rewardsporcelain.NewQueryGroup(), rewardsporcelain.NewTxGroup()
	if q.Name() != "attribution" || tx.Name() != "attribution" {
		t.Fatalf("groups %q %q", q.Name(), tx.Name())
	}
	if c, _, err := q.Find([]string{"rewards"}); err != nil || c.Name() != "rewards" || c.Flags().Lookup("output") == nil {
		t.Fatalf("query attribution rewards: %v", err)
	}
	if c, _, err := tx.Find([]string{"claim"}); err != nil || c.Name() != "claim" || c.Flags().Lookup("from") == nil {
		t.Fatalf("tx attribution claim: %v", err)
	}
}
