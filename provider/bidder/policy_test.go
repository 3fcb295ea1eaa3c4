package bidder

import (
	"testing"

	sdk "github.com/cosmos/cosmos-sdk/types"
)

func coin(n int64) sdk.Coin { return sdk.NewInt64Coin("uopen", n) }

func TestDecide(t *testing.T) {
	policy := Policy{
		MarkupBPSPerLoad: 5000, MaxConcurrency: 4, RefuseWhenSaturated: true, MarginBlocks: 2,
		Deployments: map[uint64]Offer{
			1: {Base: coin(100), Floor: coin(80)},
			2: {Base: coin(10), Floor: coin(10), MaxConcurrency: 1},
			3: {Base: sdk.NewInt64Coin("uatom", 10), Floor: sdk.NewInt64Coin("uatom", 10)},
		},
	}
	noRefuse := policy
	noRefuse.RefuseWhenSaturated = false
	job := func(dep uint64, max int64) Job {
		return Job{ID: 9, DeploymentID: dep, Requester: "open1req", MaxPrice: coin(max), BidCloseHeight: 110}
	}
	load := func(running uint32, byDep map[uint64]uint32) Load { return Load{Running: running, ByDeployment: byDep} }
	cases := []struct {
		name   string
		policy Policy
		job    Job
		load   Load
		height int64
		want   Decision
	}{
		{"idle bids base", policy, job(1, 1000), load(0, nil), 100, Decision{Bid: true, Price: coin(100)}},
		{"half load: +25%", policy, job(1, 1000), load(2, nil), 100, Decision{Bid: true, Price: coin(125)}},
		{"3/4 load: +37.5% rounded up", policy, job(1, 1000), load(3, nil), 100, Decision{Bid: true, Price: coin(138)}},
		{"capped at the job's max", policy, job(1, 110), load(2, nil), 100, Decision{Bid: true, Price: coin(110)}},
		{"max equals floor", policy, job(1, 80), load(0, nil), 100, Decision{Bid: true, Price: coin(80)}},
		{"max below floor", policy, job(1, 79), load(0, nil), 100, Decision{Reason: ReasonBelowFloor}},
		{"saturated refuses", policy, job(1, 1000), load(4, nil), 100, Decision{Reason: ReasonSaturated}},
		{"saturated bids full-load price when allowed", noRefuse, job(1, 1000), load(6, nil), 100, Decision{Bid: true, Price: coin(150)}},
		{"deployment saturated", policy, job(2, 1000), load(1, map[uint64]uint32{2: 1}), 100, Decision{Reason: ReasonSaturated}},
		{"deployment with room: 10 × 1.125 rounded up", policy, job(2, 1000), load(1, map[uint64]uint32{1: 1}), 100, Decision{Bid: true, Price: coin(12)}},
		{"not offered", policy, job(7, 1000), load(0, nil), 100, Decision{Reason: ReasonNotOffered}},
		{"own job", policy, Job{DeploymentID: 1, Requester: "open1me", MaxPrice: coin(1000), BidCloseHeight: 110}, load(0, nil), 100, Decision{Reason: ReasonOwnJob}},
		{"closing within margin", policy, job(1, 1000), load(0, nil), 109, Decision{Reason: ReasonClosing}},
		{"exactly at margin bids", policy, job(1, 1000), load(0, nil), 108, Decision{Bid: true, Price: coin(100)}},
		{"already closed", policy, job(1, 1000), load(0, nil), 111, Decision{Reason: ReasonClosing}},
		{"denom mismatch", policy, job(3, 1000), load(0, nil), 100, Decision{Reason: ReasonDenom}},
		{"zero max price below floor", policy, job(1, 0), load(0, nil), 100, Decision{Reason: ReasonBelowFloor}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Decide(tc.policy, tc.job, tc.load, "open1me", tc.height)
			if got.Bid != tc.want.Bid || got.Reason != tc.want.Reason || (got.Bid && !got.Price.Equal(tc.want.Price)) {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			if got.Bid && (got.Price.Amount.GT(tc.job.MaxPrice.Amount)) {
				t.Fatalf("bid %s above the job's max %s", got.Price, tc.job.MaxPrice)
			}
		})
	}
}

func TestDecideNeverAboveMaxNorBelowFloor(t *testing.T) {
	p := Policy{MarkupBPSPerLoad: 20000, MaxConcurrency: 8, MarginBlocks: 0,
		Deployments: map[uint64]Offer{1: {Base: coin(37), Floor: coin(30)}}}
	for max := int64(0); max < 200; max += 7 {
		for running := uint32(0); running <= 10; running++ {
			d := Decide(p, Job{DeploymentID: 1, MaxPrice: coin(max), BidCloseHeight: 5}, Load{Running: running}, "", 5)
			if d.Bid && (d.Price.Amount.GT(coin(max).Amount) || d.Price.Amount.LT(coin(30).Amount)) {
				t.Fatalf("max %d running %d: %s", max, running, d)
			}
		}
	}
}
