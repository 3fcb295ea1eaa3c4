package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmath "cosmossdk.io/math"

	"github.com/openledger/openledger/provider/config"
	"github.com/openledger/openledger/provider/daemon"
	"github.com/openledger/openledger/provider/store"
)

// TestMissingInputGivesUpOnceAtTheDeadline: frank's in-process daemon, with the
// real executor (provider/executor over its own IPFS node, loopback, no DHT),
// wins a job whose input CID was never added anywhere (its sha256 is right).
// The input fetch fails on every attempt; the daemon never posts a receipt,
// gives the job up once the deadline passes, and does not bid in the
// re-auction. On chain the miss slashes frank exactly once
// (floor((stake+unbonding) × deadline_slash_bps / 10,000)), frank is excluded,
// and the job ends FAILED or EXPIRED with its escrow back with the requester.
func TestMissingInputGivesUpOnceAtTheDeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts a chain and the provider daemon")
	}
	start := time.Now()
	m := newMarket(t)
	path := m.providerConfig(t, "frank", "200uopen")

	var mu sync.Mutex
	notes := map[string]int{}
	d := startRealDaemon(t, path, daemon.Hooks{BeforeSubmit: func(note string) error {
		mu.Lock()
		notes[note]++
		mu.Unlock()
		return nil
	}})
	if d.info.Operator != m.frank {
		t.Fatalf("daemon operator %s, want frank %s", d.info.Operator, m.frank)
	}

	params := inferenceParams(t, m)
	before := providerState(t, m, m.frank)
	total := before.stake.Add(before.unbonding)
	wantSlash := total.MulRaw(params.slashBps).QuoRaw(10_000)
	if !wantSlash.IsPositive() {
		t.Fatalf("deadline slash of %s at %d bps is zero: the test would prove nothing", total, params.slashBps)
	}
	t.Logf("setup in %s; frank's stake %s + unbonding %s, deadline_slash_bps %d → one slash is %s; max_reauctions %d",
		time.Since(start).Round(time.Second), before.stake, before.unbonding, params.slashBps, wantSlash, params.maxReauctions)

	// Content that was never added to any IPFS node, with its correct digest.
	missing := fmt.Sprintf("a prompt nobody ever added to IPFS (%d)", time.Now().UnixNano())
	inSHA, inCID := content(t, missing)
	res := m.c.MustTx("gina", "inference", "create-job", m.dep, "--input-cid", inCID, "--input-sha256", inSHA,
		"--max-tokens", "48", "--max-price", "500uopen", "--bid-window", "8",
		"--execution-blocks", "15", "--seed", "7")
	job := res.Attr("openledger.inference.v1.EventJobCreated", "job_id")
	gina := m.c.Address("gina")
	ginaAfterCreate := bankBalance(t, m, gina)
	t.Logf("job %s with input %s (never added)", job, inCID)

	// frank wins it.
	deadline := time.Now().Add(30 * time.Second)
	var awarded jobFull
	for {
		awarded = queryJob(t, m, job)
		if awarded.Winner == m.frank && unquote(awarded.DeadlineHeight) != "0" {
			break
		}
		if awarded.Status != "JOB_STATUS_OPEN" || time.Now().After(deadline) {
			t.Fatalf("job %s not awarded to frank: %+v", job, awarded)
		}
		time.Sleep(200 * time.Millisecond)
	}
	dlStr := unquote(awarded.DeadlineHeight)
	dl, _ := strconv.ParseInt(dlStr, 10, 64)
	t.Logf("job %s awarded to frank, deadline height %s", job, dlStr)

	// The job goes through the deadline and ends closed.
	deadline = time.Now().Add(60 * time.Second)
	var final jobFull
	for {
		final = queryJob(t, m, job)
		if final.Status == "JOB_STATUS_FAILED" || final.Status == "JOB_STATUS_EXPIRED" {
			break
		}
		switch final.Status {
		case "JOB_STATUS_OPEN", "JOB_STATUS_AWARDED":
		default:
			t.Fatalf("job %s is %s, want it to miss its deadline and close FAILED or EXPIRED: %+v", job, final.Status, final)
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s after 60 s: %+v", job, final.Status, final)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if h, err := m.c.Height(); err != nil || h <= dl {
		t.Fatalf("height %d (%v), want past the deadline %d", h, err, dl)
	}
	if final.Auctions < 2 && final.Status == "JOB_STATUS_EXPIRED" {
		t.Fatalf("job %s expired in auction %d: it never missed a deadline", job, final.Auctions)
	}
	t.Logf("job %s closed %s after %d auction(s) (%s)", job, final.Status, final.Auctions, time.Since(start).Round(time.Second))

	// The escrow is refunded in full.
	escrow, ok := sdkmath.NewIntFromString(final.Escrow.Amount)
	if !ok || !escrow.IsPositive() {
		t.Fatalf("job escrow %+v", final.Escrow)
	}
	if final.Refunded.Amount != final.Escrow.Amount || final.Refunded.Denom != final.Escrow.Denom {
		t.Fatalf("job refunded %+v, escrow %+v", final.Refunded, final.Escrow)
	}
	if got := bankBalance(t, m, gina).Sub(ginaAfterCreate); !got.Equal(escrow) {
		t.Fatalf("gina got %s back, want the escrow %s", got, escrow)
	}

	// frank is excluded and slashed exactly once.
	found := false
	for _, ex := range final.Excluded {
		found = found || ex == m.frank
	}
	if !found {
		t.Fatalf("frank not excluded from job %s: %v", job, final.Excluded)
	}
	after := providerState(t, m, m.frank)
	if got := before.stake.Add(before.unbonding).Sub(after.stake.Add(after.unbonding)); !got.Equal(wantSlash) {
		t.Fatalf("frank lost %s (stake %s→%s, unbonding %s→%s), want exactly one deadline slash %s",
			got, before.stake, after.stake, before.unbonding, after.unbonding, wantSlash)
	}
	if after.missed != before.missed+1 {
		t.Fatalf("frank's missed deadlines %d → %d, want one more", before.missed, after.missed)
	}

	// Let a few more blocks pass, in case anything would come late, then stop.
	if h, err := m.c.Height(); err == nil {
		m.c.WaitForHeight(h+5, 10*time.Second)
	}
	d.stop(t)

	// The daemon never posted a receipt and bid once (not in the re-auction).
	mu.Lock()
	bidNotes, receiptNotes := notes["bid job "+job], notes["receipt job "+job]
	mu.Unlock()
	if bidNotes != 1 || receiptNotes != 0 {
		t.Fatalf("frank's daemon submitted %d bid(s) and %d receipt(s) for job %s, want 1 and 0 (notes %v)", bidNotes, receiptNotes, job, notes)
	}
	bids, receipts := (&killRig{m: m}).providerTxs(t, job)
	if len(bids) != 1 || len(receipts) != 0 {
		t.Fatalf("frank's txs for job %s in blocks: bids %v, receipts %v; want one bid, no receipt", job, bids, receipts)
	}

	// The store: given up, exactly once.
	st := jobState(t, path, job)
	givenUp := 0
	for _, s := range st.History {
		if s.State == store.StateGivenUp {
			givenUp++
		}
	}
	if st.State != store.StateGivenUp || givenUp != 1 || st.ReceiptTxHash != "" || st.OutputCID != "" {
		t.Fatalf("frank's store: job %s %+v; want given up exactly once, no output, no receipt", job, st)
	}
	if strings.Contains(st.Reason, "input unavailable") {
		t.Fatalf("frank's store: the give-up reason was overwritten by a late failure: %q", st.Reason)
	}
	t.Logf("store: job %s given up once: %q %+v", job, st.Reason, st.History)

	// The log says why: a warning names the input as unavailable and the
	// deadline it is retried until, and one line says the job was given up.
	logs, err := os.ReadFile(filepath.Join(filepath.Dir(path), "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	unavailable, gaveUp := 0, 0
	for _, l := range strings.Split(string(logs), "\n") {
		if !strings.Contains(l, "job="+job+" ") && !strings.HasSuffix(l, "job="+job) {
			continue
		}
		if strings.Contains(l, "level=WARN") && strings.Contains(l, "input "+inCID+" unavailable; retrying until deadline "+dlStr) {
			unavailable++
		}
		if strings.Contains(l, `msg="job given up"`) {
			gaveUp++
		}
	}
	if unavailable == 0 || gaveUp != 1 {
		t.Fatalf("daemon log: %d warnings naming input %s unavailable (want ≥1), %d give-up lines (want 1)\n%s",
			unavailable, inCID, gaveUp, tail(filepath.Join(filepath.Dir(path), "daemon.log")))
	}
	t.Logf("log: %d retry warnings naming the missing input, %d give-up line(s); done in %s",
		unavailable, gaveUp, time.Since(start).Round(time.Second))
}

// startRealDaemon runs the daemon in-process with the real executor
// (daemon.DefaultExecutor), logging to daemon.log beside the config.
func startRealDaemon(t *testing.T, path string, hooks daemon.Hooks) *running {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(filepath.Dir(path), "daemon.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		logf.Close()
		if t.Failed() {
			t.Logf("%s log:\n%s", path, tail(logPath))
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	ready := make(chan daemon.Info, 1)
	deps := daemon.Deps{
		ConfigPath: path, Logger: slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Listen: "127.0.0.1:0", BlockTime: 200 * time.Millisecond,
		FollowerPollInterval: 200 * time.Millisecond, ScanInterval: 200 * time.Millisecond,
		NewExecutor: daemon.DefaultExecutor, Hooks: hooks,
		OnReady: func(i daemon.Info) { ready <- i },
	}
	go func() { r.done <- daemon.Run(ctx, cfg, deps) }()
	select {
	case r.info = <-ready:
	case err := <-r.done:
		t.Fatalf("daemon %s did not start: %v\n%s", path, err, tail(logPath))
	case <-time.After(60 * time.Second):
		t.Fatalf("daemon %s not ready in 60 s", path)
	}
	t.Cleanup(func() {
		r.cancel()
		r.once.Do(func() { r.err = <-r.done })
	})
	return r
}

type coinJSON struct {
	Denom  string `json:"denom"`
	Amount string `json:"amount"`
}

type jobFull struct {
	Status         string          `json:"status"`
	Winner         string          `json:"winner"`
	Auctions       int             `json:"auctions"`
	DeadlineHeight json.RawMessage `json:"deadline_height"`
	Excluded       []string        `json:"excluded"`
	Escrow         coinJSON        `json:"escrow"`
	Refunded       coinJSON        `json:"refunded"`
}

func queryJob(t *testing.T, m *market, id string) jobFull {
	t.Helper()
	var out struct {
		Job jobFull `json:"job"`
	}
	m.c.MustQuery(&out, "inference", "job", id)
	return out.Job
}

type provState struct {
	stake, unbonding sdkmath.Int
	missed           uint64
}

// unquote reads a JSON number or a number in a string.
func unquote(raw json.RawMessage) string {
	s := strings.Trim(string(raw), `"`)
	if s == "" || s == "null" {
		return "0"
	}
	return s
}

func providerState(t *testing.T, m *market, addr string) provState {
	t.Helper()
	var p struct {
		Provider struct {
			Stake           coinJSON        `json:"stake"`
			Unbonding       json.RawMessage `json:"unbonding"`
			MissedDeadlines json.RawMessage `json:"missed_deadlines"`
		} `json:"provider"`
	}
	m.c.MustQuery(&p, "inference", "provider", addr)
	stake, ok1 := sdkmath.NewIntFromString(p.Provider.Stake.Amount)
	unb, ok2 := sdkmath.NewIntFromString(unquote(p.Provider.Unbonding))
	missed, err := strconv.ParseUint(unquote(p.Provider.MissedDeadlines), 10, 64)
	if !ok1 || !ok2 || err != nil {
		t.Fatalf("provider %s: stake %q, unbonding %s, missed %s", addr, p.Provider.Stake.Amount, p.Provider.Unbonding, p.Provider.MissedDeadlines)
	}
	return provState{stake: stake, unbonding: unb, missed: missed}
}

type infParams struct {
	slashBps      int64
	maxReauctions int64
}

func inferenceParams(t *testing.T, m *market) infParams {
	t.Helper()
	var p struct {
		Params struct {
			DeadlineSlashBps json.RawMessage `json:"deadline_slash_bps"`
			MaxReauctions    json.RawMessage `json:"max_reauctions"`
		} `json:"params"`
	}
	m.c.MustQuery(&p, "inference", "params")
	bps, err1 := strconv.ParseInt(unquote(p.Params.DeadlineSlashBps), 10, 64)
	re, err2 := strconv.ParseInt(unquote(p.Params.MaxReauctions), 10, 64)
	if err1 != nil || err2 != nil || bps <= 0 {
		t.Fatalf("inference params: deadline_slash_bps %s, max_reauctions %s", p.Params.DeadlineSlashBps, p.Params.MaxReauctions)
	}
	return infParams{slashBps: bps, maxReauctions: re}
}

func bankBalance(t *testing.T, m *market, addr string) sdkmath.Int {
	t.Helper()
	var b struct {
		Balance coinJSON `json:"balance"`
	}
	m.c.MustQuery(&b, "bank", "balance", addr, "uopen")
	v, ok := sdkmath.NewIntFromString(b.Balance.Amount)
	if !ok {
		t.Fatalf("balance of %s: %+v", addr, b.Balance)
	}
	return v
}
