package keeper_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"cosmossdk.io/collections"

	"github.com/openledger/openledger/x/models/types"
)

// TestFeedbackGenesisRoundTrip exports the flywheel's state (three feedbacks, two
// with records in the feedback datanet), imports it into a fresh chain and exports
// the same bytes; the once-per-inference set, the counts and the feedback datanet
// link survive, and the feedback sequence continues.
func TestFeedbackGenesisRoundTrip(t *testing.T) {
	w := newFlywheel(t)
	ctx, e := w.ctx, w.fbEnv
	gs, err := e.f.App.ModelsKeeper.ExportGenesis(ctx)
	require.NoError(t, err)
	require.NoError(t, gs.Validate())
	require.Len(t, gs.Feedbacks, 3)
	require.Equal(t, uint64(4), gs.NextFeedbackId)
	var linked bool
	for _, d := range gs.Deployments {
		linked = linked || (d.Id == e.deploy && d.FeedbackDatanetId == w.fdn)
	}
	require.True(t, linked, "the deployment's feedback datanet link was not exported")
	dgs, err := e.f.App.DatanetKeeper.ExportGenesis(ctx)
	require.NoError(t, err)

	g := newFixture(t)
	require.NoError(t, g.dn.InitGenesis(g.ctx, *dgs))
	require.NoError(t, g.k.InitGenesis(g.ctx, *gs))
	again, err := g.k.ExportGenesis(g.ctx)
	require.NoError(t, err)
	require.Equal(t, mustJSON(t, gs), mustJSON(t, again))
	g.checkInvariants()

	for _, f := range gs.Feedbacks {
		kind, id, seq := f.InferenceKey()
		got, err := g.k.FeedbackByInference.Get(g.ctx, collections.Join3(kind, id, seq))
		require.NoError(t, err)
		require.Equal(t, f.Id, got)
	}
	counts, err := g.query.FeedbackCounts(g.ctx, &types.QueryFeedbackCountsRequest{DeploymentId: e.deploy})
	require.NoError(t, err)
	require.Equal(t, types.FeedbackCounts{Up: 2, Down: 1, Records: 2}, counts.Counts)
	require.Equal(t, w.fdn, counts.FeedbackDatanetId)
	next, err := g.k.FeedbackSeq.Peek(g.ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(4), next)
}

// TestFeedbackGenesisValidate refuses each kind of corrupt feedback state.
func TestFeedbackGenesisValidate(t *testing.T) {
	w := newFlywheel(t)
	base, err := w.f.App.ModelsKeeper.ExportGenesis(w.ctx)
	require.NoError(t, err)
	require.NoError(t, base.Validate())
	rated := func(gs *types.GenesisState) *types.Feedback { // the first feedback with a record
		for i := range gs.Feedbacks {
			if gs.Feedbacks[i].ContributionId != 0 {
				return &gs.Feedbacks[i]
			}
		}
		t.Fatal("no record feedback")
		return nil
	}
	cases := []struct {
		name string
		edit func(gs *types.GenesisState)
	}{
		{"id at next", func(gs *types.GenesisState) { gs.NextFeedbackId = gs.Feedbacks[2].Id }},
		{"duplicate id", func(gs *types.GenesisState) { gs.Feedbacks[1].Id = gs.Feedbacks[0].Id }},
		{"two feedbacks on one inference", func(gs *types.GenesisState) {
			gs.Feedbacks[1].Kind, gs.Feedbacks[1].JobId = gs.Feedbacks[0].Kind, gs.Feedbacks[0].JobId
			gs.Feedbacks[1].SessionId, gs.Feedbacks[1].RequestSeq, gs.Feedbacks[1].SettlementId = 0, 0, 0
		}},
		{"unknown deployment", func(gs *types.GenesisState) { gs.Feedbacks[0].DeploymentId = 99 }},
		{"no rating", func(gs *types.GenesisState) { gs.Feedbacks[0].Rating = types.FEEDBACK_RATING_UNSPECIFIED }},
		{"no kind", func(gs *types.GenesisState) { gs.Feedbacks[0].Kind = types.INFERENCE_KIND_UNSPECIFIED }},
		{"empty rater", func(gs *types.GenesisState) { gs.Feedbacks[0].Rater = "" }},
		{"record without contribution", func(gs *types.GenesisState) { rated(gs).ContributionId = 0 }},
		{"record in another datanet", func(gs *types.GenesisState) { rated(gs).DatanetId++ }},
		{"record without size", func(gs *types.GenesisState) { rated(gs).RecordSize = 0 }},
		{"session feedback without request", func(gs *types.GenesisState) {
			for i := range gs.Feedbacks {
				if gs.Feedbacks[i].Kind == types.INFERENCE_KIND_SESSION_REQUEST {
					gs.Feedbacks[i].RequestSeq = 0
				}
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var gs types.GenesisState
			require.NoError(t, codecJSON().UnmarshalJSON([]byte(mustJSON(t, base)), &gs))
			tc.edit(&gs)
			require.ErrorIs(t, gs.Validate(), types.ErrInvalidGenesis)
		})
	}
}
