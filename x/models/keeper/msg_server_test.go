package keeper_test

import (
	"strings"
	"testing"

	errorsmod "cosmossdk.io/errors"
	sdkmath "cosmossdk.io/math"

	"github.com/stretchr/testify/require"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/models/keeper"
	"github.com/openledger/openledger/x/models/types"
)

// expectFailure runs fn, requires the registered error (and a message naming the
// field), and requires that the module state did not change.
func (f *fixture) expectFailure(t *testing.T, fn func() error, want *errorsmod.Error, msg string) {
	t.Helper()
	before, err := f.k.ExportGenesis(f.ctx)
	require.NoError(t, err)
	// A failing tx is rolled back by the SDK; check that the handler itself writes
	// nothing before failing either (every check comes before the first write).
	err = fn()
	require.Error(t, err)
	require.Truef(t, want.Is(err), "want %v, got %v", want, err)
	if msg != "" {
		require.Contains(t, err.Error(), msg)
	}
	after, err2 := f.k.ExportGenesis(f.ctx)
	require.NoError(t, err2)
	require.Equal(t, before, after, "state changed on a failed msg")
}

func TestCreateModel(t *testing.T) {
	long := strings.Repeat("x", 65)
	cases := []struct {
		name    string
		mutate  func(f *fixture, m *types.MsgCreateModel)
		wantErr *errorsmod.Error
		wantMsg string
	}{
		{"ok", func(*fixture, *types.MsgCreateModel) {}, nil, ""},
		{"ok with tokenizer and external base (CIDv0 normalised)", func(_ *fixture, m *types.MsgCreateModel) {
			m.TokenizerCid = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
			m.ExternalBase = &types.ExternalBase{Name: "TinyLlama", ArtifactCid: "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"}
		}, nil, ""},
		{"empty owner", func(_ *fixture, m *types.MsgCreateModel) { m.Owner = "" }, types.ErrInvalidAddress, "owner"},
		{"bad owner", func(_ *fixture, m *types.MsgCreateModel) { m.Owner = "cosmos1xyz" }, types.ErrInvalidAddress, "owner"},
		{"empty name", func(_ *fixture, m *types.MsgCreateModel) { m.Name = " " }, types.ErrInvalidField, "name"},
		{"long name", func(_ *fixture, m *types.MsgCreateModel) { m.Name = long }, types.ErrInvalidField, "name"},
		{"control char in description", func(_ *fixture, m *types.MsgCreateModel) { m.Description = "a\x00b" }, types.ErrInvalidField, "description"},
		{"task with space", func(_ *fixture, m *types.MsgCreateModel) { m.Task = "text generation" }, types.ErrInvalidField, "task"},
		{"empty license", func(_ *fixture, m *types.MsgCreateModel) { m.License = "" }, types.ErrInvalidField, "license"},
		{"bad tokenizer cid", func(_ *fixture, m *types.MsgCreateModel) { m.TokenizerCid = "not-a-cid" }, types.ErrInvalidCID, "tokenizer_cid"},
		{"external base without name", func(_ *fixture, m *types.MsgCreateModel) { m.ExternalBase = &types.ExternalBase{} }, types.ErrInvalidField, "external_base.name"},
		{"external base bad cid", func(_ *fixture, m *types.MsgCreateModel) {
			m.ExternalBase = &types.ExternalBase{Name: "x", ArtifactCid: "bafy-nope"}
		}, types.ErrInvalidCID, "external_base.artifact_cid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			m := &types.MsgCreateModel{Owner: f.alice, Name: "tiny", Description: "a tiny model", Task: "text-generation", License: "MIT"}
			tc.mutate(f, m)
			if tc.wantErr != nil {
				f.expectFailure(t, func() error { _, err := f.msg.CreateModel(f.ctx, m); return err }, tc.wantErr, tc.wantMsg)
				return
			}
			res, err := f.msg.CreateModel(f.ctx, m)
			require.NoError(t, err)
			require.Equal(t, uint64(1), res.ModelId)
			got, err := f.k.GetModel(f.ctx, 1)
			require.NoError(t, err)
			require.Equal(t, f.alice, got.Owner)
			require.Equal(t, int64(10), got.CreatedHeight)
			if m.TokenizerCid != "" {
				require.True(t, strings.HasPrefix(got.TokenizerCid, "baf"), got.TokenizerCid)
				require.True(t, strings.HasPrefix(got.ExternalBase.ArtifactCid, "baf"))
			}
			require.Contains(t, eventTypes(f.ctx), "openledger.models.v1.EventModelCreated")
		})
	}
}

func eventTypes(ctx sdk.Context) []string {
	var out []string
	for _, e := range ctx.EventManager().Events() {
		out = append(out, e.Type)
	}
	return out
}

func TestUpdateModel(t *testing.T) {
	cases := []struct {
		name    string
		msg     func(f *fixture) *types.MsgUpdateModel
		wantErr *errorsmod.Error
		wantMsg string
	}{
		{"ok", func(f *fixture) *types.MsgUpdateModel {
			return &types.MsgUpdateModel{Owner: f.alice, ModelId: 1, Name: &types.StringValue{Value: "renamed"},
				Description: &types.StringValue{}, Task: &types.StringValue{Value: "chat"}, License: &types.StringValue{Value: "Apache-2.0"},
				TokenizerCid: &types.StringValue{Value: "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"}}
		}, nil, ""},
		{"non-owner", func(f *fixture) *types.MsgUpdateModel {
			return &types.MsgUpdateModel{Owner: f.bob, ModelId: 1, Name: &types.StringValue{Value: "mine"}}
		}, types.ErrUnauthorized, "does not own model 1"},
		{"unknown model", func(f *fixture) *types.MsgUpdateModel {
			return &types.MsgUpdateModel{Owner: f.alice, ModelId: 9, Name: &types.StringValue{Value: "x"}}
		}, types.ErrModelNotFound, "model_id 9"},
		{"nothing to update", func(f *fixture) *types.MsgUpdateModel {
			return &types.MsgUpdateModel{Owner: f.alice, ModelId: 1}
		}, types.ErrInvalidField, "no field"},
		{"empty name", func(f *fixture) *types.MsgUpdateModel {
			return &types.MsgUpdateModel{Owner: f.alice, ModelId: 1, Name: &types.StringValue{}}
		}, types.ErrInvalidField, "name"},
		{"bad task", func(f *fixture) *types.MsgUpdateModel {
			return &types.MsgUpdateModel{Owner: f.alice, ModelId: 1, Task: &types.StringValue{Value: "a b"}}
		}, types.ErrInvalidField, "task"},
		{"bad license", func(f *fixture) *types.MsgUpdateModel {
			return &types.MsgUpdateModel{Owner: f.alice, ModelId: 1, License: &types.StringValue{}}
		}, types.ErrInvalidField, "license"},
		{"bad tokenizer", func(f *fixture) *types.MsgUpdateModel {
			return &types.MsgUpdateModel{Owner: f.alice, ModelId: 1, TokenizerCid: &types.StringValue{Value: "zz"}}
		}, types.ErrInvalidCID, "tokenizer_cid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.createModel(f.alice)
			m := tc.msg(f)
			if tc.wantErr != nil {
				f.expectFailure(t, func() error { _, err := f.msg.UpdateModel(f.ctx, m); return err }, tc.wantErr, tc.wantMsg)
				return
			}
			_, err := f.msg.UpdateModel(f.ctx, m)
			require.NoError(t, err)
			got, err := f.k.GetModel(f.ctx, 1)
			require.NoError(t, err)
			require.Equal(t, "renamed", got.Name)
			require.Equal(t, "", got.Description)
			require.Equal(t, "chat", got.Task)
			require.True(t, strings.HasPrefix(got.TokenizerCid, "baf"))
		})
	}
}

func TestPublishVersion(t *testing.T) {
	cases := []struct {
		name string
		// setup returns the msg to send; the fixture has model 1 (alice) with dataset
		// version ds published as version 1 of model 1, and model 2 owned by bob.
		msg     func(f *fixture, ds types.DatasetVersionRef) *types.MsgPublishVersion
		wantErr *errorsmod.Error
		wantMsg string
	}{
		{"ok root", func(f *fixture, ds types.DatasetVersionRef) *types.MsgPublishVersion {
			return f.publishMsg(f.alice, 1, ds)
		}, nil, ""},
		{"ok fine-tune of another model's version, no own data", func(f *fixture, ds types.DatasetVersionRef) *types.MsgPublishVersion {
			m := f.publishMsg(f.bob, 2)
			m.Kind, m.Parent, m.UpstreamShareBps = types.VERSION_KIND_LORA, &types.VersionRef{ModelId: 1, Version: 1}, 10_000
			return m
		}, nil, ""},
		{"unknown dataset version", func(f *fixture, ds types.DatasetVersionRef) *types.MsgPublishVersion {
			return f.publishMsg(f.alice, 1, types.DatasetVersionRef{DatanetId: ds.DatanetId, Version: 2})
		}, types.ErrDatasetVersionNotFound, "dataset_versions: datanet 1 version 2"},
		{"unknown datanet", func(f *fixture, _ types.DatasetVersionRef) *types.MsgPublishVersion {
			return f.publishMsg(f.alice, 1, types.DatasetVersionRef{DatanetId: 77, Version: 1})
		}, types.ErrDatasetVersionNotFound, "datanet 77"},
		{"zero dataset ref", func(f *fixture, _ types.DatasetVersionRef) *types.MsgPublishVersion {
			return f.publishMsg(f.alice, 1, types.DatasetVersionRef{})
		}, types.ErrDatasetVersionNotFound, "dataset_versions[0]"},
		{"duplicate dataset", func(f *fixture, ds types.DatasetVersionRef) *types.MsgPublishVersion {
			return f.publishMsg(f.alice, 1, ds, ds)
		}, types.ErrInvalidField, "appears twice"},
		{"no datasets and no parent", func(f *fixture, _ types.DatasetVersionRef) *types.MsgPublishVersion {
			return f.publishMsg(f.alice, 1)
		}, types.ErrDatasetVersionNotFound, "at least one dataset version"},
		{"missing parent", func(f *fixture, ds types.DatasetVersionRef) *types.MsgPublishVersion {
			m := f.publishMsg(f.alice, 1, ds)
			m.Parent, m.UpstreamShareBps = &types.VersionRef{ModelId: 1, Version: 5}, 100
			return m
		}, types.ErrParentNotFound, "parent: model 1 version 5"},
		{"upstream without parent", func(f *fixture, ds types.DatasetVersionRef) *types.MsgPublishVersion {
			m := f.publishMsg(f.alice, 1, ds)
			m.UpstreamShareBps = 1
			return m
		}, types.ErrInvalidBps, "upstream_share_bps"},
		{"upstream over 10000", func(f *fixture, ds types.DatasetVersionRef) *types.MsgPublishVersion {
			m := f.publishMsg(f.alice, 1, ds)
			m.Parent, m.UpstreamShareBps = &types.VersionRef{ModelId: 1, Version: 1}, 10_001
			return m
		}, types.ErrInvalidBps, "upstream_share_bps"},
		{"no own data but upstream below 10000", func(f *fixture, _ types.DatasetVersionRef) *types.MsgPublishVersion {
			m := f.publishMsg(f.alice, 1)
			m.Parent, m.UpstreamShareBps = &types.VersionRef{ModelId: 1, Version: 1}, 9_999
			return m
		}, types.ErrInvalidBps, "upstream_share_bps"},
		{"publishing to another's model", func(f *fixture, ds types.DatasetVersionRef) *types.MsgPublishVersion {
			return f.publishMsg(f.alice, 2, ds)
		}, types.ErrUnauthorized, "does not own model 2"},
		{"unknown model", func(f *fixture, ds types.DatasetVersionRef) *types.MsgPublishVersion {
			return f.publishMsg(f.alice, 3, ds)
		}, types.ErrModelNotFound, "model_id 3"},
		{"bad owner", func(f *fixture, ds types.DatasetVersionRef) *types.MsgPublishVersion {
			return f.publishMsg("open1bad", 1, ds)
		}, types.ErrInvalidAddress, "owner"},
		{"unspecified kind", func(f *fixture, ds types.DatasetVersionRef) *types.MsgPublishVersion {
			m := f.publishMsg(f.alice, 1, ds)
			m.Kind = types.VERSION_KIND_UNSPECIFIED
			return m
		}, types.ErrInvalidKind, "kind"},
		{"unknown kind", func(f *fixture, ds types.DatasetVersionRef) *types.MsgPublishVersion {
			m := f.publishMsg(f.alice, 1, ds)
			m.Kind = 99
			return m
		}, types.ErrInvalidKind, "kind"},
		{"bad artifact cid", func(f *fixture, ds types.DatasetVersionRef) *types.MsgPublishVersion {
			m := f.publishMsg(f.alice, 1, ds)
			m.ArtifactCid = "bafy"
			return m
		}, types.ErrInvalidCID, "artifact_cid"},
		{"empty manifest cid", func(f *fixture, ds types.DatasetVersionRef) *types.MsgPublishVersion {
			m := f.publishMsg(f.alice, 1, ds)
			m.ManifestCid = ""
			return m
		}, types.ErrInvalidCID, "manifest_cid"},
		{"bad span index cid", func(f *fixture, ds types.DatasetVersionRef) *types.MsgPublishVersion {
			m := f.publishMsg(f.alice, 1, ds)
			m.SpanIndexCid = "x"
			return m
		}, types.ErrInvalidCID, "span_index_cid"},
		{"bad influence sketch cid", func(f *fixture, ds types.DatasetVersionRef) *types.MsgPublishVersion {
			m := f.publishMsg(f.alice, 1, ds)
			m.InfluenceSketchCid = "x"
			return m
		}, types.ErrInvalidCID, "influence_sketch_cid"},
		{"short artifact digest", func(f *fixture, ds types.DatasetVersionRef) *types.MsgPublishVersion {
			m := f.publishMsg(f.alice, 1, ds)
			m.ArtifactSha256 = "abcd"
			return m
		}, types.ErrInvalidDigest, "artifact_sha256"},
		{"non-hex manifest digest", func(f *fixture, ds types.DatasetVersionRef) *types.MsgPublishVersion {
			m := f.publishMsg(f.alice, 1, ds)
			m.ManifestSha256 = strings.Repeat("zz", 32)
			return m
		}, types.ErrInvalidDigest, "manifest_sha256"},
		{"zero artifact size", func(f *fixture, ds types.DatasetVersionRef) *types.MsgPublishVersion {
			m := f.publishMsg(f.alice, 1, ds)
			m.ArtifactSize = 0
			return m
		}, types.ErrInvalidSize, "artifact_size"},
		{"empty engine", func(f *fixture, ds types.DatasetVersionRef) *types.MsgPublishVersion {
			m := f.publishMsg(f.alice, 1, ds)
			m.EngineName = ""
			return m
		}, types.ErrInvalidField, "engine_name"},
		{"bad engine version", func(f *fixture, ds types.DatasetVersionRef) *types.MsgPublishVersion {
			m := f.publishMsg(f.alice, 1, ds)
			m.EngineVersion = "v 1"
			return m
		}, types.ErrInvalidField, "engine_version"},
		{"too many dataset versions", func(f *fixture, ds types.DatasetVersionRef) *types.MsgPublishVersion {
			var refs []types.DatasetVersionRef
			for i := uint64(1); i <= 17; i++ {
				refs = append(refs, types.DatasetVersionRef{DatanetId: i, Version: 1})
			}
			return f.publishMsg(f.alice, 1, refs...)
		}, types.ErrTooManyShares, "max_dataset_versions"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			ds := f.datasetVersion()
			f.createModel(f.alice)
			f.createModel(f.bob)
			f.publish(f.publishMsg(f.alice, 1, ds))
			m := tc.msg(f, ds)
			if tc.wantErr != nil {
				f.expectFailure(t, func() error { _, err := f.msg.PublishVersion(f.ctx, m); return err }, tc.wantErr, tc.wantMsg)
				return
			}
			res, err := f.msg.PublishVersion(f.ctx, m)
			require.NoError(t, err)
			model, err := f.k.GetModel(f.ctx, m.ModelId)
			require.NoError(t, err)
			require.Equal(t, res.Version, model.LatestVersion)
			v, err := f.k.GetVersion(f.ctx, m.ModelId, res.Version)
			require.NoError(t, err)
			require.Equal(t, types.VERSION_STATUS_PUBLISHED, v.Status)
			require.Equal(t, m.Owner, v.Publisher)
			if m.Parent != nil {
				require.Equal(t, uint32(1), v.Depth)
			}
			require.Contains(t, eventTypes(f.ctx), "openledger.models.v1.EventVersionPublished")
			f.checkInvariants()
		})
	}
}

func TestPublishVersionBounds(t *testing.T) {
	t.Run("depth over the bound", func(t *testing.T) {
		f := newFixture(t)
		p := types.DefaultParams()
		p.MaxLineageDepth = 2
		_, err := f.msg.UpdateParams(f.ctx, &types.MsgUpdateParams{Authority: f.authority, Params: p})
		require.NoError(t, err)
		ds := f.datasetVersion()
		id := f.createModel(f.alice)
		f.publish(f.publishMsg(f.alice, id, ds))
		for v := uint64(1); v <= 2; v++ {
			m := f.publishMsg(f.alice, id, ds)
			m.Parent, m.UpstreamShareBps = &types.VersionRef{ModelId: id, Version: v}, 5_000
			f.publish(m)
		}
		m := f.publishMsg(f.alice, id, ds)
		m.Parent, m.UpstreamShareBps = &types.VersionRef{ModelId: id, Version: 3}, 5_000
		f.expectFailure(t, func() error { _, err := f.msg.PublishVersion(f.ctx, m); return err }, types.ErrLineageTooDeep, "max_lineage_depth is 2")
	})
	t.Run("share table over the bound", func(t *testing.T) {
		f := newFixture(t)
		p := types.DefaultParams()
		p.MaxDatasetVersions, p.MaxShareEntries = 2, 3
		_, err := f.msg.UpdateParams(f.ctx, &types.MsgUpdateParams{Authority: f.authority, Params: p})
		require.NoError(t, err)
		d1, d2, d3, d4 := f.datasetVersion(), f.datasetVersion(), f.datasetVersion(), f.datasetVersion()
		id := f.createModel(f.alice)
		f.publish(f.publishMsg(f.alice, id, d1, d2))
		m := f.publishMsg(f.alice, id, d3, d4)
		m.Parent, m.UpstreamShareBps = &types.VersionRef{ModelId: id, Version: 1}, 5_000
		f.expectFailure(t, func() error { _, err := f.msg.PublishVersion(f.ctx, m); return err }, types.ErrTooManyShares, "max_share_entries (3)")
	})
}

func TestDeprecateVersion(t *testing.T) {
	f := newFixture(t)
	ds := f.datasetVersion()
	id := f.createModel(f.alice)
	f.publish(f.publishMsg(f.alice, id, ds))
	f.expectFailure(t, func() error {
		_, err := f.msg.DeprecateVersion(f.ctx, &types.MsgDeprecateVersion{Owner: f.bob, ModelId: id, Version: 1})
		return err
	}, types.ErrUnauthorized, "does not own")
	f.expectFailure(t, func() error {
		_, err := f.msg.DeprecateVersion(f.ctx, &types.MsgDeprecateVersion{Owner: f.alice, ModelId: id, Version: 2})
		return err
	}, types.ErrVersionNotFound, "version 2")
	_, err := f.msg.DeprecateVersion(f.ctx, &types.MsgDeprecateVersion{Owner: f.alice, ModelId: id, Version: 1})
	require.NoError(t, err)
	v, err := f.k.GetVersion(f.ctx, id, 1)
	require.NoError(t, err)
	require.Equal(t, types.VERSION_STATUS_DEPRECATED, v.Status)
	require.Equal(t, int64(10), v.DeprecatedHeight)
	f.expectFailure(t, func() error {
		_, err := f.msg.DeprecateVersion(f.ctx, &types.MsgDeprecateVersion{Owner: f.alice, ModelId: id, Version: 1})
		return err
	}, types.ErrWrongStatus, "DEPRECATED")
	// A deprecated version gets no new deployment, but can still be fine-tuned.
	f.expectFailure(t, func() error {
		_, err := f.msg.CreateDeployment(f.ctx, &types.MsgCreateDeployment{Owner: f.alice, ModelId: id, Version: 1,
			RoyaltyPerThousandTokens: royalty(10), DeveloperBps: 5_000, DataBps: 5_000})
		return err
	}, types.ErrWrongStatus, "DEPRECATED")
	m := f.publishMsg(f.alice, id)
	m.Parent, m.UpstreamShareBps = &types.VersionRef{ModelId: id, Version: 1}, 10_000
	f.publish(m)
}

func TestCreateDeployment(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(f *fixture, m *types.MsgCreateDeployment)
		wantErr *errorsmod.Error
		wantMsg string
	}{
		{"ok", func(*fixture, *types.MsgCreateDeployment) {}, nil, ""},
		{"ok free", func(_ *fixture, m *types.MsgCreateDeployment) { m.RoyaltyPerThousandTokens = royalty(0) }, nil, ""},
		{"ok all to data", func(_ *fixture, m *types.MsgCreateDeployment) { m.DeveloperBps, m.DataBps = 0, 10_000 }, nil, ""},
		{"non-owner", func(f *fixture, m *types.MsgCreateDeployment) { m.Owner = f.bob }, types.ErrUnauthorized, "does not own model 1"},
		{"unknown version", func(_ *fixture, m *types.MsgCreateDeployment) { m.Version = 3 }, types.ErrVersionNotFound, "version 3"},
		{"bps below 10000", func(_ *fixture, m *types.MsgCreateDeployment) { m.DataBps = 4_999 }, types.ErrInvalidBps, "developer_bps + data_bps"},
		{"bps above 10000", func(_ *fixture, m *types.MsgCreateDeployment) { m.DataBps = 5_001 }, types.ErrInvalidBps, "developer_bps + data_bps"},
		{"bps that wrap uint32", func(_ *fixture, m *types.MsgCreateDeployment) { m.DeveloperBps, m.DataBps = 4_294_967_295, 10_001 }, types.ErrInvalidBps, "developer_bps"},
		{"wrong denom", func(_ *fixture, m *types.MsgCreateDeployment) {
			m.RoyaltyPerThousandTokens = sdk.NewInt64Coin("stake", 1)
		}, types.ErrInvalidRoyalty, "denom"},
		{"royalty overflow", func(_ *fixture, m *types.MsgCreateDeployment) {
			m.RoyaltyPerThousandTokens = sdk.Coin{Denom: "uopen", Amount: sdkmath.NewIntWithDecimal(1, 40)}
		}, types.ErrInvalidRoyalty, "exceeds the maximum"},
		{"negative royalty", func(_ *fixture, m *types.MsgCreateDeployment) {
			m.RoyaltyPerThousandTokens = sdk.Coin{Denom: "uopen", Amount: sdkmath.NewInt(-1)}
		}, types.ErrInvalidRoyalty, "negative"},
		{"missing royalty amount", func(_ *fixture, m *types.MsgCreateDeployment) {
			m.RoyaltyPerThousandTokens = sdk.Coin{Denom: "uopen"}
		}, types.ErrInvalidRoyalty, "missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			d1, d2 := f.datasetVersion(), f.datasetVersion()
			id := f.createModel(f.alice)
			f.publish(f.publishMsg(f.alice, id, d1))
			child := f.publishMsg(f.alice, id, d2)
			child.Kind, child.Parent, child.UpstreamShareBps = types.VERSION_KIND_SFT, &types.VersionRef{ModelId: id, Version: 1}, 3_000
			f.publish(child)
			m := &types.MsgCreateDeployment{Owner: f.alice, ModelId: id, Version: 2,
				RoyaltyPerThousandTokens: royalty(25), DeveloperBps: 5_000, DataBps: 5_000}
			tc.mutate(f, m)
			if tc.wantErr != nil {
				f.expectFailure(t, func() error { _, err := f.msg.CreateDeployment(f.ctx, m); return err }, tc.wantErr, tc.wantMsg)
				return
			}
			res, err := f.msg.CreateDeployment(f.ctx, m)
			require.NoError(t, err)
			d, err := f.k.GetDeployment(f.ctx, res.DeploymentId)
			require.NoError(t, err)
			require.Equal(t, types.DEPLOYMENT_STATUS_ACTIVE, d.Status)
			// Version 2 keeps 7,000 bps for d2 and passes 3,000 to version 1's d1.
			require.Equal(t, []types.DataShare{
				{DatanetId: d1.DatanetId, Version: 1, Bps: 3_000},
				{DatanetId: d2.DatanetId, Version: 1, Bps: 7_000},
			}, d.DataShares)
			shares, err := f.query.DataShares(f.ctx, &types.QueryDataSharesRequest{DeploymentId: d.Id})
			require.NoError(t, err)
			require.Equal(t, d.DataShares, shares.DataShares)
			f.checkInvariants()
		})
	}
}

func TestDeploymentLifecycle(t *testing.T) {
	f := newFixture(t)
	ds := f.datasetVersion()
	id := f.createModel(f.alice)
	f.publish(f.publishMsg(f.alice, id, ds))
	res, err := f.msg.CreateDeployment(f.ctx, &types.MsgCreateDeployment{Owner: f.alice, ModelId: id, Version: 1,
		RoyaltyPerThousandTokens: royalty(100), DeveloperBps: 3_000, DataBps: 7_000})
	require.NoError(t, err)
	dep := res.DeploymentId

	active, err := f.k.GetActiveDeployment(f.ctx, dep)
	require.NoError(t, err)
	require.Equal(t, royalty(100), active.RoyaltyPerThousandTokens)
	require.Equal(t, []types.DataShare{{DatanetId: ds.DatanetId, Version: 1, Bps: 10_000}}, active.DataShares)

	// Bad updates change nothing.
	f.expectFailure(t, func() error {
		_, err := f.msg.UpdateDeployment(f.ctx, &types.MsgUpdateDeployment{Owner: f.bob, DeploymentId: dep, Status: types.DEPLOYMENT_STATUS_PAUSED})
		return err
	}, types.ErrUnauthorized, "does not own deployment")
	f.expectFailure(t, func() error {
		_, err := f.msg.UpdateDeployment(f.ctx, &types.MsgUpdateDeployment{Owner: f.alice, DeploymentId: dep})
		return err
	}, types.ErrInvalidField, "nothing to update")
	f.expectFailure(t, func() error {
		_, err := f.msg.UpdateDeployment(f.ctx, &types.MsgUpdateDeployment{Owner: f.alice, DeploymentId: dep, Status: types.DEPLOYMENT_STATUS_ACTIVE})
		return err
	}, types.ErrWrongStatus, "already")
	f.expectFailure(t, func() error {
		_, err := f.msg.UpdateDeployment(f.ctx, &types.MsgUpdateDeployment{Owner: f.alice, DeploymentId: dep, Status: types.DEPLOYMENT_STATUS_RETIRED})
		return err
	}, types.ErrInvalidField, "MsgRetireDeployment")
	f.expectFailure(t, func() error {
		_, err := f.msg.UpdateDeployment(f.ctx, &types.MsgUpdateDeployment{Owner: f.alice, DeploymentId: dep, Status: 42})
		return err
	}, types.ErrInvalidField, "status")
	big := sdk.Coin{Denom: "uopen", Amount: sdkmath.NewIntWithDecimal(1, 13)}
	f.expectFailure(t, func() error {
		_, err := f.msg.UpdateDeployment(f.ctx, &types.MsgUpdateDeployment{Owner: f.alice, DeploymentId: dep, RoyaltyPerThousandTokens: &big})
		return err
	}, types.ErrInvalidRoyalty, "royalty_per_thousand_tokens")
	f.expectFailure(t, func() error {
		_, err := f.msg.UpdateDeployment(f.ctx, &types.MsgUpdateDeployment{Owner: f.alice, DeploymentId: 9, Status: types.DEPLOYMENT_STATUS_PAUSED})
		return err
	}, types.ErrDeploymentNotFound, "deployment_id 9")

	// A price change waits for the notice period (100 blocks by default); a second
	// change replaces the first and its queue entry.
	p1 := royalty(150)
	up, err := f.msg.UpdateDeployment(f.ctx, &types.MsgUpdateDeployment{Owner: f.alice, DeploymentId: dep, RoyaltyPerThousandTokens: &p1})
	require.NoError(t, err)
	require.Equal(t, int64(110), up.EffectiveHeight)
	f.ctx = f.ctx.WithBlockHeight(20)
	p2 := royalty(200)
	up, err = f.msg.UpdateDeployment(f.ctx, &types.MsgUpdateDeployment{Owner: f.alice, DeploymentId: dep, RoyaltyPerThousandTokens: &p2})
	require.NoError(t, err)
	require.Equal(t, int64(120), up.EffectiveHeight)
	f.checkInvariants()
	has, err := f.k.PriceQueue.Has(f.ctx, joinQ(110, dep))
	require.NoError(t, err)
	require.False(t, has, "the replaced price's queue entry remains")

	for _, h := range []int64{110, 119} {
		f.ctx = f.ctx.WithBlockHeight(h)
		require.NoError(t, f.k.EndBlocker(f.ctx))
		active, err = f.k.GetActiveDeployment(f.ctx, dep)
		require.NoError(t, err)
		require.Equal(t, royalty(100), active.RoyaltyPerThousandTokens, "price changed before its effective height %d", h)
	}
	// At the effective height the new price is in force even before EndBlock runs.
	f.ctx = f.ctx.WithBlockHeight(120)
	active, err = f.k.GetActiveDeployment(f.ctx, dep)
	require.NoError(t, err)
	require.Equal(t, p2, active.RoyaltyPerThousandTokens)
	require.NoError(t, f.k.EndBlocker(f.ctx))
	d, err := f.k.GetDeployment(f.ctx, dep)
	require.NoError(t, err)
	require.Equal(t, p2, d.RoyaltyPerThousandTokens)
	require.Nil(t, d.PendingRoyaltyPerThousandTokens)
	require.Contains(t, eventTypes(f.ctx), "openledger.models.v1.EventDeploymentPriceChanged")
	f.checkInvariants()

	// Pause and resume.
	_, err = f.msg.UpdateDeployment(f.ctx, &types.MsgUpdateDeployment{Owner: f.alice, DeploymentId: dep, Status: types.DEPLOYMENT_STATUS_PAUSED})
	require.NoError(t, err)
	_, err = f.k.GetActiveDeployment(f.ctx, dep)
	require.ErrorIs(t, err, types.ErrDeploymentNotActive)
	_, err = f.msg.UpdateDeployment(f.ctx, &types.MsgUpdateDeployment{Owner: f.alice, DeploymentId: dep, Status: types.DEPLOYMENT_STATUS_ACTIVE})
	require.NoError(t, err)
	_, err = f.k.GetActiveDeployment(f.ctx, dep)
	require.NoError(t, err)

	// Retire with a scheduled price: the queue entry goes too; retired is final.
	_, err = f.msg.UpdateDeployment(f.ctx, &types.MsgUpdateDeployment{Owner: f.alice, DeploymentId: dep, RoyaltyPerThousandTokens: &p1})
	require.NoError(t, err)
	f.expectFailure(t, func() error {
		_, err := f.msg.RetireDeployment(f.ctx, &types.MsgRetireDeployment{Owner: f.bob, DeploymentId: dep})
		return err
	}, types.ErrUnauthorized, "does not own")
	_, err = f.msg.RetireDeployment(f.ctx, &types.MsgRetireDeployment{Owner: f.alice, DeploymentId: dep})
	require.NoError(t, err)
	gs, err := f.k.ExportGenesis(f.ctx)
	require.NoError(t, err)
	require.Empty(t, gs.PriceQueue)
	_, err = f.k.GetActiveDeployment(f.ctx, dep)
	require.ErrorIs(t, err, types.ErrDeploymentNotActive)
	f.expectFailure(t, func() error {
		_, err := f.msg.RetireDeployment(f.ctx, &types.MsgRetireDeployment{Owner: f.alice, DeploymentId: dep})
		return err
	}, types.ErrWrongStatus, "retired")
	f.expectFailure(t, func() error {
		_, err := f.msg.UpdateDeployment(f.ctx, &types.MsgUpdateDeployment{Owner: f.alice, DeploymentId: dep, Status: types.DEPLOYMENT_STATUS_ACTIVE})
		return err
	}, types.ErrWrongStatus, "retired")
	f.checkInvariants()
}

func TestEndBlockerIsBounded(t *testing.T) {
	f := newFixture(t)
	p := types.DefaultParams()
	p.MaxPriceChangesPerBlock, p.PriceNoticeBlocks = 2, 0
	_, err := f.msg.UpdateParams(f.ctx, &types.MsgUpdateParams{Authority: f.authority, Params: p})
	require.NoError(t, err)
	ds := f.datasetVersion()
	id := f.createModel(f.alice)
	f.publish(f.publishMsg(f.alice, id, ds))
	price := royalty(7)
	for i := 0; i < 5; i++ {
		res, err := f.msg.CreateDeployment(f.ctx, &types.MsgCreateDeployment{Owner: f.alice, ModelId: id, Version: 1,
			RoyaltyPerThousandTokens: royalty(1), DeveloperBps: 10_000})
		require.NoError(t, err)
		_, err = f.msg.UpdateDeployment(f.ctx, &types.MsgUpdateDeployment{Owner: f.alice, DeploymentId: res.DeploymentId, RoyaltyPerThousandTokens: &price})
		require.NoError(t, err)
	}
	left := []int{3, 1, 0}
	for _, want := range left {
		require.NoError(t, f.k.EndBlocker(f.ctx))
		gs, err := f.k.ExportGenesis(f.ctx)
		require.NoError(t, err)
		require.Len(t, gs.PriceQueue, want)
		f.ctx = f.ctx.WithBlockHeight(f.ctx.BlockHeight() + 1)
	}
	f.checkInvariants()
}

func TestUpdateParams(t *testing.T) {
	f := newFixture(t)
	bad := types.DefaultParams()
	bad.MaxLineageDepth = 0
	f.expectFailure(t, func() error {
		_, err := f.msg.UpdateParams(f.ctx, &types.MsgUpdateParams{Authority: f.authority, Params: bad})
		return err
	}, types.ErrInvalidParams, "max_lineage_depth")
	_, err := f.msg.UpdateParams(f.ctx, &types.MsgUpdateParams{Authority: f.alice, Params: types.DefaultParams()})
	require.Error(t, err)
	good := types.DefaultParams()
	good.PriceNoticeBlocks = 5
	_, err = f.msg.UpdateParams(f.ctx, &types.MsgUpdateParams{Authority: f.authority, Params: good})
	require.NoError(t, err)
	res, err := f.query.Params(f.ctx, &types.QueryParamsRequest{})
	require.NoError(t, err)
	require.Equal(t, good, res.Params)
}

var _ = keeper.CurrentPrice

// TestEndBlockerSkipsStaleEntries: entries for a missing deployment or one without a
// pending price are dropped, and the valid entry beside them is still applied.
func TestEndBlockerSkipsStaleEntries(t *testing.T) {
	f := newFixture(t)
	ds := f.datasetVersion()
	id := f.createModel(f.alice)
	f.publish(f.publishMsg(f.alice, id, ds))
	for i := 0; i < 2; i++ {
		_, err := f.msg.CreateDeployment(f.ctx, &types.MsgCreateDeployment{Owner: f.alice, ModelId: id, Version: 1,
			RoyaltyPerThousandTokens: royalty(1), DeveloperBps: 10_000})
		require.NoError(t, err)
	}
	price := royalty(9)
	up, err := f.msg.UpdateDeployment(f.ctx, &types.MsgUpdateDeployment{Owner: f.alice, DeploymentId: 2, RoyaltyPerThousandTokens: &price})
	require.NoError(t, err)
	require.NoError(t, f.k.PriceQueue.Set(f.ctx, joinQ(up.EffectiveHeight, 77))) // no such deployment
	require.NoError(t, f.k.PriceQueue.Set(f.ctx, joinQ(up.EffectiveHeight, 1)))  // nothing pending
	f.ctx = f.ctx.WithBlockHeight(up.EffectiveHeight)
	require.NoError(t, f.k.EndBlocker(f.ctx))
	gs, err := f.k.ExportGenesis(f.ctx)
	require.NoError(t, err)
	require.Empty(t, gs.PriceQueue)
	d, err := f.k.GetDeployment(f.ctx, 2)
	require.NoError(t, err)
	require.Equal(t, price, d.RoyaltyPerThousandTokens)
	f.checkInvariants()
}
