package rewards_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"cosmossdk.io/collections"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"

	sdk "github.com/cosmos/cosmos-sdk/types"
	minttypes "github.com/cosmos/cosmos-sdk/x/mint/types"

	tk "github.com/openledger/openledger/testutil/keeper"
	datanettypes "github.com/openledger/openledger/x/datanet/types"
	modelskeeper "github.com/openledger/openledger/x/models/keeper"
	modelstypes "github.com/openledger/openledger/x/models/types"
	"github.com/openledger/openledger/x/rewards/keeper"
	"github.com/openledger/openledger/x/rewards/types"
)

// simWorld is an app with datanets, frozen versions and deployments built through
// the real msg servers, the members of each version, and a random source.
type simWorld struct {
	*tk.Fixture
	r       *rand.Rand
	k       keeper.Keeper
	msg     types.MsgServer
	members map[[2]uint64][]uint64 // (datanet, version) → its contribution ids
	deps    []uint64
	funder  sdk.AccAddress
	prov    sdk.AccAddress
}

const (
	simBlocks   = 200
	simShareCap = 24 // bytes: contents of up to 60 bytes make the cap bite
)

// newSimWorld builds 3 datanets with 2 versions each (random contributors and
// sizes, shares capped at simShareCap) and 3 deployments over them.
func newSimWorld(t *testing.T, seed uint64) *simWorld {
	f := tk.NewFixture(t, 8)
	w := &simWorld{
		Fixture: f, r: rand.New(rand.NewPCG(seed, seed^0x5eed)), k: f.App.RewardsKeeper,
		msg: keeper.NewMsgServerImpl(f.App.RewardsKeeper), members: map[[2]uint64][]uint64{},
		funder: f.Accounts[7].Addr, prov: f.Accounts[6].Addr,
	}
	dp, err := f.K.Params.Get(f.Ctx)
	require.NoError(t, err)
	dp.MaxSharesPerContribution = simShareCap
	require.NoError(t, f.K.Params.Set(f.Ctx, dp))
	rp, err := w.k.Params.Get(f.Ctx)
	require.NoError(t, err)
	rp.RecordRetentionBlocks = 20 // records are pruned during the run
	rp.MaxTopK = 4
	require.NoError(t, rp.Validate())
	require.NoError(t, w.k.Params.Set(f.Ctx, rp))

	curator := f.Addr(0)
	n := 0
	for d := uint64(1); d <= 3; d++ {
		id := f.CreateDatanet(f.Ctx, tk.CreateDatanetMsg(curator, []string{curator}, 1, 10,
			datanettypes.Requirements{MinAcceptedContributions: 1, MinDistinctContributors: 1}, 1_000))
		require.Equal(t, d, id)
		var ids []uint64
		for v := uint64(1); v <= 2; v++ {
			for i := 0; i < 2+w.r.IntN(4); i++ {
				who := f.Addr(1 + w.r.IntN(5))
				n++
				content := fmt.Sprintf("%d:%0*d", n, 1+w.r.IntN(60), n)
				cid := f.Submit(f.Ctx, who, d, content)
				require.Equal(t, datanettypes.CONTRIBUTION_STATUS_ACCEPTED, f.Review(f.Ctx, curator, cid, datanettypes.REVIEW_DECISION_APPROVE))
				ids = append(ids, cid)
			}
			_, err := f.Msg.CreateDatasetVersion(f.Ctx, &datanettypes.MsgCreateDatasetVersion{Creator: curator, DatanetId: d})
			require.NoError(t, err)
			w.members[[2]uint64{d, v}] = append([]uint64(nil), ids...)
		}
	}
	mm := modelskeeper.NewMsgServerImpl(f.App.ModelsKeeper)
	sha := "9a129038d9a00aed0cf6a7ea059ca50a813449061ab87848cf1a13eafdf33b2c"
	cid := "bafkreie2ckidrwnablwqz5vh5iczzjikqe2esbq2xb4erty2cpvp34z3fq"
	for i, refs := range [][]modelstypes.DatasetVersionRef{
		{{DatanetId: 1, Version: 1}, {DatanetId: 2, Version: 1}},
		{{DatanetId: 1, Version: 2}, {DatanetId: 2, Version: 2}, {DatanetId: 3, Version: 1}},
		{{DatanetId: 3, Version: 2}},
	} {
		owner := f.Addr(5 + i%2)
		m, err := mm.CreateModel(f.Ctx, &modelstypes.MsgCreateModel{Owner: owner, Name: fmt.Sprintf("m%d", i), Task: "text-generation", License: "MIT"})
		require.NoError(t, err)
		_, err = mm.PublishVersion(f.Ctx, &modelstypes.MsgPublishVersion{Owner: owner, ModelId: m.ModelId, Kind: modelstypes.VERSION_KIND_PRETRAIN,
			DatasetVersions: refs, ArtifactCid: cid, ArtifactSha256: sha, ArtifactSize: 10,
			ManifestCid: cid, ManifestSha256: sha, EngineName: "openledger-ml", EngineVersion: "v1"})
		require.NoError(t, err)
		dev := uint32(w.r.IntN(10_001))
		d, err := mm.CreateDeployment(f.Ctx, &modelstypes.MsgCreateDeployment{Owner: owner, ModelId: m.ModelId, Version: 1,
			RoyaltyPerThousandTokens: sdk.NewInt64Coin(tk.Denom, 20), DeveloperBps: dev, DataBps: 10_000 - dev})
		require.NoError(t, err)
		w.deps = append(w.deps, d.DeploymentId)
	}
	return w
}

// ppmParts cuts types.PpmScale into n positive parts at random.
func ppmParts(r *rand.Rand, n int) []uint32 {
	parts := make([]uint32, n)
	left := uint32(types.PpmScale) - uint32(n)
	for i := 0; i < n-1; i++ {
		x := r.Uint32N(left + 1)
		parts[i] = 1 + x
		left -= x
	}
	parts[n-1] = 1 + left
	return parts
}

// summary is a random valid summary for a deployment's table: up to max_top_k
// contributions of its versions, some of its versions' pools.
func (w *simWorld) summary(table []modelstypes.DataShare) types.AttributionSummary {
	var s types.AttributionSummary
	seen := map[[3]uint64]bool{}
	for i := w.r.IntN(4); i > 0; i-- { // < max_top_k (4): spoil may add one
		e := table[w.r.IntN(len(table))]
		ids := w.members[[2]uint64{e.DatanetId, e.Version}]
		c := ids[w.r.IntN(len(ids))]
		if seen[[3]uint64{e.DatanetId, e.Version, c}] {
			continue
		}
		seen[[3]uint64{e.DatanetId, e.Version, c}] = true
		s.Top = append(s.Top, types.ContributionWeight{DatanetId: e.DatanetId, Version: e.Version, ContributionId: c})
	}
	for _, j := range w.r.Perm(len(table)) {
		if len(s.Pools) == 0 || w.r.IntN(2) == 0 { // at least one pool
			s.Pools = append(s.Pools, types.PoolWeight{DatanetId: table[j].DatanetId, Version: table[j].Version})
		}
	}
	parts := ppmParts(w.r, len(s.Top)+len(s.Pools))
	for i := range s.Top {
		s.Top[i].Ppm = parts[i]
	}
	for i := range s.Pools {
		s.Pools[i].Ppm = parts[len(s.Top)+i]
	}
	return s
}

// spoil makes a valid summary invalid in one of several ways; it returns the error
// Settle must answer.
func (w *simWorld) spoil(s *types.AttributionSummary) error {
	switch w.r.IntN(5) {
	case 0:
		s.Pools[0].Ppm++
		return types.ErrWeightsSum
	case 1:
		s.Pools = append(s.Pools, s.Pools[0])
		return types.ErrDuplicateEntry
	case 2:
		s.Top = append(s.Top, types.ContributionWeight{DatanetId: s.Pools[0].DatanetId, Version: s.Pools[0].Version, ContributionId: 9_999, Ppm: 1})
		s.Pools[0].Ppm--
		return types.ErrContributionNotInVersion
	case 3:
		s.Pools[0].DatanetId = 99
		return types.ErrVersionNotInDeployment
	default:
		s.Pools = append(s.Pools, types.PoolWeight{DatanetId: s.Pools[0].DatanetId, Version: s.Pools[0].Version + 7})
		return types.ErrInvalidSummary // zero ppm
	}
}

// state is the rewards genesis and the payer's balance, to compare around a failure.
func (w *simWorld) state(ctx sdk.Context) string {
	gs, err := w.k.ExportGenesis(ctx)
	require.NoError(w.T, err)
	return gs.String() + w.App.BankKeeper.GetBalance(ctx, w.App.AccountKeeper.GetModuleAddress(minttypes.ModuleName), tk.Denom).String()
}

// TestRandomizedRun is the module's simulation: 200 blocks of random settlements
// (random compute, royalty and valid summaries over the fixture; some invalid, which
// must fail with their registered error and change nothing), random claims (random
// filters and max_items, each atomic like a tx), a deployment paused half-way (its
// payments still settle), and record pruning. After every block the module account
// holds exactly what it owes and the supply has not moved. Finally the whole app's
// genesis is exported, imported into a fresh app, and exported again unchanged.
func TestRandomizedRun(t *testing.T) {
	w := newSimWorld(t, 42)
	ctx := w.Ctx
	supply := w.App.BankKeeper.GetSupply(ctx, tk.Denom)
	var settled, rejected, claims, claimed int
	nextID := uint64(1)
	for h := int64(3); h < 3+simBlocks; h++ {
		ctx = w.Ctx.WithBlockHeight(h).WithEventManager(sdk.NewEventManager())
		if h == 3+simBlocks/2 { // paused after the work: its payments still settle
			_, err := modelskeeper.NewMsgServerImpl(w.App.ModelsKeeper).UpdateDeployment(ctx, &modelstypes.MsgUpdateDeployment{
				Owner: w.Addr(5), DeploymentId: w.deps[0], Status: modelstypes.DEPLOYMENT_STATUS_PAUSED})
			require.NoError(t, err)
		}
		for i := w.r.IntN(4); i > 0; i-- {
			dep := w.deps[w.r.IntN(len(w.deps))]
			d, err := w.App.ModelsKeeper.GetDeploymentForSettlement(ctx, dep)
			require.NoError(t, err)
			s := w.summary(d.DataShares)
			compute, royalty := sdk.NewInt64Coin(tk.Denom, w.r.Int64N(5_000)), sdk.NewInt64Coin(tk.Denom, 1+w.r.Int64N(50_000))
			require.NoError(t, w.App.BankKeeper.SendCoinsFromAccountToModule(ctx, w.funder, minttypes.ModuleName,
				sdk.NewCoins(compute.Add(royalty))))
			var want error
			if w.r.IntN(5) == 0 {
				want = w.spoil(&s)
			}
			before := w.state(ctx)
			verr := w.k.ValidateSettlement(ctx, dep, s)
			_, err = w.k.Settle(ctx, minttypes.ModuleName, nextID, w.prov, compute, royalty, dep, s)
			if want != nil {
				require.ErrorIs(t, err, want, "block %d", h)
				require.Equal(t, err.Error(), verr.Error())
				require.Equal(t, before, w.state(ctx), "a failed settlement changed state")
				// the payment goes back to its funder
				require.NoError(t, w.App.BankKeeper.SendCoinsFromModuleToAccount(ctx, minttypes.ModuleName, w.funder,
					sdk.NewCoins(compute.Add(royalty))))
				rejected++
				continue
			}
			require.NoError(t, verr)
			require.NoError(t, err, "block %d", h)
			nextID++
			settled++
		}
		for i := w.r.IntN(4); i > 0; i-- {
			msg := &types.MsgClaimRewards{Claimant: w.Addr(1 + w.r.IntN(6)), MaxItems: uint32(w.r.IntN(7))}
			if w.r.IntN(3) > 0 {
				msg.DatanetId = uint64(1 + w.r.IntN(3))
				if w.r.IntN(2) == 0 {
					msg.Version = uint64(1 + w.r.IntN(2))
				}
			}
			cache, write := ctx.CacheContext() // a claim is a tx: all or nothing
			res, err := w.msg.ClaimRewards(cache, msg)
			claims++
			if err != nil {
				require.True(t, errors.Is(err, types.ErrBelowMinClaim), "claim %v: %v", msg, err)
				continue
			}
			write()
			if res.Amount.IsPositive() {
				claimed++
			}
		}
		require.NoError(t, w.k.EndBlocker(ctx))
		require.NoError(t, w.k.BalanceInvariant(ctx), "block %d", h)
		require.Equal(t, supply, w.App.BankKeeper.GetSupply(ctx, tk.Denom), "block %d: supply moved", h)
	}
	t.Logf("%d settlements, %d rejected, %d claims (%d paid)", settled, rejected, claims, claimed)
	require.Greater(t, settled, 100)
	require.Greater(t, rejected, 10)
	require.Greater(t, claimed, 20)
	pruned, err := w.k.Records.Has(ctx, collections.Join(minttypes.ModuleName, uint64(1)))
	require.NoError(t, err)
	require.False(t, pruned, "settlement 1 outlived its retention")

	// Export the whole app, import it into a fresh app, export again: equal.
	exported, err := w.App.ModuleManager.ExportGenesis(ctx, w.App.AppCodec())
	require.NoError(t, err)
	fresh := tk.NewApp(t)
	tk.InitChain(t, fresh, exported)
	_, err = fresh.FinalizeBlock(&abci.RequestFinalizeBlock{Height: 1, Time: tk.GenesisTime})
	require.NoError(t, err)
	_, err = fresh.Commit()
	require.NoError(t, err)
	fctx := fresh.NewUncachedContext(false, cmtproto.Header{ChainID: tk.ChainID, Height: ctx.BlockHeight()})
	require.NoError(t, fresh.RewardsKeeper.BalanceInvariant(fctx))
	require.NoError(t, fresh.DatanetKeeper.StatsInvariant(fctx))
	again, err := fresh.ModuleManager.ExportGenesis(fctx, fresh.AppCodec())
	require.NoError(t, err)
	// (bank and distribution differ by the fresh app's first block's inflation.)
	for _, m := range []string{types.ModuleName, datanettypes.ModuleName, modelstypes.ModuleName} {
		require.JSONEq(t, string(exported[m]), string(again[m]), "module %s", m)
	}
	var gs types.GenesisState
	require.NoError(t, fresh.AppCodec().UnmarshalJSON(again[types.ModuleName], &gs))
	require.NotEmpty(t, gs.Pools)
	require.NotEmpty(t, gs.Accruals)
}
