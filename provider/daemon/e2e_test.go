package daemon_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/openledger/openledger/provider/config"
	"github.com/openledger/openledger/provider/daemon"
	"github.com/openledger/openledger/provider/internal/chaintest"
	"github.com/openledger/openledger/provider/receipts"
	"github.com/openledger/openledger/provider/store"
	"github.com/openledger/openledger/testutil/e2e"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// fakeExecutor stands in for provider/executor at the process boundary: it
// derives a deterministic output from the job, and puts the output and an
// attribution record (crediting the deployment's dataset version pool) on the
// daemon's real IPFS node.
type fakeExecutor struct {
	env       daemon.ExecEnv
	datanetID uint64
	calls     *atomic.Int64
}

func (f *fakeExecutor) Execute(ctx context.Context, job receipts.Job) (receipts.Result, error) {
	f.calls.Add(1)
	out := []byte(fmt.Sprintf("output of job %d (model %d v%d, seed %d): patience is a virtue.", job.ID, job.ModelID, job.ModelVersion, job.Params.Seed))
	rec := []byte(fmt.Sprintf("attribution record of job %d: pool (%d, 1) 100%%", job.ID, f.datanetID))
	o, err := f.env.IPFS.AddFile(ctx, bytes.NewReader(out), fmt.Sprintf("job %d output", job.ID))
	if err != nil {
		return receipts.Result{}, err
	}
	r, err := f.env.IPFS.AddFile(ctx, bytes.NewReader(rec), fmt.Sprintf("job %d record", job.ID))
	if err != nil {
		return receipts.Result{}, err
	}
	recSum := sha256.Sum256(rec)
	return receipts.Result{
		OutputCID: o.Root.String(), OutputSHA256: sha256.Sum256(out), Output: out,
		PromptTokens: 12, CompletionTokens: 34, EngineName: config.EngineBuiltin, EngineVersion: "test",
		RecordCID: r.Root.String(),
		Summary: rewardstypes.AttributionSummary{
			RecordSha256: hex.EncodeToString(recSum[:]),
			Pools:        []rewardstypes.PoolWeight{{DatanetId: f.datanetID, Version: 1, Ppm: 1_000_000}},
		},
	}, nil
}

// market is a chain with a deployment and funded provider and requester keys.
type market struct {
	c         *e2e.Chain
	dep       string
	datanetID uint64
	dir       string
	erin      string
	frank     string
}

func content(t *testing.T, s string) (string, string) {
	t.Helper()
	sum := sha256.Sum256([]byte(s))
	hash, err := mh.Encode(sum[:], mh.SHA2_256)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(sum[:]), cid.NewCidV1(cid.Raw, hash).String()
}

func setGenesis(t *testing.T, app map[string]any, value any, path ...string) {
	t.Helper()
	m := app
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			t.Fatalf("genesis: no object at %s", k)
		}
		m = next
	}
	m[path[len(path)-1]] = value
}

func newMarket(t *testing.T, genesis ...func(app map[string]any)) *market {
	t.Helper()
	c := e2e.StartChainWithGenesis(t, func(app map[string]any) {
		setGenesis(t, app, "4", "inference", "params", "challenge_window_blocks")
		for _, edit := range genesis {
			edit(app)
		}
	})
	if _, err := c.Run("ipfs", "init", "--loopback", "--dht", "none"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"dave", "erin", "frank", "gina"} {
		if _, err := c.Run("keys", "add", k, "--keyring-backend", "test", "--output", "json"); err != nil {
			t.Fatal(err)
		}
	}
	alice := c.Address("alice")
	c.MustTx("alice", "bank", "multi-send", "alice", c.Address("dave"), c.Address("erin"), c.Address("frank"), c.Address("gina"), "50000000uopen")
	res := c.MustTx("alice", "datanet", "create", "Proverbs", "CC-BY-4.0",
		"--curators", alice, "--quorum", "1", "--review-window", "500", "--deposit", "1000uopen", "--min-contributions", "1")
	dn := res.Attr("openledger.datanet.v1.EventDatanetCreated", "datanet_id")
	body := "Still waters run deep.\n"
	digest, id := content(t, body)
	res = c.MustTx("bob", "datanet", "submit", dn, id, digest, strconv.Itoa(len(body)), "1", "text/plain")
	contrib := res.Attr("openledger.datanet.v1.EventContributionSubmitted", "contribution_id")
	c.MustTx("alice", "datanet", "review", contrib, "approve")
	c.MustTx("alice", "datanet", "create-version", dn)
	res = c.MustTx("dave", "models", "create", "Proverb teller", "text-generation", "MIT")
	model := res.Attr("openledger.models.v1.EventModelCreated", "model_id")
	artSHA, artCID := content(t, "checkpoint bytes")
	manSHA, manCID := content(t, `{"manifest":"proverb teller"}`)
	c.MustTx("dave", "models", "publish", model, "pretrain", artCID, artSHA, "16", manCID, manSHA, "openledger-ml", "v1",
		"--dataset-versions", `{"datanet_id":"`+dn+`","version":"1"}`)
	res = c.MustTx("dave", "models", "deploy", model, "1", "100uopen", "3000", "7000")
	dep := res.Attr("openledger.models.v1.EventDeploymentCreated", "deployment_id")
	dnID, _ := strconv.ParseUint(dn, 10, 64)
	return &market{c: c, dep: dep, datanetID: dnID, dir: t.TempDir(), erin: c.Address("erin"), frank: c.Address("frank")}
}

// providerConfig writes a provider's config (loopback only) and its IPFS repo.
func (m *market) providerConfig(t *testing.T, name, price string) string {
	t.Helper()
	cfg := config.Default()
	cfg.Chain.ID = e2e.ChainID
	cfg.Chain.RPC = chaintest.RPCAddr(m.c)
	cfg.Chain.GRPC = chaintest.GRPCAddr(t, m.c)
	cfg.Chain.InclusionTimeout = config.Duration(20 * time.Second)
	cfg.Key = config.Key{Name: name, KeyringBackend: "test", KeyringDir: m.c.Home}
	cfg.P2P.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.Gas.Price = chaintest.GasPrice
	cfg.Bid.RegisterOnStart = true
	cfg.Bid.Moniker = name
	dep, _ := strconv.ParseUint(m.dep, 10, 64)
	cfg.Price.Deployments = []config.DeploymentPrice{{DeploymentID: dep, BasePrice: price}}
	return writeProviderConfig(t, filepath.Join(m.dir, name), cfg)
}

// writeProviderConfig writes cfg as dir's provider config, creates its IPFS
// repo and returns the config's path.
func writeProviderConfig(t *testing.T, dir string, cfg config.Config) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, config.FileName)
	if err := cfg.Write(path); err != nil {
		t.Fatal(err)
	}
	if err := daemon.EnsureIPFSRepo(config.Resolve(path, cfg.IPFS.RepoPath), true); err != nil {
		t.Fatal(err)
	}
	return path
}

// running is an in-process daemon.
type running struct {
	info   daemon.Info
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
		case <-time.After(30 * time.Second):
			t.Fatal("daemon did not stop within 30 s")
		}
	})
	if r.err != nil {
		t.Fatalf("daemon: %v", r.err)
	}
}

func startDaemon(t *testing.T, m *market, path string, calls *atomic.Int64, hooks func(cancel context.CancelFunc) daemon.Hooks) *running {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.OpenFile(filepath.Join(filepath.Dir(path), "daemon.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		logf.Close()
		if t.Failed() {
			t.Logf("%s log:\n%s", path, tail(filepath.Join(filepath.Dir(path), "daemon.log")))
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	deps := daemon.Deps{
		ConfigPath: path, Logger: slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Listen: "127.0.0.1:0", BlockTime: 200 * time.Millisecond,
		FollowerPollInterval: 200 * time.Millisecond, ScanInterval: 200 * time.Millisecond,
		NewExecutor: func(_ context.Context, env daemon.ExecEnv) (receipts.Executor, error) {
			return &fakeExecutor{env: env, datanetID: m.datanetID, calls: calls}, nil
		},
	}
	if hooks != nil {
		deps.Hooks = hooks(cancel)
	}
	ready := make(chan daemon.Info, 1)
	deps.OnReady = func(i daemon.Info) { ready <- i }
	go func() { r.done <- daemon.Run(ctx, cfg, deps) }()
	select {
	case r.info = <-ready:
	case err := <-r.done:
		t.Fatalf("daemon %s did not start: %v\n%s", path, err, tail(filepath.Join(filepath.Dir(path), "daemon.log")))
	case <-time.After(60 * time.Second):
		t.Fatalf("daemon %s not ready in 60 s", path)
	}
	t.Cleanup(func() {
		r.cancel()
		r.once.Do(func() { r.err = <-r.done })
	})
	return r
}

func tail(path string) string {
	bz, _ := os.ReadFile(path)
	if len(bz) > 4000 {
		bz = bz[len(bz)-4000:]
	}
	return string(bz)
}

type jobJSON struct {
	Job struct {
		Status   string `json:"status"`
		Winner   string `json:"winner"`
		Auctions int    `json:"auctions"`
	} `json:"job"`
}

func (m *market) createJob(t *testing.T, bidWindow int) string {
	t.Helper()
	res := m.c.MustTx("gina", "inference", "create-job", m.dep, "--input-text", "Tell me a proverb about patience.",
		"--max-tokens", "1000", "--max-price", "500uopen", "--bid-window", strconv.Itoa(bidWindow),
		"--execution-blocks", "150", "--seed", "7")
	return res.Attr("openledger.inference.v1.EventJobCreated", "job_id")
}

func (m *market) waitStatus(t *testing.T, job, want string, timeout time.Duration) jobJSON {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var j jobJSON
	for {
		m.c.MustQuery(&j, "inference", "job", job)
		if j.Job.Status == want {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %s after %s, want %s", job, j.Job.Status, timeout, want)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func (m *market) stake(t *testing.T, addr string) string {
	t.Helper()
	var p struct {
		Provider struct {
			Stake struct {
				Amount string `json:"amount"`
			} `json:"stake"`
			Status string `json:"status"`
		} `json:"provider"`
	}
	m.c.MustQuery(&p, "inference", "provider", addr)
	return p.Provider.Stake.Amount + " " + p.Provider.Status
}

func jobState(t *testing.T, path string, id string) store.Job {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(config.Resolve(path, cfg.DataDir), nil, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, _ := strconv.ParseUint(id, 10, 64)
	j, err := st.Job(n)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// TestTwoProvidersAuction: two in-process daemons (each with its own store,
// identity and IPFS repo) register themselves and their offers on start; a
// requester posts a job through the CLI; both bid automatically, the cheaper
// (frank) wins, executes, posts its receipt by itself, and the job finalises.
func TestTwoProvidersAuction(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts a chain")
	}
	start := time.Now()
	m := newMarket(t)
	var erinCalls, frankCalls atomic.Int64
	erinPath := m.providerConfig(t, "erin", "300uopen")
	frankPath := m.providerConfig(t, "frank", "200uopen")
	erin := startDaemon(t, m, erinPath, &erinCalls, nil)
	frank := startDaemon(t, m, frankPath, &frankCalls, nil)
	if frank.info.Operator != m.frank || !strings.HasPrefix(frank.info.PeerID, "12D3Koo") {
		t.Fatalf("frank's daemon: %+v", frank.info)
	}
	t.Logf("setup and two daemons up in %s", time.Since(start).Round(time.Second))

	job := m.createJob(t, 15)
	j := m.waitStatus(t, job, "JOB_STATUS_FINALIZED", 60*time.Second)
	if j.Job.Winner != m.frank || j.Job.Auctions != 1 {
		t.Fatalf("finalised job: %+v, want won by frank in one auction", j.Job)
	}
	if n := frankCalls.Load(); n != 1 {
		t.Fatalf("frank executed %d times", n)
	}
	if n := erinCalls.Load(); n != 0 {
		t.Fatalf("erin executed %d times", n)
	}

	// The status endpoint and the metrics.
	s, err := daemon.ReadStatus(context.Background(), filepath.Join(filepath.Dir(frankPath), "data"))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Running || !s.Registered || s.ProviderStatus != "ACTIVE" || len(s.Offers) != 1 || s.Jobs[store.StateIncluded] != 1 || s.ChainHeight == 0 {
		t.Fatalf("frank's status: %+v", s)
	}
	res, err := http.Get(frank.info.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`openledger_provider_jobs{state="included"} 1`, "openledger_provider_receipts_included_total 1", "openledger_provider_bids_sent 1"} {
		if !strings.Contains(string(metrics), want) {
			t.Fatalf("metrics lack %q:\n%s", want, metrics)
		}
	}
	// `provider status` through the real binary, from the daemon's endpoint.
	out, err := m.c.Run("provider", "status", "--config", frankPath)
	if err != nil || !strings.Contains(out, "registered:    yes, ACTIVE") || !strings.Contains(out, "included 1") {
		t.Fatalf("provider status: %v\n%s", err, out)
	}
	t.Logf("provider status:\n%s", out)

	erin.stop(t)
	frank.stop(t)
	if st := jobState(t, erinPath, job); st.State != store.StateGivenUp || !strings.Contains(st.Reason, "lost the auction") {
		t.Fatalf("erin's job: %+v", st)
	}
	if st := jobState(t, frankPath, job); st.State != store.StateIncluded {
		t.Fatalf("frank's job: %+v", st)
	}
	// Offline status: from the store and the chain.
	out, err = m.c.Run("provider", "status", "--config", frankPath)
	if err != nil || !strings.Contains(out, "not running") || !strings.Contains(out, "included 1") {
		t.Fatalf("offline provider status: %v\n%s", err, out)
	}
	t.Logf("done in %s", time.Since(start).Round(time.Second))
}

// errCrash stops the daemon as a crash would.
var errCrash = fmt.Errorf("simulated crash")

// TestCrashAtEachStep kills (cancels) the winner's daemon at each step boundary
// of a job — after its bid is persisted (before it is sent), after the output is
// stored, after the receipt is built, after the receipt is sent — and restarts
// it: each job finalises once, won by the winner, with exactly one receipt tx
// and no slash.
func TestCrashAtEachStep(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts a chain")
	}
	start := time.Now()
	m := newMarket(t)
	var erinCalls, frankCalls atomic.Int64
	erinPath := m.providerConfig(t, "erin", "300uopen")
	frankPath := m.providerConfig(t, "frank", "200uopen")
	startDaemon(t, m, erinPath, &erinCalls, nil)
	frank := startDaemon(t, m, frankPath, &frankCalls, nil)
	stakeBefore := m.stake(t, m.frank)
	frank.stop(t)

	var receiptSubmits sync.Map // job id → *atomic.Int64
	count := func(note string) {
		if id, ok := strings.CutPrefix(note, receipts.NotePrefix); ok {
			v, _ := receiptSubmits.LoadOrStore(id, new(atomic.Int64))
			v.(*atomic.Int64).Add(1)
		}
	}
	boundaries := []struct {
		name string
		bid  bool
		at   store.State
	}{
		{name: "after bid persisted", bid: true},
		{name: "after output stored", at: store.StateOutputStored},
		{name: "after receipt built", at: store.StateReceiptBuilt},
		{name: "after receipt sent", at: store.StateReceiptSent},
	}
	for _, b := range boundaries {
		var crashed atomic.Bool
		hooks := func(cancel context.CancelFunc) daemon.Hooks {
			return daemon.Hooks{
				BeforeSubmit: func(note string) error {
					if b.bid && strings.HasPrefix(note, "bid job ") && crashed.CompareAndSwap(false, true) {
						cancel()
						return errCrash
					}
					count(note)
					return nil
				},
				AfterStep: func(_ uint64, s store.State) error {
					if !b.bid && s == b.at && crashed.CompareAndSwap(false, true) {
						cancel()
						return errCrash
					}
					return nil
				},
			}
		}
		d := startDaemon(t, m, frankPath, &frankCalls, hooks)
		job := m.createJob(t, 25)
		deadline := time.Now().Add(40 * time.Second)
		for !crashed.Load() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the crash point was never reached\n%s", b.name, tail(filepath.Join(filepath.Dir(frankPath), "daemon.log")))
			}
			time.Sleep(50 * time.Millisecond)
		}
		d.stop(t)
		st := jobState(t, frankPath, job)
		t.Logf("%s: job %s stopped in state %s", b.name, job, st.State)
		d = startDaemon(t, m, frankPath, &frankCalls, func(context.CancelFunc) daemon.Hooks {
			return daemon.Hooks{BeforeSubmit: func(note string) error { count(note); return nil }}
		})
		j := m.waitStatus(t, job, "JOB_STATUS_FINALIZED", 60*time.Second)
		if j.Job.Winner != m.frank || j.Job.Auctions != 1 {
			t.Fatalf("%s: finalised job %+v, want won by frank in one auction", b.name, j.Job)
		}
		deadline = time.Now().Add(20 * time.Second)
		for jobStateLive(t, d, job) != store.StateIncluded {
			if time.Now().After(deadline) {
				t.Fatalf("%s: frank's job not included in its store", b.name)
			}
			time.Sleep(200 * time.Millisecond)
		}
		d.stop(t)
		v, _ := receiptSubmits.Load(job)
		if v == nil || v.(*atomic.Int64).Load() != 1 {
			t.Fatalf("%s: %v receipt submissions for job %s, want exactly 1", b.name, v, job)
		}
		if got := m.stake(t, m.frank); got != stakeBefore {
			t.Fatalf("%s: frank's stake %s, was %s", b.name, got, stakeBefore)
		}
		t.Logf("%s: job %s finalised once (%s)", b.name, job, time.Since(start).Round(time.Second))
	}
	if n := erinCalls.Load(); n != 0 {
		t.Fatalf("erin executed %d times", n)
	}
}

// jobStateLive reads a job's state from a running daemon's status endpoint.
func jobStateLive(t *testing.T, d *running, job string) store.State {
	t.Helper()
	res, err := http.Get(d.info.URL + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var s daemon.Status
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	if s.Jobs[store.StateIncluded] > 0 && s.Jobs[store.StateReceiptSent]+s.Jobs[store.StateReceiptBuilt]+s.Jobs[store.StateOutputStored]+
		s.Jobs[store.StateExecuting]+s.Jobs[store.StateAwarded]+s.Jobs[store.StateBid] == 0 {
		return store.StateIncluded
	}
	return ""
}
