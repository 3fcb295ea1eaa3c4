package daemon_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/boxo/files"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/train"
	"github.com/openledger/openledger/p2p"
	"github.com/openledger/openledger/provider/chainclient"
	"github.com/openledger/openledger/provider/config"
	"github.com/openledger/openledger/provider/internal/chaintest"
	"github.com/openledger/openledger/provider/internal/cheat"
	"github.com/openledger/openledger/storage"
	storageapi "github.com/openledger/openledger/storage/api"
	"github.com/openledger/openledger/testutil/e2e"
	"github.com/openledger/openledger/x/inference/types"
)

// The verification e2e's market: a real chain, a tiny model of the built-in
// engine deployed three times (one deployment per provider, each provider the
// cheapest on its own and offering on all three, so that each is eligible for
// the others' committees), three real `openledgerd provider start` processes
// (erin, frank, grace) and the requester's own `openledgerd ipfs daemon`, the
// four IPFS nodes peered on loopback (no DHT). Jobs are posted by gina.

const (
	cheatStake  = 10_000_000 // uopen each provider bonds on start
	cheapPrice  = 20_000     // uopen per 1000 tokens, on the provider's own deployment
	dearPrice   = 90_000     // on the others'
	cheatBond   = "100000uopen"
	fraudBps    = 1_000 // fraud_slash_bps of these runs: 10 % of the stake
	cheatWindow = "60"  // challenge_window_blocks
)

var cheatProviders = []string{"erin", "frank", "grace"}

type cheatRig struct {
	c        *e2e.Chain
	q        *chainclient.Client // read-only queries
	dir      string
	dep      map[string]string // provider → its deployment
	paths    map[string]string // provider → provider.toml
	procs    map[string]*proc
	runs     int
	inputCID string
	inputSHA string
	contrib  string // erin's contribution in the dataset version
	addr     map[string]string
}

// newCheatRig starts the chain (auditBps: the audit_bps param), the
// requester's IPFS daemon and the three providers; erin's daemon lies as
// cheatKind says ("" honest; see provider/internal/cheat).
func newCheatRig(t *testing.T, auditBps int, cheatKind string) *cheatRig {
	t.Helper()
	ctx := context.Background()
	c := e2e.StartChainWithGenesis(t, func(app map[string]any) {
		p := app["inference"].(map[string]any)["params"].(map[string]any)
		p["challenge_window_blocks"] = cheatWindow
		p["commit_blocks"], p["reveal_blocks"] = "30", "30"
		p["committee_size"], p["min_committee_size"] = json.Number("2"), json.Number("2")
		p["audit_bps"] = json.Number(strconv.Itoa(auditBps))
		p["fraud_slash_bps"] = json.Number(strconv.Itoa(fraudBps))
		p["jail_after_faults"] = json.Number("100") // a repeat offender's jailing is a keeper test
	})
	r := &cheatRig{c: c, dir: t.TempDir(), dep: map[string]string{}, paths: map[string]string{}, procs: map[string]*proc{},
		addr: map[string]string{}}
	if _, err := c.Run("ipfs", "init", "--loopback", "--dht", "none"); err != nil {
		t.Fatal(err)
	}
	for _, k := range append([]string{"dave", "gina"}, cheatProviders...) {
		if _, err := c.Run("keys", "add", k, "--keyring-backend", "test", "--output", "json"); err != nil {
			t.Fatal(err)
		}
		r.addr[k] = c.Address(k)
	}
	r.q = chaintest.Client(t, c, "alice", nil)
	alice := c.Address("alice")
	c.MustTx("alice", "bank", "multi-send", "alice", r.addr["dave"], r.addr["gina"], r.addr["erin"], r.addr["frank"], r.addr["grace"], "50000000uopen")

	// A datanet version holding a contribution of erin's (the attribution lie
	// credits it).
	res := c.MustTx("alice", "datanet", "create", "Fortunes", "CC-BY-4.0", "--curators", alice, "--quorum", "1",
		"--review-window", "500", "--deposit", "1000uopen", "--min-contributions", "1")
	dn := res.Attr("openledger.datanet.v1.EventDatanetCreated", "datanet_id")
	body := "Fortune favours the prepared mind.\n"
	digest, id := content(t, body)
	res = c.MustTx("erin", "datanet", "submit", dn, id, digest, strconv.Itoa(len(body)), "1", "text/plain")
	r.contrib = res.Attr("openledger.datanet.v1.EventContributionSubmitted", "contribution_id")
	c.MustTx("alice", "datanet", "review", r.contrib, "approve")
	c.MustTx("alice", "datanet", "create-version", dn)

	// The tiny model and the prompt, added to the requester's IPFS repo.
	artifact := trainTiny(t)
	a, closeRepo, err := storageapi.Open(ctx, storage.RepoPath(c.Home))
	if err != nil {
		t.Fatal(err)
	}
	add := func(b []byte, reason string) storage.AddResult {
		res, err := a.Add(ctx, files.NewBytesFile(b), storage.AddOptions{PinReason: reason, SHA256: true})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	art := add(artifact, "tiny model")
	prompt := []byte("Patience is\n")
	in := add(prompt, "job input")
	if err := closeRepo(); err != nil {
		t.Fatal(err)
	}
	artSum, inSum := sha256.Sum256(artifact), sha256.Sum256(prompt)
	r.inputCID, r.inputSHA = in.RootStr, hex.EncodeToString(inSum[:])
	res = c.MustTx("dave", "models", "create", "Tiny fortunes", "text-generation", "MIT")
	mdl := res.Attr("openledger.models.v1.EventModelCreated", "model_id")
	manSHA, manCID := content(t, `{"manifest":"tiny fortunes"}`)
	c.MustTx("dave", "models", "publish", mdl, "pretrain", art.RootStr, hex.EncodeToString(artSum[:]), strconv.Itoa(len(artifact)),
		manCID, manSHA, checkpoint.EngineName, checkpoint.EngineVersion, "--dataset-versions", `{"datanet_id":"`+dn+`","version":"1"}`)
	for _, name := range cheatProviders {
		res = c.MustTx("dave", "models", "deploy", mdl, "1", "100uopen", "3000", "7000")
		r.dep[name] = res.Attr("openledger.models.v1.EventDeploymentCreated", "deployment_id")
	}

	// Provider configs and IPFS repos; then the four IPFS nodes are peered.
	for _, name := range cheatProviders {
		r.paths[name] = r.providerConfig(t, name)
	}
	repos := []string{storage.RepoPath(c.Home)}
	for _, name := range cheatProviders {
		repos = append(repos, filepath.Join(filepath.Dir(r.paths[name]), "ipfs"))
	}
	peerRepos(t, repos)

	r.startRequesterIPFS(t)
	for _, name := range cheatProviders {
		kind := ""
		if name == "erin" {
			kind = cheatKind
		}
		r.start(t, name, kind)
	}
	return r
}

// trainTiny trains the tiny model the built-in engine runs in milliseconds.
func trainTiny(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	h := train.DefaultHyper()
	h.Steps, h.BatchSize, h.SeqLen, h.WarmupSteps, h.EvalWindows = 10, 2, 32, 2, 2
	spec := train.Spec{
		Inputs:    []train.Input{{Path: filepath.Join("..", "..", "ml", "testdata", "corpus", "fortunes.txt")}},
		Tokenizer: train.TokenizerSpec{Kind: "bpe", VocabSize: 300},
		Model:     model.Config{ContextLen: 128, DModel: 32, NLayers: 1, NHeads: 2, DFF: 64, Positions: model.PositionsLearned, LNEps: 1e-5},
		Hyper:     h, Seed: 42,
	}
	if _, err := train.Run(context.Background(), spec, train.Options{OutDir: dir, Workers: 2}); err != nil {
		t.Fatalf("training the tiny model: %v", err)
	}
	artifact, err := os.ReadFile(filepath.Join(dir, train.ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	return artifact
}

// providerConfig writes a provider's config: cheapest on its own deployment,
// offering on the others too (a committee member needs an offer).
func (r *cheatRig) providerConfig(t *testing.T, name string) string {
	t.Helper()
	cfg := config.Default()
	cfg.Chain.ID = e2e.ChainID
	cfg.Chain.RPC = chaintest.RPCAddr(r.c)
	cfg.Chain.GRPC = chaintest.GRPCAddr(t, r.c)
	cfg.Chain.InclusionTimeout = config.Duration(20 * time.Second)
	cfg.Key = config.Key{Name: name, KeyringBackend: "test", KeyringDir: r.c.Home}
	cfg.P2P.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.Gas.Price = chaintest.GasPrice
	cfg.Bid.RegisterOnStart = true
	cfg.Bid.Moniker = name
	cfg.Bid.Stake = fmt.Sprintf("%duopen", cheatStake)
	// The OpenAI API and its sessions (cheat_session_e2e_test.go), on loopback.
	cfg.API.Enabled, cfg.API.Listen = true, "127.0.0.1:0"
	for _, owner := range cheatProviders {
		dep, _ := strconv.ParseUint(r.dep[owner], 10, 64)
		price := dearPrice
		if owner == name {
			price = cheapPrice
		}
		cfg.Price.Deployments = append(cfg.Price.Deployments, config.DeploymentPrice{DeploymentID: dep, BasePrice: fmt.Sprintf("%duopen", price)})
	}
	return writeProviderConfig(t, filepath.Join(r.dir, name), cfg)
}

// peerRepos gives each IPFS repo a fixed loopback swarm port and the others
// as bootstrap peers (dialled at start and kept connected): with no DHT,
// bitswap finds blocks at connected peers.
func peerRepos(t *testing.T, repos []string) {
	t.Helper()
	addrs := make([]string, len(repos))
	for i, repo := range repos {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		key, err := p2p.LoadOrCreateIdentity(filepath.Join(repo, storage.IdentityFile))
		if err != nil {
			t.Fatal(err)
		}
		id, err := p2p.PeerIDFromKey(key)
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", port, id)
	}
	for i, repo := range repos {
		path := filepath.Join(repo, storage.ConfigFile)
		cfg, err := storage.LoadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Addresses.Swarm = []string{strings.Split(addrs[i], "/p2p/")[0]}
		cfg.Bootstrap = nil
		for j, a := range addrs {
			if j != i {
				cfg.Bootstrap = append(cfg.Bootstrap, a)
			}
		}
		raw, err := cfg.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// startRequesterIPFS runs `openledgerd ipfs daemon` on the chain home's repo:
// `verify receipt` and the providers reach the prompt and the model through it.
func (r *cheatRig) startRequesterIPFS(t *testing.T) {
	t.Helper()
	cmd := exec.Command(r.c.Bin, "ipfs", "daemon", "--home", r.c.Home)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(r.dir, "requester-ipfs.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "daemon is ready" {
				close(ready)
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		logf.Close()
	})
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		t.Fatalf("the requester's ipfs daemon was not ready in 60 s\n%s", tail(logf.Name()))
	}
}

// start runs `openledgerd provider start` for a provider, its cheat armed as
// kind says ("" disarmed), and waits until it is running.
func (r *cheatRig) start(t *testing.T, name, kind string) {
	t.Helper()
	r.runs++
	r.procs[name] = runProvider(t, providerRun{
		bin: r.c.Bin, config: r.paths[name], run: r.runs, envKey: cheat.Env, envVal: kind, wait: 90 * time.Second, gentle: true,
		label: fmt.Sprintf("%s's provider (cheat %q)", name, kind),
	})
}

// restart stops a provider (SIGTERM, clean exit) and starts it with kind.
func (r *cheatRig) restart(t *testing.T, name, kind string) {
	t.Helper()
	r.procs[name].stop(t)
	r.start(t, name, kind)
}

// post posts a job on a provider's deployment (that provider bids cheapest).
func (r *cheatRig) post(t *testing.T, provider string, seed int) string {
	t.Helper()
	res := r.c.MustTx("gina", "inference", "create-job", r.dep[provider], "--input-cid", r.inputCID, "--input-sha256", r.inputSHA,
		"--max-tokens", "200", "--max-price", fmt.Sprintf("%duopen", dearPrice), "--bid-window", "10",
		"--execution-blocks", "150", "--seed", strconv.Itoa(seed))
	return res.Attr("openledger.inference.v1.EventJobCreated", "job_id")
}

// receipted waits until the job's receipt is on chain and checks who won it.
func (r *cheatRig) receipted(t *testing.T, job, provider string) {
	t.Helper()
	j := r.waitJob(t, job, 90*time.Second, types.JOB_STATUS_PENDING, types.JOB_STATUS_FINALIZED, types.JOB_STATUS_CHALLENGED)
	if j.Winner != r.addr[provider] {
		t.Fatalf("job %s won by %s, want %s (%s)", job, j.Winner, provider, r.addr[provider])
	}
}

func (r *cheatRig) jobOf(t *testing.T, job string) types.Job {
	t.Helper()
	id, err := strconv.ParseUint(job, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.q.Inference().Job(context.Background(), &types.QueryJobRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	return res.Job
}

func (r *cheatRig) waitJob(t *testing.T, job string, timeout time.Duration, want ...types.JobStatus) types.Job {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		j := r.jobOf(t, job)
		if slices.Contains(want, j.Status) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %s after %s, want one of %v", job, j.Status, timeout, want)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// verify runs `openledgerd verify receipt JOB` (the real binary, through the
// requester's IPFS daemon) and returns its output and whether it exited 0.
func (r *cheatRig) verify(t *testing.T, job string) (string, bool) {
	t.Helper()
	out, err := exec.Command(r.c.Bin, "verify", "receipt", job, "--home", r.c.Home, "--node", chaintest.RPCAddr(r.c)).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("verify receipt %s: %v\n%s", job, err, out)
	}
	return string(out), err == nil
}

// dispute waits until the job's receipt has a resolved dispute.
func (r *cheatRig) dispute(t *testing.T, job string) types.Dispute {
	t.Helper()
	id, _ := strconv.ParseUint(job, 10, 64)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		res, err := r.q.Inference().DisputeByTarget(context.Background(), &types.QueryDisputeByTargetRequest{
			TargetKind: types.TARGET_KIND_JOB_RECEIPT, TargetId: id})
		if err == nil && res.Dispute.Status == types.DISPUTE_STATUS_RESOLVED {
			return res.Dispute
		}
		if err != nil && status.Code(err) != codes.NotFound {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dispute of job %s's receipt was not resolved in 3 minutes (%v)", job, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
