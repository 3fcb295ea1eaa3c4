package keeper_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cosmos/cosmos-sdk/types/query"

	"github.com/openledger/openledger/x/models/types"
)

// lineageFixture builds three models: model 1 (alice) v1 on d1; model 2 (bob)
// v1 an SFT of 1/1 on d2 passing 4,000 bps up; model 3 (alice) v1 a LoRA of 2/1
// with no own data.
func lineageFixture(t *testing.T) (*fixture, types.DatasetVersionRef, types.DatasetVersionRef) {
	f := newFixture(t)
	d1, d2 := f.datasetVersion(), f.datasetVersion()
	m1, m2, m3 := f.createModel(f.alice), f.createModel(f.bob), f.createModel(f.alice)
	f.publish(f.publishMsg(f.alice, m1, d1))
	sft := f.publishMsg(f.bob, m2, d2)
	sft.Kind, sft.Parent, sft.UpstreamShareBps = types.VERSION_KIND_SFT, &types.VersionRef{ModelId: m1, Version: 1}, 4_000
	f.publish(sft)
	lora := f.publishMsg(f.alice, m3)
	lora.Kind, lora.Parent, lora.UpstreamShareBps = types.VERSION_KIND_LORA, &types.VersionRef{ModelId: m2, Version: 1}, 10_000
	f.publish(lora)
	return f, d1, d2
}

func TestLineageQuery(t *testing.T) {
	f, d1, d2 := lineageFixture(t)
	res, err := f.query.Lineage(f.ctx, &types.QueryLineageRequest{ModelId: 3, Version: 1})
	require.NoError(t, err)
	require.False(t, res.Truncated)
	require.Len(t, res.Entries, 3)
	for i, want := range []struct {
		model uint64
		kind  types.VersionKind
		data  []types.DatasetVersionRef
	}{
		{3, types.VERSION_KIND_LORA, nil},
		{2, types.VERSION_KIND_SFT, []types.DatasetVersionRef{d2}},
		{1, types.VERSION_KIND_PRETRAIN, []types.DatasetVersionRef{d1}},
	} {
		e := res.Entries[i]
		require.Equal(t, uint32(i), e.Depth)
		require.Equal(t, want.model, e.ModelId)
		require.Equal(t, want.kind, e.Kind)
		require.Equal(t, len(want.data), len(e.DatasetVersions))
		if len(want.data) > 0 {
			require.Equal(t, want.data, e.DatasetVersions)
		}
	}
	require.Equal(t, []types.DataShare{
		{DatanetId: d1.DatanetId, Version: 1, Bps: 4_000},
		{DatanetId: d2.DatanetId, Version: 1, Bps: 6_000},
	}, res.DataShares)

	res, err = f.query.Lineage(f.ctx, &types.QueryLineageRequest{ModelId: 3, Version: 1, MaxDepth: 1})
	require.NoError(t, err)
	require.True(t, res.Truncated)
	require.Len(t, res.Entries, 2)
	require.Empty(t, res.DataShares)

	_, err = f.query.Lineage(f.ctx, &types.QueryLineageRequest{ModelId: 3, Version: 2})
	require.ErrorIs(t, err, types.ErrVersionNotFound)
}

func TestModelAndDeploymentQueries(t *testing.T) {
	f, _, _ := lineageFixture(t)
	res, err := f.query.Models(f.ctx, &types.QueryModelsRequest{})
	require.NoError(t, err)
	require.Len(t, res.Models, 3)
	res, err = f.query.Models(f.ctx, &types.QueryModelsRequest{Owner: f.alice})
	require.NoError(t, err)
	require.Len(t, res.Models, 2)
	require.Equal(t, uint64(1), res.Models[0].Id)
	require.Equal(t, uint64(3), res.Models[1].Id)
	res, err = f.query.Models(f.ctx, &types.QueryModelsRequest{Owner: f.alice, Pagination: &query.PageRequest{Limit: 1, CountTotal: true}})
	require.NoError(t, err)
	require.Len(t, res.Models, 1)
	require.Equal(t, uint64(2), res.Pagination.Total)
	_, err = f.query.Models(f.ctx, &types.QueryModelsRequest{Owner: "nope"})
	require.ErrorIs(t, err, types.ErrInvalidAddress)

	m, err := f.query.Model(f.ctx, &types.QueryModelRequest{ModelId: 2})
	require.NoError(t, err)
	require.Equal(t, f.bob, m.Model.Owner)
	_, err = f.query.Model(f.ctx, &types.QueryModelRequest{ModelId: 9})
	require.ErrorIs(t, err, types.ErrModelNotFound)

	// Two more versions of model 1 and deployments on 1/1, 1/2 and 3/1.
	ds := f.datasetVersion()
	f.publish(f.publishMsg(f.alice, 1, ds))
	vs, err := f.query.ModelVersions(f.ctx, &types.QueryModelVersionsRequest{ModelId: 1})
	require.NoError(t, err)
	require.Len(t, vs.Versions, 2)
	require.Equal(t, uint64(2), vs.Versions[1].Version)
	_, err = f.query.ModelVersions(f.ctx, &types.QueryModelVersionsRequest{ModelId: 9})
	require.ErrorIs(t, err, types.ErrModelNotFound)
	v, err := f.query.ModelVersion(f.ctx, &types.QueryModelVersionRequest{ModelId: 2, Version: 1})
	require.NoError(t, err)
	require.Equal(t, uint32(1), v.Version.Depth)

	for _, d := range []struct {
		owner          string
		model, version uint64
	}{{f.alice, 1, 1}, {f.alice, 1, 2}, {f.alice, 3, 1}, {f.bob, 2, 1}} {
		_, err := f.msg.CreateDeployment(f.ctx, &types.MsgCreateDeployment{Owner: d.owner, ModelId: d.model, Version: d.version,
			RoyaltyPerThousandTokens: royalty(5), DeveloperBps: 2_000, DataBps: 8_000})
		require.NoError(t, err)
	}
	_, err = f.msg.UpdateDeployment(f.ctx, &types.MsgUpdateDeployment{Owner: f.alice, DeploymentId: 2, Status: types.DEPLOYMENT_STATUS_PAUSED})
	require.NoError(t, err)
	ids := func(req *types.QueryDeploymentsRequest) []uint64 {
		t.Helper()
		res, err := f.query.Deployments(f.ctx, req)
		require.NoError(t, err)
		var out []uint64
		for _, d := range res.Deployments {
			out = append(out, d.Id)
		}
		return out
	}
	require.Equal(t, []uint64{1, 2, 3, 4}, ids(&types.QueryDeploymentsRequest{}))
	require.Equal(t, []uint64{1, 2}, ids(&types.QueryDeploymentsRequest{ModelId: 1}))
	require.Equal(t, []uint64{2}, ids(&types.QueryDeploymentsRequest{ModelId: 1, ModelVersion: 2}))
	require.Equal(t, []uint64{1, 2, 3}, ids(&types.QueryDeploymentsRequest{Owner: f.alice}))
	require.Equal(t, []uint64{1, 3}, ids(&types.QueryDeploymentsRequest{Owner: f.alice, Status: types.DEPLOYMENT_STATUS_ACTIVE}))
	require.Equal(t, []uint64{2}, ids(&types.QueryDeploymentsRequest{Status: types.DEPLOYMENT_STATUS_PAUSED}))
	require.Equal(t, []uint64{1}, ids(&types.QueryDeploymentsRequest{ModelId: 1, Status: types.DEPLOYMENT_STATUS_ACTIVE}))
	_, err = f.query.Deployments(f.ctx, &types.QueryDeploymentsRequest{ModelVersion: 1})
	require.ErrorIs(t, err, types.ErrInvalidField)
	_, err = f.query.Deployments(f.ctx, &types.QueryDeploymentsRequest{ModelId: 1, Owner: f.alice})
	require.ErrorIs(t, err, types.ErrInvalidField)
	_, err = f.query.Deployments(f.ctx, &types.QueryDeploymentsRequest{Status: 17})
	require.ErrorIs(t, err, types.ErrInvalidField)

	d, err := f.query.Deployment(f.ctx, &types.QueryDeploymentRequest{DeploymentId: 3})
	require.NoError(t, err)
	require.Len(t, d.Deployment.DataShares, 2)
	_, err = f.query.Deployment(f.ctx, &types.QueryDeploymentRequest{DeploymentId: 99})
	require.ErrorIs(t, err, types.ErrDeploymentNotFound)
	_, err = f.query.DataShares(f.ctx, &types.QueryDataSharesRequest{DeploymentId: 99})
	require.ErrorIs(t, err, types.ErrDeploymentNotFound)
	f.checkInvariants()
}
