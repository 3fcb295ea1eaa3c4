package keeper_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/openledger/openledger/x/models/types"
)

// TestGetDeploymentForSettlement: a deployment is settleable in every status — work
// done before a pause or a retirement is still paid — with the price in force at the
// current height, while GetActiveDeployment refuses all but ACTIVE; an unknown id is
// ErrDeploymentNotFound for both.
func TestGetDeploymentForSettlement(t *testing.T) {
	f := newFixture(t)
	ds := f.datasetVersion()
	id := f.createModel(f.alice)
	f.publish(f.publishMsg(f.alice, id, ds))
	res, err := f.msg.CreateDeployment(f.ctx, &types.MsgCreateDeployment{Owner: f.alice, ModelId: id, Version: 1,
		RoyaltyPerThousandTokens: royalty(100), DeveloperBps: 3_000, DataBps: 7_000})
	require.NoError(t, err)
	dep := res.DeploymentId
	// A price change scheduled at height 110 (the default notice period).
	p := royalty(150)
	up, err := f.msg.UpdateDeployment(f.ctx, &types.MsgUpdateDeployment{Owner: f.alice, DeploymentId: dep, RoyaltyPerThousandTokens: &p})
	require.NoError(t, err)
	table := []types.DataShare{{DatanetId: ds.DatanetId, Version: 1, Bps: 10_000}}

	steps := []struct {
		name       string
		change     func()
		height     int64
		status     types.DeploymentStatus
		price      int64
		activeErrs bool
	}{
		{name: "active, old price", height: 10, status: types.DEPLOYMENT_STATUS_ACTIVE, price: 100},
		{name: "paused", change: func() {
			_, err := f.msg.UpdateDeployment(f.ctx, &types.MsgUpdateDeployment{Owner: f.alice, DeploymentId: dep, Status: types.DEPLOYMENT_STATUS_PAUSED})
			require.NoError(t, err)
		}, height: 10, status: types.DEPLOYMENT_STATUS_PAUSED, price: 100, activeErrs: true},
		{name: "paused, scheduled price now in force", height: up.EffectiveHeight, status: types.DEPLOYMENT_STATUS_PAUSED, price: 150, activeErrs: true},
		{name: "retired", change: func() {
			_, err := f.msg.RetireDeployment(f.ctx, &types.MsgRetireDeployment{Owner: f.alice, DeploymentId: dep})
			require.NoError(t, err)
		}, height: up.EffectiveHeight, status: types.DEPLOYMENT_STATUS_RETIRED, price: 100, activeErrs: true}, // retiring drops the scheduled price
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			f.ctx = f.ctx.WithBlockHeight(s.height)
			if s.change != nil {
				s.change()
			}
			got, err := f.k.GetDeploymentForSettlement(f.ctx, dep)
			require.NoError(t, err)
			require.Equal(t, s.status, got.Deployment.Status)
			require.Equal(t, royalty(s.price), got.RoyaltyPerThousandTokens)
			require.Equal(t, table, got.DataShares)
			require.Equal(t, f.alice, got.Deployment.Owner)
			_, err = f.k.GetActiveDeployment(f.ctx, dep)
			if s.activeErrs {
				require.ErrorIs(t, err, types.ErrDeploymentNotActive)
			} else {
				require.NoError(t, err)
			}
		})
	}
	_, err = f.k.GetDeploymentForSettlement(f.ctx, dep+1)
	require.ErrorIs(t, err, types.ErrDeploymentNotFound)
	_, err = f.k.GetActiveDeployment(f.ctx, dep+1)
	require.ErrorIs(t, err, types.ErrDeploymentNotFound)
}
