package keeper_test

import (
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/openledger/openledger/x/models/types"
)

// TestLineagePropertyThroughMsgs publishes random lineages across models through
// the msg server: a version more than max_lineage_depth below its root is refused
// with ErrLineageTooDeep, every deployment's stored table is the flattening of its
// lineage query and sums to exactly 10,000 bps, and the invariants hold throughout.
func TestLineagePropertyThroughMsgs(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	f := newFixture(t)
	p := types.DefaultParams()
	p.MaxLineageDepth, p.MaxDatasetVersions, p.MaxShareEntries = 4, 3, 12
	_, err := f.msg.UpdateParams(f.ctx, &types.MsgUpdateParams{Authority: f.authority, Params: p})
	require.NoError(t, err)
	var pool []types.DatasetVersionRef
	for i := 0; i < 6; i++ {
		pool = append(pool, f.datasetVersion())
	}
	owners := []string{f.alice, f.bob, f.carol}
	var modelIDs []uint64
	for _, o := range owners {
		modelIDs = append(modelIDs, f.createModel(o))
	}
	var published []types.ModelVersion
	refused, deployed := 0, 0
	for iter := 0; iter < 150; iter++ {
		mi := r.Intn(len(modelIDs))
		m := f.publishMsg(owners[mi], modelIDs[mi])
		for _, i := range r.Perm(len(pool))[:r.Intn(4)] {
			m.DatasetVersions = append(m.DatasetVersions, pool[i])
		}
		var parent *types.ModelVersion
		if len(published) > 0 && r.Intn(5) > 0 {
			parent = &published[r.Intn(len(published))]
			m.Parent = &types.VersionRef{ModelId: parent.ModelId, Version: parent.Version}
			m.UpstreamShareBps = uint32(r.Intn(types.BpsScale + 1))
			if len(m.DatasetVersions) == 0 {
				m.UpstreamShareBps = types.BpsScale
			}
		} else if len(m.DatasetVersions) == 0 {
			m.DatasetVersions = pool[:1]
		}
		res, err := f.msg.PublishVersion(f.ctx, m)
		switch {
		case parent != nil && parent.Depth+1 > p.MaxLineageDepth:
			require.ErrorIs(t, err, types.ErrLineageTooDeep, "iteration %d", iter)
			refused++
			continue
		case err != nil:
			// The only other refusal a valid msg can meet is a table over the bound.
			require.ErrorIs(t, err, types.ErrTooManyShares, "iteration %d", iter)
			continue
		}
		v, err := f.k.GetVersion(f.ctx, m.ModelId, res.Version)
		require.NoError(t, err)
		require.LessOrEqual(t, v.Depth, p.MaxLineageDepth)
		published = append(published, v)

		dep, err := f.msg.CreateDeployment(f.ctx, &types.MsgCreateDeployment{Owner: m.Owner, ModelId: v.ModelId, Version: v.Version,
			RoyaltyPerThousandTokens: royalty(int64(r.Intn(1000))), DeveloperBps: 1_000, DataBps: 9_000})
		require.NoError(t, err, "iteration %d", iter)
		deployed++
		d, err := f.k.GetDeployment(f.ctx, dep.DeploymentId)
		require.NoError(t, err)
		require.NoError(t, types.CheckShareTable(d.DataShares))
		lin, err := f.query.Lineage(f.ctx, &types.QueryLineageRequest{ModelId: v.ModelId, Version: v.Version})
		require.NoError(t, err)
		require.False(t, lin.Truncated)
		require.Equal(t, int(v.Depth)+1, len(lin.Entries))
		require.Equal(t, d.DataShares, lin.DataShares)
	}
	f.checkInvariants()
	require.Positive(t, refused, "no lineage reached the depth bound")
	require.Positive(t, deployed)
	t.Logf("%d versions published, %d refused over the depth bound, %d deployments", len(published), refused, deployed)
}
