package keeper_test

import (
	"errors"
	"testing"

	sdkmath "cosmossdk.io/math"

	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"

	modelstypes "github.com/openledger/openledger/x/models/types"
	"github.com/openledger/openledger/x/rewards/types"
)

// TestValidateSettlementMatchesSettle: for every bad (deployment, summary) input
// ValidateSettlement returns the error Settle returns (same registered error, same
// message), for good ones both succeed; ValidateSettlement writes nothing and moves
// nothing. Paused and retired deployments settle (work done before the change).
func TestValidateSettlementMatchesSettle(t *testing.T) {
	status := func(st modelstypes.DeploymentStatus) func(*fixture, *types.AttributionSummary) {
		return func(f *fixture, _ *types.AttributionSummary) {
			d := f.mod.deps[7]
			d.Deployment.Status = st
			f.mod.deps[7] = d
		}
	}
	tests := []struct {
		name   string
		edit   func(f *fixture, s *types.AttributionSummary)
		deploy uint64
		err    error // nil: valid
	}{
		{name: "ok"},
		{name: "ok: pools only", edit: func(_ *fixture, s *types.AttributionSummary) {
			s.Top = nil
			s.Pools[0].Ppm += 500_000
		}},
		{name: "ok: paused deployment", edit: status(modelstypes.DEPLOYMENT_STATUS_PAUSED)},
		{name: "ok: retired deployment", edit: status(modelstypes.DEPLOYMENT_STATUS_RETIRED)},
		{name: "ok: the pool already exists", edit: func(f *fixture, s *types.AttributionSummary) {
			f.fund(11_000)
			if _, err := f.k.Settle(f.ctx, payer, 99, provider, coin(1_000), coin(10_000), 7, *s); err != nil {
				f.t.Fatal(err)
			}
		}},
		{name: "weights sum short", edit: func(_ *fixture, s *types.AttributionSummary) { s.Pools[1].Ppm-- }, err: types.ErrWeightsSum},
		{name: "weights sum over", edit: func(_ *fixture, s *types.AttributionSummary) { s.Top[0].Ppm++ }, err: types.ErrWeightsSum},
		{name: "empty summary: no attribution, the pools take the data share", edit: func(_ *fixture, s *types.AttributionSummary) { *s = types.AttributionSummary{} }},
		{name: "top longer than K", edit: func(f *fixture, s *types.AttributionSummary) {
			p, _ := f.k.Params.Get(f.ctx)
			p.MaxTopK = 1
			_ = f.k.Params.Set(f.ctx, p)
			s.Top = append(s.Top, types.ContributionWeight{DatanetId: 1, Version: 1, ContributionId: 2, Ppm: 1})
			s.Pools[0].Ppm--
		}, err: types.ErrTooManyContributions},
		{name: "more pools than max_pools", edit: func(f *fixture, _ *types.AttributionSummary) {
			p, _ := f.k.Params.Get(f.ctx)
			p.MaxPools = 1
			_ = f.k.Params.Set(f.ctx, p)
		}, err: types.ErrInvalidSummary},
		{name: "duplicate top", edit: func(_ *fixture, s *types.AttributionSummary) {
			s.Top = append(s.Top, s.Top[0])
			s.Top[0].Ppm, s.Top[1].Ppm = 250_000, 250_000
		}, err: types.ErrDuplicateEntry},
		{name: "duplicate pool", edit: func(_ *fixture, s *types.AttributionSummary) { s.Pools[1] = s.Pools[0] }, err: types.ErrDuplicateEntry},
		{name: "contribution of another datanet", edit: func(_ *fixture, s *types.AttributionSummary) { s.Top[0].ContributionId = 3 },
			err: types.ErrContributionNotInVersion},
		{name: "unknown contribution", edit: func(_ *fixture, s *types.AttributionSummary) { s.Top[0].ContributionId = 99 },
			err: types.ErrContributionNotInVersion},
		{name: "contribution not accepted", edit: func(f *fixture, _ *types.AttributionSummary) { f.dn.contribs[0].Status = 1 },
			err: types.ErrContributionNotInVersion},
		{name: "contribution after the version's leaves", edit: func(f *fixture, _ *types.AttributionSummary) { f.dn.contribs[0].LeafIndex = 5 },
			err: types.ErrContributionNotInVersion},
		{name: "version outside the table", edit: func(_ *fixture, s *types.AttributionSummary) { s.Pools[1].DatanetId = 3 },
			err: types.ErrVersionNotInDeployment},
		{name: "table version unknown to x/datanet", edit: func(f *fixture, _ *types.AttributionSummary) {
			delete(f.dn.versions, [2]uint64{2, 1})
		}, err: types.ErrVersionNotInDeployment},
		{name: "zero ppm top", edit: func(_ *fixture, s *types.AttributionSummary) {
			s.Top = append(s.Top, types.ContributionWeight{DatanetId: 1, Version: 1, ContributionId: 2})
		}, err: types.ErrInvalidSummary},
		{name: "zero ppm pool", edit: func(_ *fixture, s *types.AttributionSummary) {
			s.Pools = append(s.Pools, types.PoolWeight{DatanetId: 2, Version: 1, Ppm: 0})
		}, err: types.ErrInvalidSummary},
		{name: "unknown deployment", deploy: 8, err: modelstypes.ErrDeploymentNotFound},
		{name: "deployment owner not an address", edit: func(f *fixture, _ *types.AttributionSummary) {
			d := f.mod.deps[7]
			d.Deployment.Owner = "nope"
			f.mod.deps[7] = d
		}, err: types.ErrInvalidAddress},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			deploy := uint64(7)
			if tc.deploy != 0 {
				deploy = tc.deploy
			}
			run := func(settle bool) error {
				f := world(t)
				s := goodSummary()
				if tc.edit != nil {
					tc.edit(f, &s)
				}
				f.fund(11_000)
				before, err := f.k.ExportGenesis(f.ctx)
				if err != nil {
					t.Fatal(err)
				}
				if !settle {
					err := f.k.ValidateSettlement(f.ctx, deploy, s)
					after, gerr := f.k.ExportGenesis(f.ctx)
					if gerr != nil {
						t.Fatal(gerr)
					}
					if before.String() != after.String() {
						t.Fatal("ValidateSettlement changed the module state")
					}
					if !f.balance(authtypes.NewModuleAddress(payer)).Equal(sdkmath.NewInt(11_000)) {
						t.Fatal("ValidateSettlement moved coins")
					}
					return err
				}
				_, err = f.k.Settle(f.ctx, payer, 1, provider, coin(1_000), coin(10_000), deploy, s)
				f.invariant()
				return err
			}
			verr, serr := run(false), run(true)
			if !errors.Is(verr, tc.err) && !(tc.err == nil && verr == nil) {
				t.Fatalf("ValidateSettlement: %v, want %v", verr, tc.err)
			}
			if (verr == nil) != (serr == nil) || (verr != nil && verr.Error() != serr.Error()) {
				t.Fatalf("ValidateSettlement: %v; Settle: %v", verr, serr)
			}
		})
	}
}
