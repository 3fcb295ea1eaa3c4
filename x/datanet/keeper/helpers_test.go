package keeper_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multibase"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/app"
	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/datanet/keeper"
	"github.com/openledger/openledger/x/datanet/types"
)

// env is a started app with named accounts and a base state shared by the cases of
// one test; every case runs on its own branch of that state.
type env struct {
	*tk.Fixture
	owner, curA, curB, alice, bob, outsider string
}

const (
	deposit = 1_000
	window  = 10
)

func newEnv(t testing.TB) *env {
	t.Helper()
	f := tk.NewFixture(t, 8)
	return &env{
		Fixture: f,
		owner:   f.Addr(0), curA: f.Addr(1), curB: f.Addr(2),
		alice: f.Addr(3), bob: f.Addr(4), outsider: f.Addr(5),
	}
}

// collecting returns a msg creating a datanet curated by curA and curB (quorum 2)
// that is READY after 2 accepted contributions from 2 contributors, 10 bytes in all.
func (e *env) collecting() *types.MsgCreateDatanet {
	return tk.CreateDatanetMsg(e.owner, []string{e.curA, e.curB}, 2, window,
		types.Requirements{MinAcceptedContributions: 2, MinDistinctContributors: 2, MinAcceptedBytes: 10}, deposit)
}

// accept submits content and has both curators approve it.
func (e *env) accept(ctx sdk.Context, contributor string, datanet uint64, content string) uint64 {
	e.T.Helper()
	id := e.Submit(ctx, contributor, datanet, content)
	e.Review(ctx, e.curA, id, types.REVIEW_DECISION_APPROVE)
	if st := e.Review(ctx, e.curB, id, types.REVIEW_DECISION_APPROVE); st != types.CONTRIBUTION_STATUS_ACCEPTED {
		e.T.Fatalf("contribution %d is %s after two approvals", id, st)
	}
	return id
}

// msgCase is one msg-server call on a branch of the base state.
type msgCase struct {
	name string
	// setup prepares extra state on the branch (optional).
	setup func(ctx sdk.Context)
	// run calls the msg server.
	run func(ctx sdk.Context) error
	// err is the registered error a failing call must return (nil: success).
	err error
	// contains is a substring the error message must hold (the field name).
	contains string
	// check inspects the branch after a successful call.
	check func(t *testing.T, ctx sdk.Context)
}

// runCases runs each case on a fresh branch of base. A failing case must return its
// registered error and leave the datanet, bank, distribution and auth stores exactly
// as they were; every case ends with the escrow and stats invariants.
func (e *env) runCases(t *testing.T, base sdk.Context, cases []msgCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parent := e.T
			e.T = t
			defer func() { e.T = parent }()
			ctx := tk.Branch(base)
			if tc.setup != nil {
				tc.setup(ctx)
			}
			before := e.Snapshot(ctx)
			err := tc.run(ctx)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error = %v, want %v", err, tc.err)
				}
				if tc.contains != "" && !strings.Contains(err.Error(), tc.contains) {
					t.Fatalf("error %q does not mention %q", err, tc.contains)
				}
				if after := e.Snapshot(ctx); !equalSnapshots(before, after) {
					t.Fatalf("rejected msg changed state:\nbefore %v\nafter  %v", before, after)
				}
			} else {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if tc.check != nil {
					tc.check(t, ctx)
				}
			}
			e.CheckInvariants(ctx)
		})
	}
}

func equalSnapshots(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// toBase58 re-encodes a CIDv1 in base58btc.
func toBase58(s string) (string, error) {
	c, err := cid.Decode(s)
	if err != nil {
		return "", err
	}
	return c.StringOfBase(multibase.Base58BTC)
}

// finalizeReq is an empty block at height h.
func finalizeReq(h int64) *abci.RequestFinalizeBlock {
	return &abci.RequestFinalizeBlock{Height: h, Time: tk.GenesisTime.Add(time.Duration(h) * 5 * time.Second)}
}

func newMsgServer(a *app.App) types.MsgServer     { return keeper.NewMsgServerImpl(a.DatanetKeeper) }
func newQueryServer(a *app.App) types.QueryServer { return keeper.NewQueryServerImpl(a.DatanetKeeper) }
