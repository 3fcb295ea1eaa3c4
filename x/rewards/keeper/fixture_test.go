package keeper_test

import (
	"context"
	"fmt"
	"testing"

	sdkmath "cosmossdk.io/math"

	addresscodec "github.com/cosmos/cosmos-sdk/codec/address"
	"github.com/cosmos/cosmos-sdk/runtime"
	storetypes "github.com/cosmos/cosmos-sdk/store/v2/types"
	"github.com/cosmos/cosmos-sdk/testutil"
	sdk "github.com/cosmos/cosmos-sdk/types"
	moduletestutil "github.com/cosmos/cosmos-sdk/types/module/testutil"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	govtypes "github.com/cosmos/cosmos-sdk/x/gov/types"

	datanettypes "github.com/openledger/openledger/x/datanet/types"
	modelskeeper "github.com/openledger/openledger/x/models/keeper"
	modelstypes "github.com/openledger/openledger/x/models/types"
	"github.com/openledger/openledger/x/rewards/keeper"
	"github.com/openledger/openledger/x/rewards/types"
)

const denom = "uopen"

// payer is the module that pays settlements in these tests.
const payer = "inference"

type accounts struct{}

func (accounts) GetModuleAddress(name string) sdk.AccAddress { return authtypes.NewModuleAddress(name) }

// bank is an in-memory single-denom bank that refuses overdrafts.
type bank struct{ bal map[string]sdkmath.Int }

func (b *bank) get(a sdk.AccAddress) sdkmath.Int {
	if v, ok := b.bal[string(a)]; ok {
		return v
	}
	return sdkmath.ZeroInt()
}

func (b *bank) move(from, to sdk.AccAddress, amt sdk.Coins) error {
	a := amt.AmountOf(denom)
	if b.get(from).LT(a) {
		return fmt.Errorf("insufficient funds: %s < %s", b.get(from), a)
	}
	b.bal[string(from)] = b.get(from).Sub(a)
	b.bal[string(to)] = b.get(to).Add(a)
	return nil
}

func (b *bank) SendCoinsFromModuleToModule(_ context.Context, from, to string, amt sdk.Coins) error {
	return b.move(authtypes.NewModuleAddress(from), authtypes.NewModuleAddress(to), amt)
}

func (b *bank) SendCoinsFromModuleToAccount(_ context.Context, from string, to sdk.AccAddress, amt sdk.Coins) error {
	return b.move(authtypes.NewModuleAddress(from), to, amt)
}

func (b *bank) GetBalance(_ context.Context, a sdk.AccAddress, d string) sdk.Coin {
	return sdk.NewCoin(d, b.get(a))
}

// distr funds a community-pool account of the fake bank.
type distr struct{ b *bank }

var communityPool = authtypes.NewModuleAddress("distribution")

func (d distr) FundCommunityPool(_ context.Context, amt sdk.Coins, from sdk.AccAddress) error {
	return d.b.move(from, communityPool, amt)
}

// datanet is an in-memory x/datanet: versions and contributions.
type datanet struct {
	versions map[[2]uint64]datanettypes.DatasetVersion
	contribs []datanettypes.Contribution // by id - 1
}

func (d *datanet) GetDatasetVersion(_ context.Context, id, v uint64) (datanettypes.DatasetVersion, error) {
	dv, ok := d.versions[[2]uint64{id, v}]
	if !ok {
		return dv, datanettypes.ErrVersionNotFound.Wrapf("(%d, %d)", id, v)
	}
	return dv, nil
}

func (d *datanet) GetContribution(_ context.Context, id uint64) (datanettypes.Contribution, error) {
	if id == 0 || id > uint64(len(d.contribs)) {
		return datanettypes.Contribution{}, datanettypes.ErrContributionNotFound.Wrapf("%d", id)
	}
	return d.contribs[id-1], nil
}

func (d *datanet) ContributionInVersion(ctx context.Context, v datanettypes.DatasetVersion, id uint64) (datanettypes.Contribution, bool, error) {
	c, err := d.GetContribution(ctx, id)
	if err != nil {
		return c, false, err
	}
	return c, c.DatanetId == v.DatanetId && c.Status == datanettypes.CONTRIBUTION_STATUS_ACCEPTED && c.LeafIndex < v.LeafCount, nil
}

func (d *datanet) ContributionIDsOf(_ context.Context, who sdk.AccAddress, start uint64, limit int) ([]uint64, error) {
	s, _ := addresscodec.NewBech32Codec("open").BytesToString(who)
	var ids []uint64
	for _, c := range d.contribs {
		if c.Id >= start && c.Contributor == s && len(ids) < limit {
			ids = append(ids, c.Id)
		}
	}
	return ids, nil
}

// models is an in-memory x/models deployment table.
type models struct {
	deps map[uint64]modelskeeper.ActiveDeployment
}

func (m *models) GetDeploymentForSettlement(_ context.Context, id uint64) (modelskeeper.ActiveDeployment, error) {
	d, ok := m.deps[id]
	if !ok {
		return d, modelstypes.ErrDeploymentNotFound.Wrapf("%d", id)
	}
	return d, nil
}

type fixture struct {
	t     testing.TB
	ctx   sdk.Context
	k     keeper.Keeper
	msg   types.MsgServer
	query types.QueryServer
	bank  *bank
	dn    *datanet
	mod   *models
	ac    interface {
		BytesToString([]byte) (string, error)
	}
	authority string
	// shareCap, when set, caps each contribution's shares as x/datanet's
	// max_shares_per_contribution does.
	shareCap uint64
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	enc := moduletestutil.MakeTestEncodingConfig()
	keys := storetypes.NewKVStoreKeys(types.StoreKey)
	tkeys := storetypes.NewTransientStoreKeys("transient_test")
	ctx := testutil.DefaultContextWithKeys(keys, tkeys, nil).WithBlockHeight(10)
	ac := addresscodec.NewBech32Codec("open")
	authority, err := ac.BytesToString(authtypes.NewModuleAddress(govtypes.ModuleName))
	if err != nil {
		t.Fatal(err)
	}
	b := &bank{bal: map[string]sdkmath.Int{}}
	dn := &datanet{versions: map[[2]uint64]datanettypes.DatasetVersion{}}
	mod := &models{deps: map[uint64]modelskeeper.ActiveDeployment{}}
	k := keeper.NewKeeper(enc.Codec, runtime.NewKVStoreService(keys[types.StoreKey]), ac, authority,
		accounts{}, b, distr{b}, dn, mod)
	if err := k.InitGenesis(ctx, *types.DefaultGenesis()); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ctx: ctx, k: k, msg: keeper.NewMsgServerImpl(k), query: keeper.NewQueryServerImpl(k),
		bank: b, dn: dn, mod: mod, ac: ac, authority: authority}
}

// addr is a deterministic test address.
func addr(name string) sdk.AccAddress { return sdk.AccAddress(fmt.Sprintf("%-20s", name)) }

func (f *fixture) bech(a sdk.AccAddress) string {
	s, err := f.ac.BytesToString(a)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// version freezes a dataset version of datanetID over new accepted contributions of
// the given sizes by the given contributors; it returns their ids.
func (f *fixture) version(datanetID, version uint64, who []sdk.AccAddress, sizes []uint64) []uint64 {
	var ids []uint64
	var total, shares, leaves uint64
	capped := datanettypes.Params{MaxSharesPerContribution: f.shareCap}
	for i := range sizes {
		id := uint64(len(f.dn.contribs)) + 1
		f.dn.contribs = append(f.dn.contribs, datanettypes.Contribution{
			Id: id, DatanetId: datanetID, Contributor: f.bech(who[i]), SizeBytes: sizes[i],
			Shares: capped.SharesOf(sizes[i]), Status: datanettypes.CONTRIBUTION_STATUS_ACCEPTED, LeafIndex: leaves,
		})
		ids = append(ids, id)
		total += sizes[i]
		shares += capped.SharesOf(sizes[i])
		leaves++
	}
	f.dn.versions[[2]uint64{datanetID, version}] = datanettypes.DatasetVersion{
		DatanetId: datanetID, Version: version, LeafCount: leaves, TotalBytes: total, TotalShares: shares,
	}
	return ids
}

// deployment registers an active deployment.
func (f *fixture) deployment(id uint64, owner sdk.AccAddress, devBps uint32, table ...modelstypes.DataShare) {
	f.mod.deps[id] = modelskeeper.ActiveDeployment{
		Deployment: modelstypes.Deployment{Id: id, Owner: f.bech(owner), DeveloperBps: devBps, DataBps: 10_000 - devBps,
			Status: modelstypes.DEPLOYMENT_STATUS_ACTIVE, DataShares: table},
		DataShares: table,
	}
}

// fund gives the payer module amt.
func (f *fixture) fund(amt int64) {
	a := authtypes.NewModuleAddress(payer)
	f.bank.bal[string(a)] = f.bank.get(a).Add(sdkmath.NewInt(amt))
}

func (f *fixture) balance(a sdk.AccAddress) sdkmath.Int { return f.bank.get(a) }

func coin(n int64) sdk.Coin { return sdk.NewInt64Coin(denom, n) }

func (f *fixture) invariant() {
	f.t.Helper()
	if err := f.k.BalanceInvariant(f.ctx); err != nil {
		f.t.Fatal(err)
	}
}
