package keeper_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"

	errorsmod "cosmossdk.io/errors"
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/app"
	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/datanet/types"
)

// richHistory leaves datanets in every status with pending (some half-reviewed),
// accepted, rejected, withdrawn and expired contributions, and several versions.
func richHistory(t *testing.T, e *env, ctx sdk.Context) {
	t.Helper()
	a := e.CreateDatanet(ctx, e.collecting())
	b := e.CreateDatanet(ctx, e.collecting())
	c := e.CreateDatanet(ctx, tk.CreateDatanetMsg(e.alice, []string{e.curA}, 1, 20, types.Requirements{}, 2*deposit))
	for i := 0; i < 5; i++ {
		e.accept(ctx, []string{e.alice, e.bob, e.outsider}[i%3], a, fmt.Sprintf("a proverb %d", i))
		if i == 2 || i == 4 {
			if _, err := e.Msg.CreateDatasetVersion(ctx, &types.MsgCreateDatasetVersion{Creator: e.owner, DatanetId: a}); err != nil {
				t.Fatal(err)
			}
		}
	}
	rejected := e.Submit(ctx, e.bob, a, "spam")
	e.Review(ctx, e.curA, rejected, types.REVIEW_DECISION_REJECT)
	e.Review(ctx, e.curB, rejected, types.REVIEW_DECISION_REJECT)
	withdrawn := e.Submit(ctx, e.alice, b, "oops")
	if _, err := e.Msg.WithdrawContribution(ctx, &types.MsgWithdrawContribution{Contributor: e.alice, ContributionId: withdrawn}); err != nil {
		t.Fatal(err)
	}
	expired := e.Submit(ctx, e.outsider, b, "forgotten")
	if err := e.K.EndBlocker(ctx.WithBlockHeight(e.Contribution(ctx, expired).ReviewDeadline + 1)); err != nil {
		t.Fatal(err)
	}
	half := e.Submit(ctx, e.bob, b, "half reviewed")
	e.Review(ctx, e.curA, half, types.REVIEW_DECISION_APPROVE)
	e.Submit(ctx, e.alice, b, "pending")
	e.Submit(ctx, e.bob, c, "pending in c")
	e.accept(ctx, e.outsider, b, "accepted in b")
	cid := e.Submit(ctx, e.owner, c, "accepted in c")
	e.Review(ctx, e.curA, cid, types.REVIEW_DECISION_APPROVE)
	if _, err := e.Msg.CreateDatasetVersion(ctx, &types.MsgCreateDatasetVersion{Creator: e.curA, DatanetId: c}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Msg.ArchiveDatanet(ctx, &types.MsgArchiveDatanet{Owner: e.alice, DatanetId: c}); err != nil {
		t.Fatal(err)
	}
	p := types.DefaultParams()
	p.MaxExpiriesPerBlock = 7
	if _, err := e.Msg.UpdateParams(ctx, &types.MsgUpdateParams{Authority: e.Authority, Params: p}); err != nil {
		t.Fatal(err)
	}
	e.CheckInvariants(ctx)
}

// importApp starts a fresh app from an exported app state and returns a context on it.
func importApp(t *testing.T, state map[string]json.RawMessage) (*app.App, sdk.Context) {
	t.Helper()
	fresh := tk.NewApp(t)
	tk.InitChain(t, fresh, state)
	return fresh, fresh.NewContextLegacy(false, cmtproto.Header{ChainID: tk.ChainID, Height: 1, Time: tk.GenesisTime})
}

// TestGenesisRoundTrip exports the whole app after a rich history, imports it into
// a fresh app, and exports again: the datanet and bank sections are byte-identical,
// the invariants hold, and the imported chain carries on where the old one stopped.
func TestGenesisRoundTrip(t *testing.T) {
	e := newEnv(t)
	richHistory(t, e, e.Ctx)
	cdc := e.App.AppCodec()
	exported, err := e.App.ModuleManager.ExportGenesis(e.Ctx, cdc)
	if err != nil {
		t.Fatal(err)
	}
	var gs types.GenesisState
	cdc.MustUnmarshalJSON(exported[types.ModuleName], &gs)
	statuses := map[types.ContributionStatus]int{}
	for _, c := range gs.Contributions {
		statuses[c.Status]++
	}
	if len(gs.Datanets) != 3 || len(statuses) != 5 || len(gs.DatasetVersions) != 3 || len(gs.Reviews) < 10 || len(gs.ExpiryQueue) != 3 ||
		len(gs.ContributorCounts) < 4 || len(gs.MerkleNodes) < 8 {
		t.Fatalf("history is not rich enough: %d datanets, statuses %v, %d versions, %d reviews, %d queued",
			len(gs.Datanets), statuses, len(gs.DatasetVersions), len(gs.Reviews), len(gs.ExpiryQueue))
	}

	fresh, ctx := importApp(t, exported)
	again, err := fresh.ModuleManager.ExportGenesis(ctx, cdc)
	if err != nil {
		t.Fatal(err)
	}
	for _, module := range []string{types.ModuleName, "bank"} {
		if !bytes.Equal(exported[module], again[module]) {
			t.Fatalf("%s genesis differs after a round trip:\n%s\n%s", module, exported[module], again[module])
		}
	}
	f := &tk.Fixture{T: t, App: fresh, Ctx: ctx, K: fresh.DatanetKeeper}
	f.CheckInvariants(ctx)

	// The imported chain carries on: ids continue, the content index was rebuilt,
	// and pending contributions are reviewed, withdrawn and expired as before.
	e2 := &env{Fixture: &tk.Fixture{T: t, App: fresh, Ctx: ctx, K: fresh.DatanetKeeper, Msg: newMsgServer(fresh), Query: newQueryServer(fresh),
		Accounts: e.Accounts, Authority: e.Authority}, owner: e.owner, curA: e.curA, curB: e.curB, alice: e.alice, bob: e.bob, outsider: e.outsider}
	id := e2.Submit(ctx, e.alice, 1, "after import")
	if id != gs.NextContributionId {
		t.Fatalf("new contribution id %d, want %d", id, gs.NextContributionId)
	}
	if _, err := e2.Msg.SubmitContribution(ctx, tk.SubmitMsg(e.bob, 2, "half reviewed")); !errorsIs(err, types.ErrDuplicateContent) {
		t.Fatalf("content index not rebuilt: %v", err)
	}
	if _, err := e2.Msg.SubmitContribution(ctx, tk.SubmitMsg(e.bob, 1, "a proverb 1")); !errorsIs(err, types.ErrDuplicateContent) {
		t.Fatalf("content index of accepted content not rebuilt: %v", err)
	}
	var half uint64
	for _, c := range gs.Contributions {
		if c.Approvals == 1 && c.Status == types.CONTRIBUTION_STATUS_PENDING {
			half = c.Id
		}
	}
	if _, err := e2.Msg.ReviewContribution(ctx, &types.MsgReviewContribution{Curator: e.curA, ContributionId: half, Decision: types.REVIEW_DECISION_APPROVE}); !errorsIs(err, types.ErrAlreadyReviewed) {
		t.Fatalf("reviews not imported: %v", err)
	}
	if st := e2.Review(ctx, e.curB, half, types.REVIEW_DECISION_APPROVE); st != types.CONTRIBUTION_STATUS_ACCEPTED {
		t.Fatalf("half-reviewed contribution is %s", st)
	}
	if _, err := e2.Msg.CreateDatasetVersion(ctx, &types.MsgCreateDatasetVersion{Creator: e.owner, DatanetId: 2}); err != nil {
		t.Fatal(err)
	}
	if err := fresh.DatanetKeeper.EndBlocker(ctx.WithBlockHeight(1000)); err != nil {
		t.Fatal(err)
	}
	f.CheckInvariants(ctx)
	if e2.Escrow(ctx).Sign() != 0 {
		t.Fatalf("escrow holds %s after every contribution expired", e2.Escrow(ctx))
	}
}

// TestGenesisCorrupted imports corrupted datanet states over a clean store: each
// is rejected.
func TestGenesisCorrupted(t *testing.T) {
	e := newEnv(t)
	richHistory(t, e, e.Ctx)
	good, err := e.K.ExportGenesis(e.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	pendingIdx := -1
	for i, c := range good.Contributions {
		if c.Status == types.CONTRIBUTION_STATUS_PENDING {
			pendingIdx = i
		}
	}
	nodeAt := func(gs *types.GenesisState, level uint32) *types.MerkleNode {
		for i := range gs.MerkleNodes {
			if gs.MerkleNodes[i].Level == level {
				return &gs.MerkleNodes[i]
			}
		}
		t.Fatalf("no node at level %d", level)
		return nil
	}
	flipHex := func(s string) string {
		if s[0] == '0' {
			return "1" + s[1:]
		}
		return "0" + s[1:]
	}
	cases := []struct {
		name string
		mut  func(gs *types.GenesisState)
		err  error
	}{
		{"bad leaf node", func(gs *types.GenesisState) { n := nodeAt(gs, 0); n.Hash = flipHex(n.Hash) }, types.ErrInvalidGenesis},
		{"bad interior node", func(gs *types.GenesisState) { n := nodeAt(gs, 1); n.Hash = flipHex(n.Hash) }, types.ErrInvalidGenesis},
		{"missing leaf node", func(gs *types.GenesisState) { gs.MerkleNodes = gs.MerkleNodes[1:] }, types.ErrInvalidGenesis},
		{"wrong datanet root", func(gs *types.GenesisState) { gs.Datanets[0].MerkleRoot = flipHex(gs.Datanets[0].MerkleRoot) }, types.ErrInvalidGenesis},
		{"wrong version root", func(gs *types.GenesisState) { gs.DatasetVersions[0].Root = flipHex(gs.DatasetVersions[0].Root) }, types.ErrInvalidGenesis},
		{"accepted contribution altered", func(gs *types.GenesisState) {
			for i := range gs.Contributions {
				if gs.Contributions[i].Status == types.CONTRIBUTION_STATUS_ACCEPTED {
					gs.Contributions[i].SizeBytes++
					return
				}
			}
		}, types.ErrInvalidGenesis},
		{"expiry queue missing an entry", func(gs *types.GenesisState) { gs.ExpiryQueue = gs.ExpiryQueue[1:] }, types.ErrInvalidGenesis},
		{"expiry entry with another deadline", func(gs *types.GenesisState) { gs.ExpiryQueue[0].Deadline++ }, types.ErrInvalidGenesis},
		{"escrow short of a pending deposit", func(gs *types.GenesisState) {
			gs.Contributions[pendingIdx].Deposit.Amount = gs.Contributions[pendingIdx].Deposit.Amount.Add(sdkmath.OneInt())
		}, types.ErrInvalidGenesis},
		{"pending counter off", func(gs *types.GenesisState) { gs.Datanets[1].Stats.PendingContributions++ }, types.ErrInvalidGenesis},
		{"accepted counter off", func(gs *types.GenesisState) { gs.Datanets[1].Stats.AcceptedContributions++ }, types.ErrInvalidGenesis},
		{"accepted bytes off", func(gs *types.GenesisState) { gs.Datanets[0].Stats.AcceptedBytes-- }, types.ErrInvalidGenesis},
		{"rejected counter off", func(gs *types.GenesisState) { gs.Datanets[0].Stats.RejectedContributions = 0 }, types.ErrInvalidGenesis},
		{"distinct contributors off", func(gs *types.GenesisState) { gs.Datanets[0].Stats.DistinctContributors-- }, types.ErrInvalidGenesis},
		{"contributor count off", func(gs *types.GenesisState) { gs.ContributorCounts[0].Accepted++ }, types.ErrInvalidGenesis},
		{"version missing", func(gs *types.GenesisState) { gs.DatasetVersions = gs.DatasetVersions[1:] }, types.ErrInvalidGenesis},
		{"next contribution id reused", func(gs *types.GenesisState) { gs.NextContributionId-- }, types.ErrInvalidGenesis},
		{"owner not an address", func(gs *types.GenesisState) { gs.Datanets[0].Owner = "open1nope" }, types.ErrInvalidAddress},
		{"owner upper-cased", func(gs *types.GenesisState) { gs.Datanets[0].Owner = strings.ToUpper(gs.Datanets[0].Owner) }, types.ErrInvalidAddress},
		{"curator upper-cased", func(gs *types.GenesisState) {
			gs.Datanets[0].Curation.Curators[0] = strings.ToUpper(gs.Datanets[0].Curation.Curators[0])
		}, types.ErrInvalidAddress},
		{"reviewer not an address", func(gs *types.GenesisState) { gs.Reviews[0].Curator = "x" }, types.ErrInvalidAddress},
	}
	// The uncorrupted state imports cleanly over a cleared store.
	ctx := tk.Branch(e.Ctx)
	clearStore(t, e, ctx)
	if err := e.K.InitGenesis(ctx, *good); err != nil {
		t.Fatalf("clean import: %v", err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bz, err := good.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			var gs types.GenesisState
			if err := gs.Unmarshal(bz); err != nil {
				t.Fatal(err)
			}
			tc.mut(&gs)
			ctx := tk.Branch(e.Ctx)
			clearStore(t, e, ctx)
			if err := e.K.InitGenesis(ctx, gs); !errorsIs(err, tc.err) {
				t.Fatalf("error = %v, want %v", err, tc.err)
			}
		})
	}
}

// clearStore deletes every key of the datanet store (the escrow balance stays).
func clearStore(t *testing.T, e *env, ctx sdk.Context) {
	t.Helper()
	store := ctx.KVStore(e.App.GetKey(types.StoreKey))
	var keys [][]byte
	it := store.Iterator(nil, nil)
	for ; it.Valid(); it.Next() {
		keys = append(keys, it.Key())
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		store.Delete(k)
	}
}

// registered reports whether err carries a registered datanet error.
func registered(err error) bool {
	space, _, _ := errorsmod.ABCIInfo(err, false)
	return space == types.ModuleName
}
