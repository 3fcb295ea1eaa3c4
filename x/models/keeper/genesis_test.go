package keeper_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/openledger/openledger/x/models/types"
)

// populated returns a fixture with models, a lineage, deployments (one paused, one
// retired, one with a scheduled price).
func populated(t *testing.T) *fixture {
	f, _, _ := lineageFixture(t)
	for _, d := range []struct {
		owner          string
		model, version uint64
	}{{f.alice, 1, 1}, {f.bob, 2, 1}, {f.alice, 3, 1}} {
		_, err := f.msg.CreateDeployment(f.ctx, &types.MsgCreateDeployment{Owner: d.owner, ModelId: d.model, Version: d.version,
			RoyaltyPerThousandTokens: royalty(5), DeveloperBps: 2_000, DataBps: 8_000})
		require.NoError(t, err)
	}
	price := royalty(9)
	_, err := f.msg.UpdateDeployment(f.ctx, &types.MsgUpdateDeployment{Owner: f.alice, DeploymentId: 1, RoyaltyPerThousandTokens: &price})
	require.NoError(t, err)
	_, err = f.msg.UpdateDeployment(f.ctx, &types.MsgUpdateDeployment{Owner: f.bob, DeploymentId: 2, Status: types.DEPLOYMENT_STATUS_PAUSED})
	require.NoError(t, err)
	_, err = f.msg.RetireDeployment(f.ctx, &types.MsgRetireDeployment{Owner: f.alice, DeploymentId: 3})
	require.NoError(t, err)
	_, err = f.msg.DeprecateVersion(f.ctx, &types.MsgDeprecateVersion{Owner: f.alice, ModelId: 1, Version: 1})
	require.NoError(t, err)
	return f
}

func TestGenesisRoundTrip(t *testing.T) {
	f := populated(t)
	gs, err := f.k.ExportGenesis(f.ctx)
	require.NoError(t, err)
	require.NoError(t, gs.Validate())
	require.Len(t, gs.Models, 3)
	require.Len(t, gs.Versions, 3)
	require.Len(t, gs.Deployments, 3)
	require.Len(t, gs.PriceQueue, 1)

	// Import into a fresh chain whose x/datanet holds the same dataset versions.
	g := newFixture(t)
	g.datasetVersion()
	g.datasetVersion()
	require.NoError(t, g.k.InitGenesis(g.ctx, *gs))
	again, err := g.k.ExportGenesis(g.ctx)
	require.NoError(t, err)
	require.Equal(t, mustJSON(t, gs), mustJSON(t, again))
	g.checkInvariants()

	// The sequences continue where they left off.
	id := g.createModel(g.alice)
	require.Equal(t, uint64(4), id)

	// JSON round trip through the codec, as genesis files do.
	bz, err := codecJSON().MarshalJSON(gs)
	require.NoError(t, err)
	var back types.GenesisState
	require.NoError(t, codecJSON().UnmarshalJSON(bz, &back))
	require.Equal(t, string(bz), mustJSON(t, &back))
}

func TestInitGenesisRejectsUnknownDatasetVersion(t *testing.T) {
	f := populated(t)
	gs, err := f.k.ExportGenesis(f.ctx)
	require.NoError(t, err)
	g := newFixture(t) // no dataset versions in this chain's x/datanet
	err = g.k.InitGenesis(g.ctx, *gs)
	require.ErrorIs(t, err, types.ErrInvalidGenesis)
	require.Contains(t, err.Error(), "dataset version not found")
}

func TestGenesisValidate(t *testing.T) {
	f := populated(t)
	base, err := f.k.ExportGenesis(f.ctx)
	require.NoError(t, err)
	cases := []struct {
		name    string
		mutate  func(gs *types.GenesisState)
		wantMsg string
	}{
		{"zero next id", func(gs *types.GenesisState) { gs.NextModelId = 0 }, "next ids"},
		{"model id out of range", func(gs *types.GenesisState) { gs.Models[0].Id = 99 }, "out of range"},
		{"duplicate model", func(gs *types.GenesisState) { gs.Models[1].Id = 1 }, "duplicate model"},
		{"version of unknown model", func(gs *types.GenesisState) { gs.Versions[0].ModelId = 42 }, "unknown model"},
		{"version beyond latest", func(gs *types.GenesisState) { gs.Versions[0].Version = 2 }, "out of range"},
		{"unknown parent", func(gs *types.GenesisState) { gs.Versions[1].Parent = &types.VersionRef{ModelId: 2, Version: 1} }, "depth"},
		{"cycle", func(gs *types.GenesisState) {
			gs.Versions[0].Parent, gs.Versions[0].UpstreamShareBps = &types.VersionRef{ModelId: 3, Version: 1}, 1
		}, "depth"},
		{"bad depth", func(gs *types.GenesisState) { gs.Versions[2].Depth = 5 }, "depth"},
		{"bad cid", func(gs *types.GenesisState) { gs.Versions[0].ArtifactCid = "x" }, "artifact_cid"},
		{"uppercase digest", func(gs *types.GenesisState) { gs.Versions[0].ManifestSha256 = "AB" + gs.Versions[0].ManifestSha256[2:] }, "manifest_sha256"},
		{"bad kind", func(gs *types.GenesisState) { gs.Versions[0].Kind = 0 }, "kind"},
		{"split not 10000", func(gs *types.GenesisState) { gs.Deployments[0].DataBps++ }, "developer_bps + data_bps"},
		{"share table not 10000", func(gs *types.GenesisState) { gs.Deployments[0].DataShares[0].Bps-- }, "sum to 9999"},
		{"share table unsorted", func(gs *types.GenesisState) {
			s := gs.Deployments[1].DataShares
			s[0], s[1] = s[1], s[0]
		}, "not sorted"},
		{"deployment of unknown version", func(gs *types.GenesisState) { gs.Deployments[0].Version = 7 }, "unknown version"},
		{"bad status", func(gs *types.GenesisState) { gs.Deployments[0].Status = 0 }, "invalid status"},
		{"queue without pending price", func(gs *types.GenesisState) { gs.Deployments[0].PendingRoyaltyPerThousandTokens = nil }, "together"},
		{"queue entry mismatch", func(gs *types.GenesisState) { gs.PriceQueue[0].EffectiveHeight++ }, "does not match"},
		{"missing queue entry", func(gs *types.GenesisState) { gs.PriceQueue = nil }, "price queue"},
		{"bad params", func(gs *types.GenesisState) { gs.Params.MaxShareEntries = 0 }, "max_share_entries"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var gs types.GenesisState
			bz, err := codecJSON().MarshalJSON(base)
			require.NoError(t, err)
			require.NoError(t, codecJSON().UnmarshalJSON(bz, &gs))
			tc.mutate(&gs)
			err = gs.Validate()
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.wantMsg)
		})
	}
}

func TestInvariantsCatchCorruption(t *testing.T) {
	f := populated(t)
	d, err := f.k.GetDeployment(f.ctx, 2)
	require.NoError(t, err)
	d.DataShares[0].Bps++
	require.NoError(t, f.k.Deployments.Set(f.ctx, 2, d))
	require.ErrorContains(t, f.k.ShareTableInvariant(f.ctx), "sum to 10001")

	g := populated(t)
	v, err := g.k.GetVersion(g.ctx, 1, 1)
	require.NoError(t, err)
	v.Parent, v.Depth = &types.VersionRef{ModelId: 3, Version: 1}, 3 // 1/1 → 3/1 → 2/1 → 1/1
	require.NoError(t, g.k.Versions.Set(g.ctx, joinV(1, 1), v))
	require.ErrorContains(t, g.k.LineageInvariant(g.ctx), "depth")

	h := populated(t)
	require.NoError(t, h.k.PriceQueue.Clear(h.ctx, nil))
	require.ErrorContains(t, h.k.ShareTableInvariant(h.ctx), "without a queue entry")
}

func mustJSON(t *testing.T, gs *types.GenesisState) string {
	t.Helper()
	bz, err := codecJSON().MarshalJSON(gs)
	require.NoError(t, err)
	return string(bz)
}
