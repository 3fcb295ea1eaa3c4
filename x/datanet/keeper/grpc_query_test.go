package keeper_test

import (
	"fmt"
	"slices"
	"testing"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/query"

	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/datanet/client/cli"
	"github.com/openledger/openledger/x/datanet/types"
)

// queryState builds datanets of two owners in every status and contributions of
// three contributors in every status, with datanet-specific deposits.
func queryState(t *testing.T, e *env) sdk.Context {
	t.Helper()
	ctx := tk.Branch(e.Ctx)
	var ids []uint64
	for i, owner := range []string{e.owner, e.alice, e.owner, e.alice, e.owner} {
		m := e.collecting()
		m.Owner = owner
		m.ContributionDeposit = tk.Deposit(int64(deposit * (i + 1)))
		if i == 1 {
			m.Requirements = types.Requirements{}
		}
		ids = append(ids, e.CreateDatanet(ctx, m))
	}
	if _, err := e.Msg.ArchiveDatanet(ctx, &types.MsgArchiveDatanet{Owner: e.owner, DatanetId: ids[2]}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range []uint64{ids[0], ids[1], ids[3], ids[4]} {
		for _, who := range []string{e.alice, e.bob, e.outsider} {
			for k := 0; k < 2; k++ {
				n++
				id := e.Submit(ctx, who, d, fmt.Sprintf("content %d", n))
				switch n % 4 {
				case 1:
					e.Review(ctx, e.curA, id, types.REVIEW_DECISION_APPROVE)
					e.Review(ctx, e.curB, id, types.REVIEW_DECISION_APPROVE)
				case 2:
					e.Review(ctx, e.curA, id, types.REVIEW_DECISION_REJECT)
					e.Review(ctx, e.curB, id, types.REVIEW_DECISION_REJECT)
				case 3:
					if _, err := e.Msg.WithdrawContribution(ctx, &types.MsgWithdrawContribution{Contributor: who, ContributionId: id}); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	e.CheckInvariants(ctx)
	return ctx
}

// pages walks every page of a query with the given limit and returns the ids in
// order and the total the first page reported.
func pages(t *testing.T, limit uint64, fetch func(p *query.PageRequest) ([]uint64, *query.PageResponse, error)) ([]uint64, uint64) {
	t.Helper()
	var all []uint64
	var total uint64
	req := &query.PageRequest{Limit: limit, CountTotal: true}
	for i := 0; i < 100; i++ {
		ids, res, err := fetch(req)
		if err != nil {
			t.Fatal(err)
		}
		if uint64(len(ids)) > limit {
			t.Fatalf("page of %d items with limit %d", len(ids), limit)
		}
		if i == 0 {
			total = res.Total
		}
		all = append(all, ids...)
		if len(res.NextKey) == 0 {
			return all, total
		}
		req = &query.PageRequest{Key: res.NextKey, Limit: limit}
	}
	t.Fatal("pagination does not end")
	return nil, 0
}

func TestQueryDatanetsPagination(t *testing.T) {
	e := newEnv(t)
	ctx := queryState(t, e)
	var all []types.Datanet
	if err := e.K.Datanets.Walk(ctx, nil, func(_ uint64, d types.Datanet) (bool, error) { all = append(all, d); return false, nil }); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		owner  string
		status types.DatanetStatus
	}{
		{"", 0}, {e.owner, 0}, {e.alice, 0}, {"", types.DATANET_STATUS_COLLECTING}, {"", types.DATANET_STATUS_READY},
		{"", types.DATANET_STATUS_ARCHIVED}, {e.owner, types.DATANET_STATUS_ARCHIVED}, {e.alice, types.DATANET_STATUS_ARCHIVED}, {e.bob, 0},
	} {
		var want []uint64
		for _, d := range all {
			if (tc.owner == "" || d.Owner == tc.owner) && (tc.status == 0 || d.Status == tc.status) {
				want = append(want, d.Id)
			}
		}
		for _, limit := range []uint64{1, 2, 100} {
			got, total := pages(t, limit, func(p *query.PageRequest) ([]uint64, *query.PageResponse, error) {
				res, err := e.Query.Datanets(ctx, &types.QueryDatanetsRequest{Owner: tc.owner, Status: tc.status, Pagination: p})
				if err != nil {
					return nil, nil, err
				}
				var ids []uint64
				for _, d := range res.Datanets {
					ids = append(ids, d.Id)
				}
				return ids, res.Pagination, nil
			})
			if !slices.Equal(got, want) || total != uint64(len(want)) {
				t.Fatalf("owner %q status %s limit %d: got %v (total %d), want %v", tc.owner, tc.status, limit, got, total, want)
			}
		}
	}
	if _, err := e.Query.Datanets(ctx, &types.QueryDatanetsRequest{Owner: "bad"}); !errorsIs(err, types.ErrInvalidAddress) {
		t.Fatalf("bad owner: %v", err)
	}
}

func TestQueryContributionsPagination(t *testing.T) {
	e := newEnv(t)
	ctx := queryState(t, e)
	var all []types.Contribution
	if err := e.K.Contributions.Walk(ctx, nil, func(_ uint64, c types.Contribution) (bool, error) { all = append(all, c); return false, nil }); err != nil {
		t.Fatal(err)
	}
	statuses := []types.ContributionStatus{0, types.CONTRIBUTION_STATUS_PENDING, types.CONTRIBUTION_STATUS_ACCEPTED,
		types.CONTRIBUTION_STATUS_REJECTED, types.CONTRIBUTION_STATUS_WITHDRAWN, types.CONTRIBUTION_STATUS_EXPIRED}
	for _, datanet := range []uint64{0, 1, 2, 3} {
		for _, who := range []string{"", e.alice, e.bob, e.owner} {
			for _, st := range statuses {
				var want []uint64
				for _, c := range all {
					if (datanet == 0 || c.DatanetId == datanet) && (who == "" || c.Contributor == who) && (st == 0 || c.Status == st) {
						want = append(want, c.Id)
					}
				}
				for _, limit := range []uint64{2, 100} {
					got, total := pages(t, limit, func(p *query.PageRequest) ([]uint64, *query.PageResponse, error) {
						res, err := e.Query.Contributions(ctx, &types.QueryContributionsRequest{DatanetId: datanet, Contributor: who, Status: st, Pagination: p})
						if err != nil {
							return nil, nil, err
						}
						var ids []uint64
						for _, c := range res.Contributions {
							ids = append(ids, c.Id)
						}
						return ids, res.Pagination, nil
					})
					if !slices.Equal(got, want) || total != uint64(len(want)) {
						t.Fatalf("datanet %d contributor %q status %s limit %d: got %v (total %d), want %v", datanet, who, st, limit, got, total, want)
					}
				}
			}
		}
	}
}

func TestQueryPendingDeposits(t *testing.T) {
	e := newEnv(t)
	ctx := queryState(t, e)
	for _, who := range []string{"", e.alice, e.bob, e.outsider, e.owner} {
		var want []uint64
		wantTotal := sdkmath.ZeroInt()
		if err := e.K.Contributions.Walk(ctx, nil, func(_ uint64, c types.Contribution) (bool, error) {
			if c.Status == types.CONTRIBUTION_STATUS_PENDING && (who == "" || c.Contributor == who) {
				want = append(want, c.Id)
				wantTotal = wantTotal.Add(c.Deposit.Amount)
			}
			return false, nil
		}); err != nil {
			t.Fatal(err)
		}
		for _, limit := range []uint64{1, 3, 100} {
			got, total := pages(t, limit, func(p *query.PageRequest) ([]uint64, *query.PageResponse, error) {
				res, err := e.Query.PendingDeposits(ctx, &types.QueryPendingDepositsRequest{Contributor: who, Pagination: p})
				if err != nil {
					return nil, nil, err
				}
				// The total covers every page.
				if !res.Total.AmountOf(tk.Denom).Equal(wantTotal) {
					t.Fatalf("contributor %q: total %s, want %s", who, res.Total, wantTotal)
				}
				var ids []uint64
				for _, d := range res.Deposits {
					c := e.Contribution(ctx, d.ContributionId)
					if !d.Deposit.Equal(c.Deposit) || d.DatanetId != c.DatanetId || d.Contributor != c.Contributor || d.ReviewDeadline != c.ReviewDeadline {
						t.Fatalf("deposit %+v of %+v", d, c)
					}
					ids = append(ids, d.ContributionId)
				}
				return ids, res.Pagination, nil
			})
			if !slices.Equal(got, want) || total != uint64(len(want)) {
				t.Fatalf("contributor %q limit %d: got %v (total %d), want %v", who, limit, got, total, want)
			}
		}
		if who == "" && !wantTotal.Equal(e.Escrow(ctx)) {
			t.Fatalf("pending total %s, escrow %s", wantTotal, e.Escrow(ctx))
		}
	}
}

func TestQueryObjects(t *testing.T) {
	e := newEnv(t)
	ctx := queryState(t, e)
	p, err := e.Query.Params(ctx, &types.QueryParamsRequest{})
	if err != nil || p.Params.MaxCurators != types.DefaultParams().MaxCurators {
		t.Fatalf("params %+v %v", p, err)
	}
	if _, err := e.Query.Datanet(ctx, &types.QueryDatanetRequest{DatanetId: 99}); !errorsIs(err, types.ErrDatanetNotFound) {
		t.Fatalf("datanet 99: %v", err)
	}
	if res, err := e.Query.Datanet(ctx, &types.QueryDatanetRequest{DatanetId: 1}); err != nil || res.Datanet.Id != 1 {
		t.Fatalf("datanet 1: %+v %v", res, err)
	}
	if _, err := e.Query.Contribution(ctx, &types.QueryContributionRequest{ContributionId: 999}); !errorsIs(err, types.ErrContributionNotFound) {
		t.Fatalf("contribution 999: %v", err)
	}
	// Contribution 1 was accepted by both curators: two reviews, paged one at a time.
	got, total := pages(t, 1, func(p *query.PageRequest) ([]uint64, *query.PageResponse, error) {
		res, err := e.Query.Reviews(ctx, &types.QueryReviewsRequest{ContributionId: 1, Pagination: p})
		if err != nil {
			return nil, nil, err
		}
		var ids []uint64
		for _, r := range res.Reviews {
			if r.ContributionId != 1 {
				t.Fatalf("review of %d", r.ContributionId)
			}
			ids = append(ids, r.ContributionId)
		}
		return ids, res.Pagination, nil
	})
	if len(got) != 2 || total != 2 {
		t.Fatalf("reviews %v total %d", got, total)
	}
	if _, err := e.Query.Reviews(ctx, &types.QueryReviewsRequest{ContributionId: 999}); !errorsIs(err, types.ErrContributionNotFound) {
		t.Fatalf("reviews of 999: %v", err)
	}
	if _, err := e.Query.DatasetVersion(ctx, &types.QueryDatasetVersionRequest{DatanetId: 1, Version: 1}); !errorsIs(err, types.ErrVersionNotFound) {
		t.Fatalf("missing version: %v", err)
	}
	if _, err := e.Query.DatasetVersions(ctx, &types.QueryDatasetVersionsRequest{DatanetId: 99}); !errorsIs(err, types.ErrDatanetNotFound) {
		t.Fatalf("versions of 99: %v", err)
	}
	if _, err := e.Query.Datanet(ctx, nil); err == nil {
		t.Fatal("nil request accepted")
	}
}

// TestInclusionProofOfOlderVersions checks that proofs of every version, queried
// after more leaves were appended, verify offline with cli.VerifyProof, and that
// altered proofs do not.
func TestInclusionProofOfOlderVersions(t *testing.T) {
	e := newEnv(t)
	ctx := tk.Branch(e.Ctx)
	id := e.CreateDatanet(ctx, e.collecting())
	contributors := []string{e.alice, e.bob, e.outsider}
	var accepted []uint64
	versionSizes := []int{2, 3, 7, 8, 13}
	for v, size := range versionSizes {
		for len(accepted) < size {
			n := len(accepted)
			accepted = append(accepted, e.accept(ctx, contributors[n%3], id, fmt.Sprintf("record %d", n)))
		}
		res, err := e.Msg.CreateDatasetVersion(ctx, &types.MsgCreateDatasetVersion{Creator: e.owner, DatanetId: id})
		if err != nil || res.Version.Version != uint64(v+1) {
			t.Fatalf("version %d: %+v %v", v+1, res, err)
		}
	}
	// Versions listed in order.
	vs, err := e.Query.DatasetVersions(ctx, &types.QueryDatasetVersionsRequest{DatanetId: id})
	if err != nil || len(vs.Versions) != len(versionSizes) {
		t.Fatalf("versions %+v %v", vs, err)
	}
	for v, size := range versionSizes {
		version := uint64(v + 1)
		if vs.Versions[v].Version != version || vs.Versions[v].LeafCount != uint64(size) {
			t.Fatalf("listed version %+v", vs.Versions[v])
		}
		for i, cid := range accepted {
			res, err := e.Query.InclusionProof(ctx, &types.QueryInclusionProofRequest{DatanetId: id, Version: version, ContributionId: cid})
			if i >= size {
				if !errorsIs(err, types.ErrNotInVersion) {
					t.Fatalf("version %d contribution %d (leaf %d): %v", version, cid, i, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("version %d contribution %d: %v", version, cid, err)
			}
			if res.Root != vs.Versions[v].Root || res.TreeSize != uint64(size) || res.LeafIndex != uint64(i) {
				t.Fatalf("proof %+v", res)
			}
			if err := cli.VerifyProof(*res); err != nil {
				t.Fatalf("version %d contribution %d: %v", version, cid, err)
			}
			for name, alter := range map[string]func(p *types.QueryInclusionProofResponse){
				"size":        func(p *types.QueryInclusionProofResponse) { p.Contribution.SizeBytes++ },
				"contributor": func(p *types.QueryInclusionProofResponse) { p.Contribution.Contributor = e.owner },
				"root":        func(p *types.QueryInclusionProofResponse) { p.Root = vs.Versions[(v+1)%len(vs.Versions)].Root },
				"leaf index":  func(p *types.QueryInclusionProofResponse) { p.LeafIndex = (p.LeafIndex + 1) % p.TreeSize },
				"path": func(p *types.QueryInclusionProofResponse) {
					p.AuditPath = append([]string(nil), p.AuditPath...)
					p.AuditPath[0] = p.LeafHash
				},
			} {
				bad := *res
				alter(&bad)
				if err := cli.VerifyProof(bad); err == nil {
					t.Fatalf("version %d contribution %d: proof with altered %s verifies", version, cid, name)
				}
			}
		}
	}
	// A contribution of another datanet, or not accepted, is in no version.
	other := e.Submit(ctx, e.alice, id, "pending")
	if _, err := e.Query.InclusionProof(ctx, &types.QueryInclusionProofRequest{DatanetId: id, Version: 5, ContributionId: other}); !errorsIs(err, types.ErrNotInVersion) {
		t.Fatalf("pending contribution: %v", err)
	}
	if _, err := e.Query.InclusionProof(ctx, &types.QueryInclusionProofRequest{DatanetId: id, Version: 6, ContributionId: accepted[0]}); !errorsIs(err, types.ErrVersionNotFound) {
		t.Fatalf("missing version: %v", err)
	}
	e.CheckInvariants(ctx)
}
