package receipts

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openledger/openledger/provider/store"
)

// TestIPFSDownGivesUpOnceAtTheDeadline: the IPFS node cannot serve the job's
// input (offline, block absent) on any attempt. Settlement retries with a
// growing, capped backoff and a warning naming the CID and the deadline, gives
// the job up exactly once when the deadline passes (one log line), never posts
// a receipt, and a restarted service does not touch the given-up job again.
func TestIPFSDownGivesUpOnceAtTheDeadline(t *testing.T) {
	h := newHarness(t)
	offline := fmt.Errorf("fetching bafkreiinput: block was not found locally (offline): %w", ErrInputUnavailable)
	for range 1000 {
		h.exec.errs = append(h.exec.errs, offline)
	}
	h.award(t, 9, 105)
	go func() {
		time.Sleep(300 * time.Millisecond)
		h.chain.mu.Lock()
		h.chain.height = 106
		h.chain.mu.Unlock()
	}()
	s := h.service(t, Hooks{})
	j := h.runUntil(t, s, 9, "")
	if j.State != store.StateGivenUp || !strings.Contains(j.Reason, "deadline 105 passed") {
		t.Fatalf("job %+v\n%s", j, h.logs)
	}
	if len(h.chain.submits) != 0 || s.Stats().Submitted.Load() != 0 {
		t.Errorf("%d receipt txs attempted with the input unavailable", len(h.chain.submits))
	}
	logs := h.logs.String()
	retries := 0
	ins := map[string]bool{}
	for _, l := range strings.Split(logs, "\n") {
		if !strings.Contains(l, `msg="settlement step failed; retrying"`) {
			continue
		}
		retries++
		if !strings.Contains(l, "level=WARN") || !strings.Contains(l, "job=9") ||
			!strings.Contains(l, "input bafkreiinput unavailable; retrying until deadline 105") || !strings.Contains(l, "offline") {
			t.Errorf("unclear retry line: %s", l)
		}
		if i := strings.Index(l, " in="); i >= 0 {
			ins[strings.Fields(l[i+1:])[0]] = true
		}
	}
	if retries < 3 {
		t.Errorf("%d retries before the deadline, want several\n%s", retries, logs)
	}
	// Backoff from MinBackoff (10 ms) doubling to MaxBackoff (40 ms), never beyond.
	for _, in := range []string{"in=10ms", "in=20ms", "in=40ms"} {
		if !ins[in] {
			t.Errorf("no retry with %s (seen %v)", in, ins)
		}
	}
	if len(ins) != 3 {
		t.Errorf("backoff delays %v, want exactly 10, 20, 40 ms", ins)
	}
	if n := strings.Count(logs, `msg="job given up"`); n != 1 || !strings.Contains(logs, `reason="deadline 105 passed`) {
		t.Errorf("%d give-up lines, want 1\n%s", n, logs)
	}
	if s.Stats().GivenUp.Load() != 1 {
		t.Errorf("given up %d times", s.Stats().GivenUp.Load())
	}

	// A restart leaves the given-up job alone: no execution, no second give-up.
	calls := h.exec.calls
	s2 := h.service(t, Hooks{})
	if j := h.runUntil(t, s2, 9, ""); j.State != store.StateGivenUp {
		t.Fatalf("job %+v after restart", j)
	}
	time.Sleep(100 * time.Millisecond)
	if h.exec.calls != calls || s2.Stats().GivenUp.Load() != 0 || strings.Count(h.logs.String(), `msg="job given up"`) != 1 || len(h.chain.submits) != 0 {
		t.Errorf("after restart: %d executions (was %d), given up %d more, %d submits", h.exec.calls, calls, s2.Stats().GivenUp.Load(), len(h.chain.submits))
	}
}
