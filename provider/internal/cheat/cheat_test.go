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

// TestSessionLies: each session kind lies only where it says, jobs stay
// honest under it, and the job kinds leave sessions honest.
func TestSessionLies(t *testing.T) {
	honest := rewardstypes.AttributionSummary{RecordSha256: "ab",
		Top:   []rewardstypes.ContributionWeight{{DatanetId: 1, Version: 1, ContributionId: 4, Ppm: 400_000}},
		Pools: []rewardstypes.PoolWeight{{DatanetId: 1, Version: 1, Ppm: 600_000}}}
	out := []byte("Patience is a virtue.")
	for _, tc := range []struct {
		env                               string
		forged, inflated, receipt, settle bool
		credited                          uint64
	}{
		{env: ""},
		{env: "output"},
		{env: "usage"},
		{env: "attribution:7"},
		{env: "session-attribution"}, // no contribution id: inert
		{env: "session-settlement:0"},
		{env: "session-output", forged: true},
		{env: "session-usage", inflated: true},
		{env: "session-attribution:7", receipt: true, credited: 7},
		{env: "session-attribution:4", receipt: true, credited: 4}, // already named: its entry grows
		{env: "session-settlement:7", settle: true, credited: 7},
	} {
		armed = parse(tc.env)
		jobLie := tc.env == "output" || tc.env == "usage" || tc.env == "attribution:7"
		if (!bytes.Equal(Output(out), out)) != (tc.env == "output") || (Usage(200, 9, 91) != 91) != (tc.env == "usage") ||
			(len(Summary(honest).Top) != 1) != (tc.env == "attribution:7") {
			t.Errorf("%q: a job lie is armed %v", tc.env, jobLie)
		}
		if got := SessionOutput(out); bytes.Equal(got, out) == tc.forged || !bytes.HasPrefix(got, out) {
			t.Errorf("%q: session output %q", tc.env, got)
		}
		if got := SessionUsage(200, 91); (got != 91) != tc.inflated || got > 200 {
			t.Errorf("%q: session usage %d", tc.env, got)
		}
		if got := SessionUsage(91, 91); got != 91 {
			t.Errorf("%q: session usage with no room %d", tc.env, got)
		}
		for _, c := range []struct {
			lies bool
			s    rewardstypes.AttributionSummary
		}{{tc.receipt, SessionSummary(honest)}, {tc.settle, SettlementSummary(honest)}} {
			var sum uint64
			var gained uint64
			for _, p := range c.s.Pools {
				sum += uint64(p.Ppm)
			}
			for _, e := range c.s.Top {
				sum += uint64(e.Ppm)
				if e.ContributionId == tc.credited {
					gained = uint64(e.Ppm)
				}
			}
			if sum != rewardstypes.PpmScale || c.s.RecordSha256 != "ab" {
				t.Errorf("%q: summary %+v", tc.env, c.s)
			}
			want := map[bool]uint64{false: 0, true: 599_999}[c.lies]
			if tc.credited == 4 && c.lies {
				want = 999_999
			}
			if c.lies != (gained == want && gained > 0) || (!c.lies && len(c.s.Top) != 1) {
				t.Errorf("%q: summary %+v (lie armed %v)", tc.env, c.s, c.lies)
			}
		}
	}
	armed = mode{}
}
