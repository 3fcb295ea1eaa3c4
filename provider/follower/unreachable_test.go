package follower_test

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openledger/openledger/provider/follower"
	"github.com/openledger/openledger/provider/internal/chaintest"
	"github.com/openledger/openledger/provider/store"
	"github.com/openledger/openledger/testutil/e2e"
)

// capture is a slog handler keeping every record with its attributes.
type capture struct {
	mu    *sync.Mutex
	recs  *[]map[string]string
	attrs []slog.Attr
}

func newCapture() *capture { return &capture{mu: &sync.Mutex{}, recs: &[]map[string]string{}} }

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{"msg": r.Message, "level": r.Level.String()}
	for _, a := range c.attrs {
		m[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	c.mu.Lock()
	*c.recs = append(*c.recs, m)
	c.mu.Unlock()
	return nil
}
func (c *capture) WithAttrs(as []slog.Attr) slog.Handler {
	return &capture{mu: c.mu, recs: c.recs, attrs: append(append([]slog.Attr{}, c.attrs...), as...)}
}
func (c *capture) WithGroup(string) slog.Handler { return c }

// find returns the records whose message is msg.
func (c *capture) find(msg string) []map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []map[string]string
	for _, m := range *c.recs {
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// restart starts the stopped chain's node again from its home (same ports and
// state); the process group is killed by t.Cleanup.
func restart(t *testing.T, c *e2e.Chain) {
	t.Helper()
	logf, err := os.OpenFile(c.Home+"/node.log", os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(c.Bin, "start", "--home", c.Home)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
}

// TestChainDownAndBack: the node goes away under a running follower and chain
// client, then comes back. The follower backs off (bounded, capped) with a
// warning naming the endpoint, the chain client fails clearly naming its
// endpoint, the store keeps its height and journaled tx, and the follower
// resumes from where it was when the node is back.
func TestChainDownAndBack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real chain")
	}
	c := e2e.StartChain(t)
	st, err := store.Open(t.TempDir(), nil, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cl := chaintest.Client(t, c, "bob", st)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if err := st.SavePendingTx("ABCD", 7, []byte("signed tx"), "bid job 1"); err != nil {
		t.Fatal(err)
	}
	logs := newCapture()
	const poll = 100 * time.Millisecond
	f, err := follower.New(follower.Config{RPCAddr: chaintest.RPCAddr(c), PollInterval: poll, StallTimeout: time.Second, PollOnly: true},
		st, func(context.Context, follower.Event) error { return nil }, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	fctx, fcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(fctx) }()
	defer func() {
		fcancel()
		if err := <-done; err != nil {
			t.Errorf("follower: %v", err)
		}
	}()
	waitHeight := func(min int64, within time.Duration) int64 {
		t.Helper()
		end := time.Now().Add(within)
		for {
			h, err := st.Height()
			if err != nil {
				t.Fatal(err)
			}
			if h >= min {
				return h
			}
			if time.Now().After(end) {
				t.Fatalf("follower at height %d, want ≥ %d\n%s", h, min, c.Log())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	h0, _ := c.Height()
	waitHeight(h0+1, 20*time.Second)

	c.Stop()
	downAt, _ := st.Height()
	// Down: the follower keeps its height and backs off with a clear warning.
	const down = 3 * time.Second
	time.Sleep(down)
	warns := logs.find("chain unreachable, polling backs off")
	if len(warns) < 2 {
		t.Fatalf("%d back-off warnings while the chain is down, want ≥ 2", len(warns))
	}
	// Bounded: without backoff a 100 ms poll would warn ~30 times in 3 s.
	if len(warns) > 12 {
		t.Errorf("%d warnings in %s: the follower does not back off", len(warns), down)
	}
	maxIn := time.Duration(0)
	for _, w := range warns {
		if w["rpc"] != chaintest.RPCAddr(c) || w["level"] != "WARN" || w["component"] != "follower" {
			t.Errorf("warning does not name the endpoint: %v", w)
		}
		d, err := time.ParseDuration(w["in"])
		if err != nil {
			t.Fatalf("in=%q: %v", w["in"], err)
		}
		maxIn = max(maxIn, d)
	}
	if maxIn < 4*poll || maxIn > 10*poll {
		t.Errorf("largest backoff %s, want it grown and capped at %s", maxIn, 10*poll)
	}
	if h, _ := st.Height(); h != downAt {
		t.Errorf("height moved from %d to %d while the chain was down", downAt, h)
	}

	// The chain client fails clearly, naming its endpoint, and journals nothing.
	qctx, qcancel := context.WithTimeout(ctx, 5*time.Second)
	_, qerr := cl.LatestHeight(qctx)
	qcancel()
	if qerr == nil || !strings.Contains(qerr.Error(), chaintest.GRPCAddr(t, c)) {
		t.Errorf("latest height with the chain down: %v (want an error naming %s)", qerr, chaintest.GRPCAddr(t, c))
	}
	if txs, err := st.PendingTxs(); err != nil || len(txs) != 1 || txs[0].Hash != "ABCD" || txs[0].Sequence != 7 {
		t.Errorf("journal after the outage: %+v, %v", txs, err)
	}

	// Back: the follower resumes from its stored height, no block skipped.
	restart(t, c)
	// (e2e.Chain.WaitForHeight watches the first process; the follower's own
	// height proves the node is back.)
	waitHeight(downAt+3, 60*time.Second)
	if len(logs.find("chain reachable again")) == 0 {
		t.Errorf("no recovery log line")
	}
	end := time.Now().Add(15 * time.Second)
	for {
		qctx, qcancel := context.WithTimeout(ctx, 2*time.Second)
		h, err := cl.LatestHeight(qctx)
		qcancel()
		if err == nil && h > downAt {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("chain client did not recover: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if txs, err := st.PendingTxs(); err != nil || len(txs) != 1 {
		t.Errorf("journal after recovery: %+v, %v", txs, err)
	}
	t.Logf("down at height %d for %s: %d warnings, largest backoff %s; resumed", downAt, down, len(warns), maxIn)
}
