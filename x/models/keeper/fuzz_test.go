package keeper_test

import (
	"strings"
	"testing"

	errorsmod "cosmossdk.io/errors"

	"github.com/stretchr/testify/require"

	"github.com/openledger/openledger/x/models/types"
)

// requireRegistered fails unless err is nil or a registered error of this module
// (or the SDK's authority check); a failed msg must leave the state unchanged.
func requireRegistered(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	codespace, code, _ := errorsmod.ABCIInfo(err, false)
	require.Equal(t, types.ModuleName, codespace, "unregistered error: %v", err)
	require.GreaterOrEqual(t, code, uint32(2), "error code below 2: %v", err)
}

// FuzzPublishVersion feeds arbitrary PublishVersion fields to the msg server over a
// chain with one dataset version, model 1 (alice) at version 1 and model 2 (bob):
// no panic, only registered errors, no state change on failure, invariants after.
// The text fields come from one string split on "|" (artifact cid, artifact sha256,
// manifest cid, manifest sha256, engine, engine version, span index cid).
func FuzzPublishVersion(f *testing.F) {
	asum, acid := digest("weights")
	valid := strings.Join([]string{acid, asum, acid, asum, "eng", "v1", ""}, "|")
	f.Add(uint8(0), uint64(1), int32(1), uint64(0), uint64(1), uint64(10), uint32(0), valid)
	f.Add(uint8(1), uint64(2), int32(3), uint64(1), uint64(0), uint64(10), uint32(10000), valid)
	f.Add(uint8(0), uint64(1), int32(2), uint64(1), uint64(1), uint64(10), uint32(5000), valid)
	f.Add(uint8(0), uint64(1), int32(9), uint64(7), uint64(7), uint64(0), uint32(10001), "Qm|zz||||a b|x")
	f.Add(uint8(2), ^uint64(0), int32(-1), ^uint64(0), ^uint64(0), ^uint64(0), ^uint32(0), "\x00|\xff")
	f.Fuzz(func(t *testing.T, who uint8, modelID uint64, kind int32, parentVersion, datanetID, size uint64, upstream uint32, text string) {
		fields := strings.SplitN(text, "|", 7)
		for len(fields) < 7 {
			fields = append(fields, "")
		}
		fx := newFixture(t)
		ds := fx.datasetVersion()
		fx.createModel(fx.alice)
		fx.createModel(fx.bob)
		fx.publish(fx.publishMsg(fx.alice, 1, ds))
		owner := []string{fx.alice, fx.bob, "", "open1invalid"}[int(who)%4]
		m := &types.MsgPublishVersion{
			Owner: owner, ModelId: modelID, Kind: types.VersionKind(kind),
			ArtifactCid: fields[0], ArtifactSha256: fields[1], ArtifactSize: size,
			ManifestCid: fields[2], ManifestSha256: fields[3], EngineName: fields[4], EngineVersion: fields[5],
			UpstreamShareBps: upstream, SpanIndexCid: fields[6],
		}
		if datanetID != 0 {
			m.DatasetVersions = []types.DatasetVersionRef{{DatanetId: datanetID, Version: 1}}
		}
		if parentVersion != 0 {
			m.Parent = &types.VersionRef{ModelId: 1, Version: parentVersion}
		}
		before, err := fx.k.ExportGenesis(fx.ctx)
		require.NoError(t, err)
		_, err = fx.msg.PublishVersion(fx.ctx, m)
		requireRegistered(t, err)
		if err != nil {
			after, err2 := fx.k.ExportGenesis(fx.ctx)
			require.NoError(t, err2)
			require.Equal(t, mustJSON(t, before), mustJSON(t, after))
		}
		fx.checkInvariants()
	})
}

// FuzzDeploymentMsgs feeds arbitrary CreateDeployment and UpdateDeployment fields.
func FuzzDeploymentMsgs(f *testing.F) {
	f.Add(uint8(0), uint64(1), uint64(1), "uopen", int64(10), uint32(5000), uint32(5000), uint64(1), int32(2), true, "uopen", int64(3))
	f.Add(uint8(1), uint64(1), uint64(1), "uopen", int64(-1), uint32(10000), uint32(0), uint64(1), int32(3), false, "", int64(0))
	f.Add(uint8(0), uint64(1), uint64(2), "stake", int64(1<<62), ^uint32(0), uint32(10001), uint64(9), int32(77), true, "uopen", int64(-5))
	f.Fuzz(func(t *testing.T, who uint8, modelID, version uint64, denom string, amount int64, dev, data uint32,
		depID uint64, status int32, withPrice bool, priceDenom string, price int64) {
		fx := newFixture(t)
		ds := fx.datasetVersion()
		fx.createModel(fx.alice)
		fx.publish(fx.publishMsg(fx.alice, 1, ds))
		_, err := fx.msg.CreateDeployment(fx.ctx, &types.MsgCreateDeployment{Owner: fx.alice, ModelId: 1, Version: 1,
			RoyaltyPerThousandTokens: royalty(1), DeveloperBps: 10_000})
		require.NoError(t, err)
		owner := []string{fx.alice, fx.bob, "", "open1invalid"}[int(who)%4]
		before, err := fx.k.ExportGenesis(fx.ctx)
		require.NoError(t, err)
		coin := royalty(0)
		coin.Denom = denom
		coin.Amount = coin.Amount.AddRaw(amount)
		_, err = fx.msg.CreateDeployment(fx.ctx, &types.MsgCreateDeployment{Owner: owner, ModelId: modelID, Version: version,
			RoyaltyPerThousandTokens: coin, DeveloperBps: dev, DataBps: data})
		requireRegistered(t, err)
		if err != nil {
			after, err2 := fx.k.ExportGenesis(fx.ctx)
			require.NoError(t, err2)
			require.Equal(t, mustJSON(t, before), mustJSON(t, after))
		}
		up := &types.MsgUpdateDeployment{Owner: owner, DeploymentId: depID, Status: types.DeploymentStatus(status)}
		if withPrice {
			p := royalty(0)
			p.Denom, p.Amount = priceDenom, p.Amount.AddRaw(price)
			up.RoyaltyPerThousandTokens = &p
		}
		before, err = fx.k.ExportGenesis(fx.ctx)
		require.NoError(t, err)
		_, err = fx.msg.UpdateDeployment(fx.ctx, up)
		requireRegistered(t, err)
		if err != nil {
			after, err2 := fx.k.ExportGenesis(fx.ctx)
			require.NoError(t, err2)
			require.Equal(t, mustJSON(t, before), mustJSON(t, after))
		}
		_, err = fx.msg.RetireDeployment(fx.ctx, &types.MsgRetireDeployment{Owner: owner, DeploymentId: depID})
		requireRegistered(t, err)
		fx.checkInvariants()
	})
}
