// Package keeper holds test fixtures for the chain's modules: the real OpenLedger
// app on an in-memory database, started from a genesis with funded accounts, so
// that keeper tests exercise real x/bank and x/distribution money flows.
package keeper

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	cmttypes "github.com/cometbft/cometbft/types"
	dbm "github.com/cosmos/cosmos-db"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"cosmossdk.io/log/v2"
	sdkmath "cosmossdk.io/math"

	"github.com/cosmos/cosmos-sdk/baseapp"
	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	cryptotypes "github.com/cosmos/cosmos-sdk/crypto/types"
	simtestutil "github.com/cosmos/cosmos-sdk/testutil/sims"
	sdk "github.com/cosmos/cosmos-sdk/types"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"
	distrtypes "github.com/cosmos/cosmos-sdk/x/distribution/types"

	"github.com/openledger/openledger/app"
	datanetkeeper "github.com/openledger/openledger/x/datanet/keeper"
	"github.com/openledger/openledger/x/datanet/types"
)

// ChainID is the chain id of fixture apps.
const ChainID = "openledger-test-1"

// Denom is the fee and deposit denom.
const Denom = app.BondDenom

// GenesisTime is the time of the fixture chain's genesis.
var GenesisTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Account is a funded genesis account with its key.
type Account struct {
	Priv   *secp256k1.PrivKey
	Pub    cryptotypes.PubKey
	Addr   sdk.AccAddress
	Bech32 string
	Number uint64
}

// Accounts returns n deterministic accounts (the same keys in every run).
func Accounts(n int) []Account {
	out := make([]Account, n)
	for i := range out {
		priv := secp256k1.GenPrivKeyFromSecret([]byte(fmt.Sprintf("openledger test account %d", i)))
		addr := sdk.AccAddress(priv.PubKey().Address())
		out[i] = Account{Priv: priv, Pub: priv.PubKey(), Addr: addr, Bech32: addr.String(), Number: uint64(i)}
	}
	return out
}

// GenesisFor returns the default genesis of a, with one bonded validator and each
// account funded with balance uopen.
func GenesisFor(tb testing.TB, a *app.App, accounts []Account, balance int64) (app.GenesisState, *cmttypes.ValidatorSet) {
	tb.Helper()
	valSet, err := simtestutil.CreateRandomValidatorSet()
	if err != nil {
		tb.Fatal(err)
	}
	genAccs := make([]authtypes.GenesisAccount, len(accounts))
	balances := make([]banktypes.Balance, len(accounts))
	for i, acc := range accounts {
		genAccs[i] = authtypes.NewBaseAccount(acc.Addr, nil, acc.Number, 0)
		balances[i] = banktypes.Balance{Address: acc.Bech32, Coins: sdk.NewCoins(sdk.NewCoin(Denom, sdkmath.NewInt(balance)))}
	}
	gs, err := simtestutil.GenesisStateWithValSet(a.AppCodec(), a.DefaultGenesis(), valSet, genAccs, balances...)
	if err != nil {
		tb.Fatal(err)
	}
	return gs, valSet
}

// NewApp returns a fresh app on an in-memory database (nothing loaded yet).
func NewApp(tb testing.TB) *app.App {
	tb.Helper()
	return app.New(log.NewNopLogger(), dbm.NewMemDB(), true, simtestutil.NewAppOptionsWithFlagHome(tb.TempDir()),
		baseapp.SetChainID(ChainID))
}

// InitChain starts a with the genesis state gs.
func InitChain(tb testing.TB, a *app.App, gs app.GenesisState) {
	tb.Helper()
	stateBytes, err := json.Marshal(gs)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := a.InitChain(&abci.RequestInitChain{
		ChainId:         ChainID,
		Time:            GenesisTime,
		InitialHeight:   1,
		ConsensusParams: simtestutil.DefaultConsensusParams,
		AppStateBytes:   stateBytes,
	}); err != nil {
		tb.Fatalf("init chain: %v", err)
	}
}

// StartApp builds an app, runs genesis with the accounts funded, and commits block 1.
func StartApp(tb testing.TB, accounts []Account, balance int64) (*app.App, *cmttypes.ValidatorSet) {
	tb.Helper()
	a := NewApp(tb)
	gs, valSet := GenesisFor(tb, a, accounts, balance)
	InitChain(tb, a, gs)
	if _, err := a.FinalizeBlock(&abci.RequestFinalizeBlock{
		Height: 1, Time: GenesisTime, NextValidatorsHash: valSet.Hash(),
	}); err != nil {
		tb.Fatal(err)
	}
	if _, err := a.Commit(); err != nil {
		tb.Fatal(err)
	}
	return a, valSet
}

// Fixture is a started app with a context over its latest state, and the datanet
// keeper's services. Tests call the msg server directly on Ctx (or on a Branch).
type Fixture struct {
	T        testing.TB
	App      *app.App
	Ctx      sdk.Context
	K        datanetkeeper.Keeper
	Msg      types.MsgServer
	Query    types.QueryServer
	Accounts []Account
	// Authority is the governance module account, the datanet params authority.
	Authority string
}

// DefaultBalance is what every fixture account starts with.
const DefaultBalance = 100_000_000

// NewFixture starts an app with n funded accounts and returns a context at height 2.
func NewFixture(tb testing.TB, n int) *Fixture {
	tb.Helper()
	accounts := Accounts(n)
	a, _ := StartApp(tb, accounts, DefaultBalance)
	ctx := a.NewUncachedContext(false, cmtproto.Header{ChainID: ChainID, Height: 2, Time: GenesisTime.Add(5 * time.Second)})
	return &Fixture{
		T: tb, App: a, Ctx: ctx, K: a.DatanetKeeper,
		Msg:       datanetkeeper.NewMsgServerImpl(a.DatanetKeeper),
		Query:     datanetkeeper.NewQueryServerImpl(a.DatanetKeeper),
		Accounts:  accounts,
		Authority: a.DatanetKeeper.Authority(),
	}
}

// Branch returns a cache-wrapped copy of ctx: writes to it never reach ctx.
func Branch(ctx sdk.Context) sdk.Context {
	c, _ := ctx.CacheContext()
	return c
}

// Addr returns the bech32 address of account i.
func (f *Fixture) Addr(i int) string { return f.Accounts[i].Bech32 }

// Balance returns the uopen balance of a bech32 address.
func (f *Fixture) Balance(ctx sdk.Context, addr string) sdkmath.Int {
	f.T.Helper()
	bz, err := f.K.AddressCodec().StringToBytes(addr)
	if err != nil {
		f.T.Fatal(err)
	}
	return f.App.BankKeeper.GetBalance(ctx, bz, Denom).Amount
}

// Escrow returns the datanet module account's uopen balance.
func (f *Fixture) Escrow(ctx sdk.Context) sdkmath.Int {
	return f.App.BankKeeper.GetBalance(ctx, f.K.ModuleAddress(), Denom).Amount
}

// CommunityPool returns the uopen amount of the community pool (truncated).
func (f *Fixture) CommunityPool(ctx sdk.Context) sdkmath.Int {
	f.T.Helper()
	fp, err := f.App.DistrKeeper.FeePool.Get(ctx)
	if err != nil {
		f.T.Fatal(err)
	}
	return fp.CommunityPool.AmountOf(Denom).TruncateInt()
}

// CheckInvariants fails the test if the escrow or stats invariant is broken.
func (f *Fixture) CheckInvariants(ctx sdk.Context) {
	f.T.Helper()
	if err := f.K.EscrowInvariant(ctx); err != nil {
		f.T.Fatalf("escrow invariant: %v", err)
	}
	if err := f.K.StatsInvariant(ctx); err != nil {
		f.T.Fatalf("stats invariant: %v", err)
	}
}

// snapshotStores are the stores a datanet msg may touch: its own, bank (balances,
// supply), distribution (community pool) and auth (accounts).
var snapshotStores = []string{types.StoreKey, banktypes.StoreKey, distrtypes.StoreKey, authtypes.StoreKey}

// Snapshot returns a digest of every key and value of the stores a datanet msg may
// touch; two equal snapshots mean nothing changed.
func (f *Fixture) Snapshot(ctx sdk.Context) map[string]string {
	f.T.Helper()
	out := make(map[string]string, len(snapshotStores))
	for _, name := range snapshotStores {
		key := f.App.GetKey(name)
		if key == nil {
			f.T.Fatalf("no store key %q", name)
		}
		h := sha256.New()
		it := ctx.KVStore(key).Iterator(nil, nil)
		n := 0
		for ; it.Valid(); it.Next() {
			fmt.Fprintf(h, "%x=%x;", it.Key(), it.Value())
			n++
		}
		if err := it.Close(); err != nil {
			f.T.Fatal(err)
		}
		out[name] = fmt.Sprintf("%d keys %x", n, h.Sum(nil))
	}
	return out
}

// Content returns the lowercase sha256 hex and a CIDv1 (raw codec, base32) of s.
func Content(s string) (sha string, cidV1 string) {
	sum := sha256.Sum256([]byte(s))
	h, _ := mh.Encode(sum[:], mh.SHA2_256)
	return hex.EncodeToString(sum[:]), cid.NewCidV1(cid.Raw, h).String()
}

// ContentV0 returns the sha256 hex and a CIDv0 (dag-pb, base58btc) over the same hash.
func ContentV0(s string) (sha string, cidV0 string, cidV1 string) {
	sum := sha256.Sum256([]byte(s))
	h, _ := mh.Encode(sum[:], mh.SHA2_256)
	v0 := cid.NewCidV0(h)
	return hex.EncodeToString(sum[:]), v0.String(), cid.NewCidV1(cid.DagProtobuf, h).String()
}

// Deposit is the contribution deposit fixture datanets use.
func Deposit(n int64) sdk.Coin { return sdk.NewCoin(Denom, sdkmath.NewInt(n)) }

// CreateDatanetMsg is a valid MsgCreateDatanet.
func CreateDatanetMsg(owner string, curators []string, quorum uint32, window uint64, req types.Requirements, deposit int64) *types.MsgCreateDatanet {
	return &types.MsgCreateDatanet{
		Owner: owner, Name: "proverbs", Description: "short proverbs, one per line", License: "CC-BY-4.0",
		Tags: []string{"text", "en"}, Requirements: req,
		Curation:            types.Curation{Curators: curators, ApprovalQuorum: quorum, ReviewWindowBlocks: window},
		ContributionDeposit: Deposit(deposit),
	}
}

// SubmitMsg is a valid MsgSubmitContribution of content s.
func SubmitMsg(contributor string, datanet uint64, s string) *types.MsgSubmitContribution {
	sha, c := Content(s)
	return &types.MsgSubmitContribution{
		Contributor: contributor, DatanetId: datanet, Cid: c, Sha256: sha,
		SizeBytes: uint64(len(s)) + 1, RecordCount: 1, MediaType: "text/plain",
	}
}

// CreateDatanet creates a datanet through the msg server.
func (f *Fixture) CreateDatanet(ctx sdk.Context, msg *types.MsgCreateDatanet) uint64 {
	f.T.Helper()
	res, err := f.Msg.CreateDatanet(ctx, msg)
	if err != nil {
		f.T.Fatalf("create datanet: %v", err)
	}
	return res.DatanetId
}

// Submit submits content s and returns the contribution id.
func (f *Fixture) Submit(ctx sdk.Context, contributor string, datanet uint64, s string) uint64 {
	f.T.Helper()
	res, err := f.Msg.SubmitContribution(ctx, SubmitMsg(contributor, datanet, s))
	if err != nil {
		f.T.Fatalf("submit %q: %v", s, err)
	}
	return res.ContributionId
}

// Review records a curator's decision and returns the contribution's status.
func (f *Fixture) Review(ctx sdk.Context, curator string, id uint64, d types.ReviewDecision) types.ContributionStatus {
	f.T.Helper()
	res, err := f.Msg.ReviewContribution(ctx, &types.MsgReviewContribution{Curator: curator, ContributionId: id, Decision: d, Reason: "checked"})
	if err != nil {
		f.T.Fatalf("review %d by %s: %v", id, curator, err)
	}
	return res.Status
}

// Contribution loads a contribution.
func (f *Fixture) Contribution(ctx sdk.Context, id uint64) types.Contribution {
	f.T.Helper()
	c, err := f.K.GetContribution(ctx, id)
	if err != nil {
		f.T.Fatal(err)
	}
	return c
}

// Datanet loads a datanet.
func (f *Fixture) Datanet(ctx sdk.Context, id uint64) types.Datanet {
	f.T.Helper()
	d, err := f.K.GetDatanet(ctx, id)
	if err != nil {
		f.T.Fatal(err)
	}
	return d
}
