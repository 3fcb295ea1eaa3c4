package types_test

import (
	"errors"
	"testing"

	sdkmath "cosmossdk.io/math"

	"github.com/openledger/openledger/x/rewards/types"
)

func validPool() types.VersionPool {
	return types.VersionPool{DatanetId: 1, Version: 1, TotalShares: 10, RewardPerShare: sdkmath.NewInt(5),
		Carry: sdkmath.NewInt(3), Balance: sdkmath.NewInt(7), TotalDeposited: sdkmath.NewInt(9)}
}

func TestGenesisValidate(t *testing.T) {
	acc := types.Accrual{Recipient: "open1x", Kind: types.SOURCE_KIND_DEPLOYMENT, SourceId: 1, Amount: sdkmath.NewInt(1)}
	tests := []struct {
		name string
		edit func(*types.GenesisState)
		err  error
	}{
		{"default", func(*types.GenesisState) {}, nil},
		{"full", func(g *types.GenesisState) {
			g.Accruals = []types.Accrual{acc}
			g.Pools = []types.VersionPool{validPool()}
			g.Cursors = []types.PoolCursor{{DatanetId: 1, Version: 1, ContributionId: 4, RewardPerShare: sdkmath.NewInt(2)}}
		}, nil},
		{"bad params", func(g *types.GenesisState) { g.Params.MaxTopK = 0 }, types.ErrInvalidParams},
		{"negative dust", func(g *types.GenesisState) { g.Dust = sdkmath.NewInt(-1) }, types.ErrInvalidGenesis},
		{"zero accrual", func(g *types.GenesisState) { a := acc; a.Amount = sdkmath.ZeroInt(); g.Accruals = []types.Accrual{a} }, types.ErrInvalidGenesis},
		{"duplicate accrual", func(g *types.GenesisState) { g.Accruals = []types.Accrual{acc, acc} }, types.ErrInvalidGenesis},
		{"unspecified kind", func(g *types.GenesisState) { a := acc; a.Kind = 0; g.Accruals = []types.Accrual{a} }, types.ErrInvalidGenesis},
		{"carry not below shares", func(g *types.GenesisState) {
			p := validPool()
			p.Carry = sdkmath.NewInt(10)
			g.Pools = []types.VersionPool{p}
		}, types.ErrInvalidGenesis},
		{"balance above deposits", func(g *types.GenesisState) {
			p := validPool()
			p.Balance = sdkmath.NewInt(10)
			g.Pools = []types.VersionPool{p}
		}, types.ErrInvalidGenesis},
		{"cursor without pool", func(g *types.GenesisState) {
			g.Cursors = []types.PoolCursor{{DatanetId: 1, Version: 1, ContributionId: 4, RewardPerShare: sdkmath.NewInt(2)}}
		}, types.ErrInvalidGenesis},
		{"duplicate record", func(g *types.GenesisState) {
			g.Records = []types.SettlementRecord{{PayerModule: "inference", SettlementId: 1}, {PayerModule: "inference", SettlementId: 1}}
		}, types.ErrInvalidGenesis},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := types.DefaultGenesis()
			tc.edit(g)
			err := g.Validate()
			if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
		})
	}
}

// FuzzGenesisValidate: Validate never panics on decoded bytes.
func FuzzGenesisValidate(f *testing.F) {
	bz, _ := types.DefaultGenesis().Marshal()
	f.Add(bz)
	f.Fuzz(func(_ *testing.T, data []byte) {
		var g types.GenesisState
		if g.Unmarshal(data) == nil {
			_ = g.Validate()
		}
	})
}
