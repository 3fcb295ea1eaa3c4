package keeper

import (
	"context"
	"fmt"

	"cosmossdk.io/collections"

	"github.com/openledger/openledger/x/models/types"
)

// FeedbackInvariant checks that every feedback is indexed by its inference and its
// deployment, that the indexes hold nothing else, and that each deployment's counts
// equal a recount of its feedback. Feedback moves no coins.
func (k Keeper) FeedbackInvariant(ctx context.Context) error {
	recount := map[uint64]types.FeedbackCounts{}
	feedbacks := 0
	err := k.Feedbacks.Walk(ctx, nil, func(id uint64, f types.Feedback) (bool, error) {
		feedbacks++
		kind, ref, seq := f.InferenceKey()
		got, err := k.FeedbackByInference.Get(ctx, collections.Join3(kind, ref, seq))
		if err != nil || got != id {
			return true, fmt.Errorf("feedback %d: inference index holds %d (%v)", id, got, err)
		}
		if ok, err := k.FeedbackByDeployment.Has(ctx, collections.Join(f.DeploymentId, id)); err != nil || !ok {
			return true, fmt.Errorf("feedback %d: missing from deployment %d's index (%v)", id, f.DeploymentId, err)
		}
		c := recount[f.DeploymentId]
		c.Add(f)
		recount[f.DeploymentId] = c
		return false, nil
	})
	if err != nil {
		return err
	}
	n := 0
	err = k.FeedbackByInference.Walk(ctx, nil, func(collections.Triple[int32, uint64, uint64], uint64) (bool, error) {
		n++
		return false, nil
	})
	if err != nil {
		return err
	}
	if n != feedbacks {
		return fmt.Errorf("the inference index holds %d entries for %d feedbacks", n, feedbacks)
	}
	n = 0
	err = k.FeedbackByDeployment.Walk(ctx, nil, func(collections.Pair[uint64, uint64]) (bool, error) {
		n++
		return false, nil
	})
	if err != nil {
		return err
	}
	if n != feedbacks {
		return fmt.Errorf("the deployment index holds %d entries for %d feedbacks", n, feedbacks)
	}
	err = k.FeedbackCounts.Walk(ctx, nil, func(dep uint64, c types.FeedbackCounts) (bool, error) {
		want, ok := recount[dep]
		if !ok || want != c {
			return true, fmt.Errorf("deployment %d: feedback counts %+v, recount %+v", dep, c, want)
		}
		delete(recount, dep)
		return false, nil
	})
	if err != nil {
		return err
	}
	if len(recount) > 0 {
		return fmt.Errorf("%d deployments have feedback but no counts", len(recount))
	}
	return nil
}
