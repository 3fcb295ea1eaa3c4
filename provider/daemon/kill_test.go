package daemon_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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

	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/train"
	"github.com/openledger/openledger/provider/config"
	"github.com/openledger/openledger/provider/daemon"
	"github.com/openledger/openledger/provider/internal/failpoint"
	"github.com/openledger/openledger/provider/store"
	"github.com/openledger/openledger/storage"
	storageapi "github.com/openledger/openledger/storage/api"
)

// killPoints are the commit points TestKillAtEachStep kills the daemon at, in
// the order a job goes through them: every step boundary of the provider's
// side of a job (provider/internal/failpoint).
var killPoints = []string{
	"bid.persisted",
	"bid.sent",
	"bid.awarded",
	"receipts.executing",
	"receipts.output_stored",
	"receipts.receipt_built",
	"receipts.receipt_sent",
	"receipts.included",
}

// killedIn is the state the job is in, in the killed daemon's store, at each
// point: the step was committed before the process died.
var killedIn = map[string]store.State{
	"bid.persisted":          store.StateBid,
	"bid.sent":               store.StateBid,
	"bid.awarded":            store.StateAwarded,
	"receipts.executing":     store.StateExecuting,
	"receipts.output_stored": store.StateOutputStored,
	"receipts.receipt_built": store.StateReceiptBuilt,
	"receipts.receipt_sent":  store.StateReceiptSent,
	"receipts.included":      store.StateIncluded,
}

// TestKillAtEachStep runs the real `openledgerd provider start` (the built-in
// engine on a tiny model trained here) as a child process with the failpoint
// armed, so that it SIGKILLs itself right after a step of a job is committed;
// then restarts it without. At every point the job finalises won by the
// provider in one auction, exactly one bid and one receipt tx of the provider
// for it are in blocks, and its stake is unchanged.
func TestKillAtEachStep(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts a chain and the provider daemon")
	}
	start := time.Now()
	m := newMarket(t)
	k := newKillRig(t, m)
	t.Logf("chain, tiny model, deployment %s and provider config in %s", m.dep, time.Since(start).Round(time.Second))
	for _, point := range killPoints {
		t.Run(point, func(t *testing.T) {
			t0 := time.Now()
			k.killAt(t, point)
			t.Logf("%s: done in %s", point, time.Since(t0).Round(100*time.Millisecond))
		})
	}
	t.Logf("%d kill points in %s", len(killPoints), time.Since(start).Round(time.Second))
}

// killRig is a deployment of a real (tiny) model, frank's provider config
// offering it, and the prompt, all in the provider's IPFS repo.
type killRig struct {
	m        *market
	path     string // frank's provider.toml
	inputCID string
	inputSHA string
	runs     int
}

func newKillRig(t *testing.T, m *market) *killRig {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()

	// A tiny model the built-in engine runs in milliseconds.
	h := train.DefaultHyper()
	h.Steps, h.BatchSize, h.SeqLen, h.WarmupSteps, h.EvalWindows = 10, 2, 32, 2, 2
	spec := train.Spec{
		Inputs:    []train.Input{{Path: filepath.Join("..", "..", "ml", "testdata", "corpus", "fortunes.txt")}},
		Tokenizer: train.TokenizerSpec{Kind: "bpe", VocabSize: 300},
		Model:     model.Config{ContextLen: 128, DModel: 32, NLayers: 1, NHeads: 2, DFF: 64, Positions: model.PositionsLearned, LNEps: 1e-5},
		Hyper:     h, Seed: 42,
	}
	if _, err := train.Run(ctx, spec, train.Options{OutDir: dir, Workers: 2}); err != nil {
		t.Fatalf("training the tiny model: %v", err)
	}
	artifact, err := os.ReadFile(filepath.Join(dir, train.ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	prompt := []byte("Patience is\n")

	// The deployment: a new model, its version with the real artifact.
	c := m.c
	res := c.MustTx("dave", "models", "create", "Tiny fortunes", "text-generation", "MIT")
	mdl := res.Attr("openledger.models.v1.EventModelCreated", "model_id")

	k := &killRig{m: m}
	// The provider's config and repo come first: the artifact and the prompt
	// are added to its IPFS repo, as if fetched earlier (the test has no other
	// IPFS node online). The config offers the new deployment below.
	k.path = m.providerConfig(t, "frank", "200uopen")
	cfg, err := config.Load(k.path)
	if err != nil {
		t.Fatal(err)
	}
	a, closeRepo, err := storageapi.Open(ctx, config.Resolve(k.path, cfg.IPFS.RepoPath))
	if err != nil {
		t.Fatal(err)
	}
	add := func(b []byte, reason string) storage.AddResult {
		r, err := a.Add(ctx, files.NewBytesFile(b), storage.AddOptions{PinReason: reason, SHA256: true})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	art := add(artifact, "tiny model")
	in := add(prompt, "job input")
	if err := closeRepo(); err != nil {
		t.Fatal(err)
	}
	artSum := sha256.Sum256(artifact)
	if art.SHA256 != "" && art.SHA256 != hex.EncodeToString(artSum[:]) {
		t.Fatalf("artifact sha256 %s, want %x", art.SHA256, artSum)
	}
	inSum := sha256.Sum256(prompt)
	k.inputCID, k.inputSHA = in.RootStr, hex.EncodeToString(inSum[:])

	manSHA, manCID := content(t, `{"manifest":"tiny fortunes"}`)
	c.MustTx("dave", "models", "publish", mdl, "pretrain", art.RootStr, hex.EncodeToString(artSum[:]), strconv.Itoa(len(artifact)),
		manCID, manSHA, checkpoint.EngineName, checkpoint.EngineVersion,
		"--dataset-versions", fmt.Sprintf(`{"datanet_id":"%d","version":"1"}`, m.datanetID))
	res = c.MustTx("dave", "models", "deploy", mdl, "1", "100uopen", "3000", "7000")
	m.dep = res.Attr("openledger.models.v1.EventDeploymentCreated", "deployment_id")
	dep, err := strconv.ParseUint(m.dep, 10, 64)
	if err != nil {
		t.Fatalf("deployment id %q: %v", m.dep, err)
	}
	cfg.Price.Deployments = []config.DeploymentPrice{{DeploymentID: dep, BasePrice: "200uopen"}}
	if err := cfg.Write(k.path); err != nil {
		t.Fatal(err)
	}
	return k
}

// proc is a running `openledgerd provider start`.
type proc struct {
	cmd    *exec.Cmd
	done   chan struct{}
	err    error // cmd.Wait's, once done is closed
	stdout string
	log    string
}

// startProvider runs `openledgerd provider start` with the failpoint armed at
// point ("" disarms it) and waits until it says it is running.
func (k *killRig) startProvider(t *testing.T, point string) *proc {
	t.Helper()
	k.runs++
	return runProvider(t, providerRun{
		bin: k.m.c.Bin, config: k.path, run: k.runs, envKey: failpoint.Env, envVal: point, wait: 60 * time.Second,
		label: fmt.Sprintf("provider run %d (failpoint %q)", k.runs, point),
	})
}

// providerRun says how runProvider starts a daemon.
type providerRun struct {
	bin, config    string
	run            int    // numbers runN.out and runN.log beside the config
	envKey, envVal string // an environment variable to set (envVal "": unset)
	wait           time.Duration
	gentle         bool   // cleanup sends SIGTERM first (20 s) rather than SIGKILL
	label          string // names the daemon in failures
}

// runProvider starts `openledgerd provider start` as r says, its stdout and
// log in files beside the config, and waits until it says it is running. At
// cleanup a daemon still running is stopped, and a failed test logs the tail
// of its log.
func runProvider(t *testing.T, r providerRun) *proc {
	t.Helper()
	dir := filepath.Dir(r.config)
	p := &proc{
		done:   make(chan struct{}),
		stdout: filepath.Join(dir, fmt.Sprintf("run%d.out", r.run)),
		log:    filepath.Join(dir, fmt.Sprintf("run%d.log", r.run)),
	}
	out, err := os.Create(p.stdout)
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(r.bin, "provider", "start", "--config", r.config, "--listen", "127.0.0.1:0", "--log-level", "debug")
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, r.envKey+"=") })
	if r.envVal != "" {
		env = append(env, r.envKey+"="+r.envVal)
	}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = out, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		out.Close()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			if r.gentle {
				_ = p.cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-p.done:
				case <-time.After(20 * time.Second):
				}
			}
			select {
			case <-p.done:
			default:
				_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
				<-p.done
			}
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", r.label, tail(p.log))
		}
	})
	deadline := time.After(r.wait)
	for {
		bz, _ := os.ReadFile(p.stdout)
		if strings.Contains(string(bz), "provider is running\n") {
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before it was running: %v\n%s", r.label, p.err, tail(p.log))
		case <-deadline:
			t.Fatalf("%s not running in %s\n%s", r.label, r.wait, tail(p.log))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitKilled waits for the process to die of SIGKILL.
func (p *proc) waitKilled(t *testing.T, point string, timeout time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("the provider did not reach failpoint %s in %s (is %s built from this tree?)\n%s", point, timeout, p.cmd.Path, tail(p.log))
	}
	var ee *exec.ExitError
	if !errors.As(p.err, &ee) {
		t.Fatalf("failpoint %s: provider exited with %v, want killed by SIGKILL\n%s", point, p.err, tail(p.log))
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("failpoint %s: provider exited with %v, want killed by SIGKILL\n%s", point, p.err, tail(p.log))
	}
}

// stop stops the process with SIGTERM and checks it exits cleanly.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("provider did not stop within 30 s of SIGTERM\n%s", tail(p.log))
	}
	if p.err != nil {
		t.Fatalf("provider exited with %v after SIGTERM\n%s", p.err, tail(p.log))
	}
}

func (k *killRig) createJob(t *testing.T, bidWindow int) string {
	t.Helper()
	res := k.m.c.MustTx("gina", "inference", "create-job", k.m.dep, "--input-cid", k.inputCID, "--input-sha256", k.inputSHA,
		"--max-tokens", "48", "--max-price", "500uopen", "--bid-window", strconv.Itoa(bidWindow),
		"--execution-blocks", "150", "--seed", "7")
	return res.Attr("openledger.inference.v1.EventJobCreated", "job_id")
}

func (k *killRig) killAt(t *testing.T, point string) {
	m := k.m
	want, ok := killedIn[point]
	if !ok {
		t.Fatalf("no expected state for failpoint %s", point)
	}
	p := k.startProvider(t, point)
	stakeBefore := m.stake(t, m.frank)
	// The bid window leaves room to restart before the auction closes when the
	// kill comes before the bid is on chain.
	job := k.createJob(t, 30)
	p.waitKilled(t, point, 60*time.Second)
	st := jobState(t, k.path, job)
	if st.State != want {
		t.Fatalf("killed at %s: job %s is %s in the store, want %s", point, job, st.State, want)
	}
	switch point {
	case "bid.persisted":
		if st.BidTxHash != "" {
			t.Fatalf("killed at %s: the bid has tx hash %s already", point, st.BidTxHash)
		}
	case "bid.sent":
		if st.BidTxHash == "" {
			t.Fatalf("killed at %s: the bid has no tx hash", point)
		}
	}
	t.Logf("killed at %s by SIGKILL: job %s %s in the store", point, job, st.State)

	p = k.startProvider(t, "")
	j := m.waitStatus(t, job, "JOB_STATUS_FINALIZED", 90*time.Second)
	if j.Job.Winner != m.frank || j.Job.Auctions != 1 {
		t.Fatalf("killed at %s: finalised job %+v, want won by frank in one auction", point, j.Job)
	}
	dataDir := filepath.Join(filepath.Dir(k.path), "data")
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := daemon.ReadStatus(context.Background(), dataDir)
		if err == nil && s.Jobs[store.StateIncluded] > 0 && s.Receipts == 0 && s.PendingTxs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("killed at %s: the restarted daemon did not settle: %+v (%v)", point, s, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.stop(t)
	if st := jobState(t, k.path, job); st.State != store.StateIncluded {
		t.Fatalf("killed at %s: job %s is %s in the store after the restart, want included", point, job, st.State)
	}
	bids, receipts := k.providerTxs(t, job)
	if len(bids) != 1 || len(receipts) != 1 {
		t.Fatalf("killed at %s: frank's txs for job %s in blocks: bids %v, receipts %v; want exactly one of each", point, job, bids, receipts)
	}
	if got := m.stake(t, m.frank); got != stakeBefore {
		t.Fatalf("killed at %s: frank's stake %s, was %s", point, got, stakeBefore)
	}
	t.Logf("killed at %s: job %s finalised; in blocks one bid %s and one receipt %s; stake %s unchanged", point, job, bids[0], receipts[0], stakeBefore)
}

// providerTxs returns frank's txs in blocks (failed ones too: a tx pays its
// fee whatever its messages do) carrying a bid on, or a receipt of, the job:
// "hash (code N)".
func (k *killRig) providerTxs(t *testing.T, job string) (bids, receipts []string) {
	t.Helper()
	var out struct {
		Txs []struct {
			TxHash string `json:"txhash"`
			Code   int    `json:"code"`
			Tx     struct {
				Body struct {
					Messages []map[string]any `json:"messages"`
				} `json:"body"`
			} `json:"tx"`
		} `json:"txs"`
	}
	k.m.c.MustQuery(&out, "txs", "--query", fmt.Sprintf("tx.fee_payer='%s'", k.m.frank), "--limit", "100")
	if len(out.Txs) == 0 {
		t.Fatal("no tx paid by frank found: is the tx index on?")
	}
	for _, tx := range out.Txs {
		for _, msg := range tx.Tx.Body.Messages {
			if fmt.Sprint(msg["job_id"]) != job {
				continue
			}
			desc := fmt.Sprintf("%s (code %d)", tx.TxHash, tx.Code)
			switch msg["@type"] {
			case "/openledger.inference.v1.MsgBid":
				bids = append(bids, desc)
			case "/openledger.inference.v1.MsgSubmitReceipt":
				receipts = append(receipts, desc)
			}
		}
	}
	return bids, receipts
}
