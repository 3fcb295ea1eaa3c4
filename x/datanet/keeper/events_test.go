package keeper_test

import (
	"testing"

	"github.com/cosmos/gogoproto/proto"

	sdk "github.com/cosmos/cosmos-sdk/types"

	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/datanet/types"
)

// typedEvents decodes the typed events emitted on ctx so far.
func typedEvents(t *testing.T, ctx sdk.Context) []proto.Message {
	t.Helper()
	var out []proto.Message
	for _, ev := range ctx.EventManager().ABCIEvents() {
		msg, err := sdk.ParseTypedEvent(ev)
		if err != nil {
			continue // untyped events of other modules (bank transfers)
		}
		out = append(out, msg)
	}
	return out
}

func TestTypedEvents(t *testing.T) {
	e := newEnv(t)
	ctx := tk.Branch(e.Ctx).WithEventManager(sdk.NewEventManager())
	id := e.CreateDatanet(ctx, e.collecting())
	first := e.accept(ctx, e.alice, id, "accepted one")
	spam := e.Submit(ctx, e.bob, id, "spam")
	e.Review(ctx, e.curA, spam, types.REVIEW_DECISION_REJECT)
	e.Review(ctx, e.curB, spam, types.REVIEW_DECISION_REJECT)
	second := e.accept(ctx, e.bob, id, "accepted two") // READY

	var decided []*types.EventContributionDecided
	var submitted, reviewed, created, ready int
	for _, ev := range typedEvents(t, ctx) {
		switch ev := ev.(type) {
		case *types.EventDatanetCreated:
			created++
			if ev.DatanetId != id || ev.Owner != e.owner {
				t.Fatalf("created %+v", ev)
			}
		case *types.EventContributionSubmitted:
			submitted++
			if ev.Deposit != "1000uopen" || ev.ReviewDeadline != 2+window {
				t.Fatalf("submitted %+v", ev)
			}
		case *types.EventContributionReviewed:
			reviewed++
		case *types.EventContributionDecided:
			decided = append(decided, ev)
		case *types.EventDatanetStatusChanged:
			if ev.To == types.DATANET_STATUS_READY && ev.From == types.DATANET_STATUS_COLLECTING {
				ready++
			}
		}
	}
	if created != 1 || submitted != 3 || reviewed != 6 || ready != 1 || len(decided) != 3 {
		t.Fatalf("created %d submitted %d reviewed %d ready %d decided %d", created, submitted, reviewed, ready, len(decided))
	}
	want := []struct {
		id     uint64
		status types.ContributionStatus
		to     string
		leaf   uint64
	}{
		{first, types.CONTRIBUTION_STATUS_ACCEPTED, e.alice, 0},
		{spam, types.CONTRIBUTION_STATUS_REJECTED, "community_pool", 0},
		{second, types.CONTRIBUTION_STATUS_ACCEPTED, e.bob, 1},
	}
	for i, w := range want {
		if d := decided[i]; d.ContributionId != w.id || d.Status != w.status || d.DepositTo != w.to || d.LeafIndex != w.leaf {
			t.Fatalf("decided[%d] = %+v, want %+v", i, d, w)
		}
	}
}
