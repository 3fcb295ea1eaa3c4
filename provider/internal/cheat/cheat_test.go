package cheat

import (
	"bytes"
	"testing"

	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

func TestLies(t *testing.T) {
	honest := rewardstypes.AttributionSummary{RecordSha256: "ab", Pools: []rewardstypes.PoolWeight{{DatanetId: 1, Version: 1, Ppm: 1_000_000}}}
	out := []byte("Patience is a virtue.")
	for _, tc := range []struct {
		env                           string
		forged, inflated, reattribute bool
	}{
		{env: ""},
		{env: "nonsense"},
		{env: "attribution"}, // no contribution id: inert
		{env: "attribution:0"},
		{env: "output", forged: true},
		{env: "usage", inflated: true},
		{env: "attribution:7", reattribute: true},
	} {
		armed = parse(tc.env)
		if got := Output(out); bytes.Equal(got, out) == tc.forged || !bytes.HasPrefix(got, out) {
			t.Errorf("%q: output %q", tc.env, got)
		}
		if got := Usage(200, 9, 91); (got != 91) != tc.inflated || got > 191 {
			t.Errorf("%q: usage %d", tc.env, got)
		}
		if got := Usage(100, 9, 91); got != 91 {
			t.Errorf("%q: usage with no room %d", tc.env, got)
		}
		s := Summary(honest)
		var sum uint64
		for _, p := range s.Pools {
			sum += uint64(p.Ppm)
		}
		for _, c := range s.Top {
			sum += uint64(c.Ppm)
			if c.ContributionId != 7 || c.DatanetId != 1 || c.Version != 1 {
				t.Errorf("%q: credits %+v", tc.env, c)
			}
		}
		if sum != rewardstypes.PpmScale || (len(s.Top) == 1) != tc.reattribute || s.RecordSha256 != "ab" {
			t.Errorf("%q: summary %+v", tc.env, s)
		}
	}
	armed = mode{}
}
