package keeper_test

import (
	"encoding/hex"
	"errors"
	"testing"

	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/datanet/types"
)

// TestCreateModuleDatanet: the module path is MsgCreateDatanet's (same validation and
// events); an unset deposit takes params.min_deposit.
func TestCreateModuleDatanet(t *testing.T) {
	e := newEnv(t)
	ctx := tk.Branch(e.Ctx)
	m := e.collecting()
	m.ContributionDeposit.Denom = ""
	id, err := e.K.CreateModuleDatanet(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	params, _ := e.K.Params.Get(ctx)
	if d := e.Datanet(ctx, id); d.Owner != e.owner || !d.ContributionDeposit.Equal(params.MinDeposit) || d.Status != types.DATANET_STATUS_COLLECTING {
		t.Fatalf("datanet %+v", d)
	}
	bad := e.collecting()
	bad.Curation.Curators = nil
	if _, err := e.K.CreateModuleDatanet(ctx, bad); !errors.Is(err, types.ErrInvalidCuration) {
		t.Fatalf("no curators: %v", err)
	}
}

// TestSubmitModuleContribution: a module-originated contribution takes no deposit,
// passes MsgSubmitContribution's checks, and is reviewed, accepted into the Merkle
// tree, rejected or expired like any other, without moving a coin.
func TestSubmitModuleContribution(t *testing.T) {
	e := newEnv(t)
	ctx := tk.Branch(e.Ctx)
	id := e.CreateDatanet(ctx, e.collecting())
	pool, escrow, alice := e.CommunityPool(ctx), e.Escrow(ctx), e.Balance(ctx, e.alice)

	submit := func(content string) uint64 {
		t.Helper()
		c, err := e.K.SubmitModuleContribution(ctx, tk.SubmitMsg(e.alice, id, content))
		if err != nil {
			t.Fatalf("submit %q: %v", content, err)
		}
		return c
	}
	accepted := submit("feedback accepted")
	if c := e.Contribution(ctx, accepted); c.Status != types.CONTRIBUTION_STATUS_PENDING || !c.Deposit.IsZero() || c.Deposit.Denom != tk.Denom {
		t.Fatalf("pending contribution %+v", c)
	}
	if d := e.Datanet(ctx, id); d.Stats.PendingContributions != 1 {
		t.Fatalf("stats %+v", d.Stats)
	}
	e.Review(ctx, e.curA, accepted, types.REVIEW_DECISION_APPROVE)
	if st := e.Review(ctx, e.curB, accepted, types.REVIEW_DECISION_APPROVE); st != types.CONTRIBUTION_STATUS_ACCEPTED {
		t.Fatalf("accepted contribution is %s", st)
	}
	d := e.Datanet(ctx, id)
	want, err := types.Root(nodes{e, ctx, id}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d.Stats.AcceptedContributions != 1 || d.Stats.DistinctContributors != 1 || d.MerkleRoot != hex.EncodeToString(want) ||
		hex.EncodeToString(want) != hex.EncodeToString(leafOf(t, e, ctx, accepted)) {
		t.Fatalf("datanet after acceptance %+v", d)
	}
	rejected := submit("feedback rejected")
	e.Review(ctx, e.curA, rejected, types.REVIEW_DECISION_REJECT)
	e.Review(ctx, e.curB, rejected, types.REVIEW_DECISION_REJECT)
	expired := submit("feedback expired")
	if err := e.K.EndBlocker(ctx.WithBlockHeight(e.Contribution(ctx, expired).ReviewDeadline + 1)); err != nil {
		t.Fatal(err)
	}
	for cid, want := range map[uint64]types.ContributionStatus{rejected: types.CONTRIBUTION_STATUS_REJECTED, expired: types.CONTRIBUTION_STATUS_EXPIRED} {
		if c := e.Contribution(ctx, cid); c.Status != want {
			t.Fatalf("contribution %d: %s, want %s", cid, c.Status, want)
		}
	}
	if !e.CommunityPool(ctx).Equal(pool) || !e.Escrow(ctx).Equal(escrow) || !e.Balance(ctx, e.alice).Equal(alice) {
		t.Fatal("a module contribution moved money")
	}

	// MsgSubmitContribution's checks apply.
	dup := tk.SubmitMsg(e.bob, id, "feedback accepted")
	if _, err := e.K.SubmitModuleContribution(ctx, dup); !errors.Is(err, types.ErrDuplicateContent) {
		t.Fatalf("duplicate: %v", err)
	}
	badCID := tk.SubmitMsg(e.bob, id, "x")
	badCID.Cid = "not-a-cid"
	if _, err := e.K.SubmitModuleContribution(ctx, badCID); !errors.Is(err, types.ErrInvalidCID) {
		t.Fatalf("bad cid: %v", err)
	}
	unknown := tk.SubmitMsg(e.bob, id+1, "y")
	if _, err := e.K.SubmitModuleContribution(ctx, unknown); !errors.Is(err, types.ErrDatanetNotFound) {
		t.Fatalf("unknown datanet: %v", err)
	}
	e.CheckInvariants(ctx)
}
