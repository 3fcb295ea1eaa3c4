package keeper_test

import (
	"errors"
	"fmt"
	"sort"
	"testing"

	"cosmossdk.io/collections"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/query"

	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/inference/keeper"
	"github.com/openledger/openledger/x/inference/types"
)

// TestSessionGenesisRoundTrip exports a state with sessions OPEN and CLOSED and
// settlements PENDING and FINALIZED, wipes the module store, imports it and checks
// the state and the rebuilt queues are identical.
func TestSessionGenesisRoundTrip(t *testing.T) {
	e := newSessionEnv(t)
	ctx := e.ctx
	first := e.id
	e.settle(t, ctx, 1, 10_000, 10_000) // finalised below
	closed := e.open(t, ctx, 30_000, ctx.BlockHeight()+50)
	e.id = closed
	ctx = e.f.AdvanceTo(ctx, ctx.BlockHeight()+int64(e.params.ChallengeWindowBlocks)+1)
	e.settle(t, ctx, 1, 5_000, 5_000) // pending in a closed session
	if _, err := e.f.Msg.CloseSession(ctx, &types.MsgCloseSession{Sender: e.provider, SessionId: closed}); err != nil {
		t.Fatal(err)
	}
	e.id = first
	e.settle(t, ctx, 2, 12_000, 12_000) // pending in an open session
	e.mustInvariants(t, ctx, "before export")

	queues := func(ctx sdk.Context) (out []string) {
		for name, q := range map[string]collections.KeySet[keeper.HeightID]{
			"finalize": e.f.K.SettlementFinalizeQueue, "expiry": e.f.K.SessionExpiryQueue,
		} {
			err := q.Walk(ctx, nil, func(k keeper.HeightID) (bool, error) {
				out = append(out, fmt.Sprintf("%s %d %d", name, k.K1(), k.K2()))
				return false, nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		sort.Strings(out)
		return out
	}
	gs, err := e.f.K.ExportGenesis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, s := range gs.Sessions {
		statuses = append(statuses, s.Status.String())
	}
	for _, s := range gs.SessionSettlements {
		statuses = append(statuses, s.Status.String())
	}
	sort.Strings(statuses)
	want := []string{"SESSION_STATUS_CLOSED", "SESSION_STATUS_OPEN", "SETTLEMENT_STATUS_FINALIZED", "SETTLEMENT_STATUS_PENDING", "SETTLEMENT_STATUS_PENDING"}
	if fmt.Sprint(statuses) != fmt.Sprint(want) {
		t.Fatalf("exported %v, want %v", statuses, want)
	}
	wantQueues := queues(ctx)
	if len(wantQueues) != 3 { // two pending settlements, one open session
		t.Fatalf("queues before export: %v", wantQueues)
	}

	fresh := tk.Branch(ctx)
	store := fresh.KVStore(e.f.App.GetKey(types.StoreKey))
	it := store.Iterator(nil, nil)
	var keys [][]byte
	for ; it.Valid(); it.Next() {
		keys = append(keys, it.Key())
	}
	it.Close()
	for _, k := range keys {
		store.Delete(k)
	}
	if err := e.f.K.InitGenesis(fresh, *gs); err != nil {
		t.Fatal(err)
	}
	again, err := e.f.K.ExportGenesis(fresh)
	if err != nil {
		t.Fatal(err)
	}
	a, err := gs.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	b, err := again.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Fatalf("genesis changed on round trip:\n%v\n%v", gs, again)
	}
	if got := queues(fresh); fmt.Sprint(got) != fmt.Sprint(wantQueues) {
		t.Fatalf("queues rebuilt as %v, want %v", got, wantQueues)
	}
	e.mustInvariants(t, fresh, "after import")
	// The imported state keeps working: everything pays out.
	fresh = e.f.AdvanceTo(fresh, e.deadline+1)
	for _, id := range []uint64{first, closed} {
		if s := e.session(t, fresh, id); s.Status != types.SESSION_STATUS_CLOSED || !keeper.SessionBalance(s).IsZero() {
			t.Fatalf("session %d after import: %+v", id, s)
		}
	}
	e.mustInvariants(t, fresh, "after import and expiry")
}

func TestSessionQueries(t *testing.T) {
	e := newSessionEnv(t)
	ctx := e.ctx
	first := e.id
	e.settle(t, ctx, 1, 1_000, 1_000)
	e.settle(t, ctx, 2, 2_000, 2_000)
	second := e.open(t, ctx, 20_000, ctx.BlockHeight()+10)
	if _, err := e.f.Msg.CloseSession(ctx, &types.MsgCloseSession{Sender: e.provider, SessionId: second}); err != nil {
		t.Fatal(err)
	}
	// A session of the requester with the other provider.
	m := e.openMsg(5_000, ctx.BlockHeight()+10)
	m.Provider = e.other
	third, err := e.f.Msg.OpenSession(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	q := e.f.Query
	ids := func(ss []types.Session) (out []uint64) {
		for _, s := range ss {
			out = append(out, s.Id)
		}
		return out
	}
	one, err := q.Session(ctx, &types.QuerySessionRequest{SessionId: first})
	if err != nil || one.Session.Id != first || one.Session.LastSequence != 2 {
		t.Fatalf("session: %v %+v", err, one)
	}
	if _, err := q.Session(ctx, &types.QuerySessionRequest{SessionId: 99}); !errors.Is(err, types.ErrSessionNotFound) {
		t.Fatalf("unknown session: %v", err)
	}
	for _, tc := range []struct {
		name string
		req  types.QuerySessionsRequest
		want []uint64
		err  error
	}{
		{name: "all", want: []uint64{first, second, third.SessionId}},
		{name: "by requester", req: types.QuerySessionsRequest{Requester: e.requester}, want: []uint64{first, second, third.SessionId}},
		{name: "by provider", req: types.QuerySessionsRequest{Provider: e.provider}, want: []uint64{first, second}},
		{name: "by other provider", req: types.QuerySessionsRequest{Provider: e.other}, want: []uint64{third.SessionId}},
		{name: "by requester and provider", req: types.QuerySessionsRequest{Requester: e.requester, Provider: e.other}, want: []uint64{third.SessionId}},
		{name: "open by provider", req: types.QuerySessionsRequest{Provider: e.provider, Status: types.SESSION_STATUS_OPEN}, want: []uint64{first}},
		{name: "closed", req: types.QuerySessionsRequest{Status: types.SESSION_STATUS_CLOSED}, want: []uint64{second}},
		{name: "stranger", req: types.QuerySessionsRequest{Requester: e.stranger}},
		{name: "bad address", req: types.QuerySessionsRequest{Provider: "zz"}, err: types.ErrInvalidAddress},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := q.Sessions(ctx, &tc.req)
			checkErr(t, err, tc.err)
			if err == nil && fmt.Sprint(ids(res.Sessions)) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v", ids(res.Sessions), tc.want)
			}
		})
	}
	// Pagination by key over the requester index.
	var got []uint64
	page := &query.PageRequest{Limit: 1}
	for {
		res, err := q.Sessions(ctx, &types.QuerySessionsRequest{Requester: e.requester, Pagination: page})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(res.Sessions)...)
		if len(res.Pagination.NextKey) == 0 {
			break
		}
		page = &query.PageRequest{Key: res.Pagination.NextKey, Limit: 1}
	}
	if fmt.Sprint(got) != fmt.Sprint([]uint64{first, second, third.SessionId}) {
		t.Fatalf("paged %v", got)
	}
	sts, err := q.SessionSettlements(ctx, &types.QuerySessionSettlementsRequest{SessionId: first, Pagination: &query.PageRequest{CountTotal: true}})
	if err != nil || len(sts.Settlements) != 2 || sts.Pagination.Total != 2 || sts.Settlements[0].Sequence != 1 || sts.Settlements[1].Sequence != 2 {
		t.Fatalf("settlements: %v %+v", err, sts)
	}
	if _, err := q.SessionSettlements(ctx, &types.QuerySessionSettlementsRequest{SessionId: 99}); !errors.Is(err, types.ErrSessionNotFound) {
		t.Fatalf("settlements of an unknown session: %v", err)
	}
	for _, want := range sts.Settlements {
		one, err := q.Settlement(ctx, &types.QuerySettlementRequest{SettlementId: want.Id})
		if err != nil || one.Settlement.Id != want.Id || one.Settlement.SessionId != first || one.Settlement.Sequence != want.Sequence {
			t.Fatalf("settlement %d: %v %+v", want.Id, err, one)
		}
	}
	if _, err := q.Settlement(ctx, &types.QuerySettlementRequest{SettlementId: 999}); !errors.Is(err, types.ErrSettlementNotFound) {
		t.Fatalf("unknown settlement: %v", err)
	}
	for _, call := range []func() error{
		func() error { _, err := q.Session(ctx, nil); return err },
		func() error { _, err := q.Sessions(ctx, nil); return err },
		func() error { _, err := q.SessionSettlements(ctx, nil); return err },
		func() error { _, err := q.Settlement(ctx, nil); return err },
	} {
		if status.Code(call()) != codes.InvalidArgument {
			t.Fatal("nil request accepted")
		}
	}
}
