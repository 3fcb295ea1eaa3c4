package keeper_test

import (
	"testing"

	testkeeper "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/datanet/types"
)

// TestLoweredQuorumReviewDecidesOwnSide: after the owner lowers the quorum below the
// approvals a pending contribution already has, a rejection must reject it (once
// rejections reach the quorum) or leave it pending, never accept it.
func TestLoweredQuorumReviewDecidesOwnSide(t *testing.T) {
	f := testkeeper.NewFixture(t, 5)
	ctx := f.Ctx
	owner, c1, c2, c3, contributor := f.Addr(0), f.Addr(1), f.Addr(2), f.Addr(3), f.Addr(4)
	id := f.CreateDatanet(ctx, testkeeper.CreateDatanetMsg(owner, []string{c1, c2, c3}, 3, 100, types.Requirements{}, 1000))
	cid := f.Submit(ctx, contributor, id, "some proverbs\n")
	if st := f.Review(ctx, c1, cid, types.REVIEW_DECISION_APPROVE); st != types.CONTRIBUTION_STATUS_PENDING {
		t.Fatalf("after one approval of three: %s", st)
	}
	curation := types.Curation{Curators: []string{c1, c2, c3}, ApprovalQuorum: 1, ReviewWindowBlocks: 100}
	if _, err := f.Msg.UpdateDatanet(ctx, &types.MsgUpdateDatanet{Owner: owner, DatanetId: id, Curation: &curation}); err != nil {
		t.Fatal(err)
	}
	poolBefore := f.CommunityPool(ctx)
	if st := f.Review(ctx, c2, cid, types.REVIEW_DECISION_REJECT); st != types.CONTRIBUTION_STATUS_REJECTED {
		t.Fatalf("a rejection reaching the lowered quorum must reject, got %s", st)
	}
	if got := f.CommunityPool(ctx).Sub(poolBefore); !got.Equal(testkeeper.Deposit(1000).Amount) {
		t.Fatalf("community pool received %s, want the 1000 deposit", got)
	}
	if d := f.Datanet(ctx, id); d.Stats.AcceptedContributions != 0 {
		t.Fatalf("a rejected contribution was appended: %+v", d.Stats)
	}
	f.CheckInvariants(ctx)
}
