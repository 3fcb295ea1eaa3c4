package receipts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/chainclient"
	"github.com/openledger/openledger/provider/store"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

const self = "open1self"

// fakeChain is the chain at the process boundary: it keeps the job, the
// receipt, a height, and the journal semantics of chainclient (Submit journals
// into the real store before "broadcasting").
type fakeChain struct {
	mu       sync.Mutex
	st       *store.Store
	height   int64
	jobs     map[uint64]inferencetypes.Job
	receipts map[uint64]inferencetypes.Receipt
	submits  []*inferencetypes.MsgSubmitReceipt
	// lose: a submitted tx never lands (dropped from the mempool).
	lose bool
	// failBroadcast: Submit journals then fails with an unknown outcome.
	failBroadcast bool
	seq           uint64
	txs           map[string]*inferencetypes.MsgSubmitReceipt
}

func newFakeChain(st *store.Store) *fakeChain {
	return &fakeChain{st: st, height: 100, jobs: map[uint64]inferencetypes.Job{}, receipts: map[uint64]inferencetypes.Receipt{},
		txs: map[string]*inferencetypes.MsgSubmitReceipt{}}
}

func (c *fakeChain) Address() string { return self }
func (c *fakeChain) LatestHeight(context.Context) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.height, nil
}
func (c *fakeChain) Job(_ context.Context, id uint64) (inferencetypes.Job, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	j, ok := c.jobs[id]
	if !ok {
		return j, fmt.Errorf("job %d not found", id)
	}
	return j, nil
}
func (c *fakeChain) Receipt(_ context.Context, id uint64) (inferencetypes.Receipt, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.receipts[id]
	return r, ok, nil
}
func (c *fakeChain) BlockTime(context.Context) (time.Duration, error) {
	return 50 * time.Millisecond, nil
}

func (c *fakeChain) Submit(_ context.Context, note string, msgs ...sdk.Msg) (chainclient.Submitted, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := msgs[0].(*inferencetypes.MsgSubmitReceipt)
	c.seq++
	body := []byte(fmt.Sprintf("tx %d %s", c.seq, note))
	hash := chainclient.TxHash(body)
	if err := c.st.SavePendingTx(hash, c.seq, body, note); err != nil {
		return chainclient.Submitted{}, err
	}
	c.submits = append(c.submits, m)
	c.txs[hash] = m
	if c.failBroadcast {
		return chainclient.Submitted{}, errors.New("broadcast: connection reset")
	}
	if !c.lose {
		c.include(m)
	}
	return chainclient.Submitted{Hash: hash, Sequence: c.seq}, nil
}

func (c *fakeChain) include(m *inferencetypes.MsgSubmitReceipt) {
	j := c.jobs[m.JobId]
	j.Status = inferencetypes.JOB_STATUS_PENDING
	c.jobs[m.JobId] = j
	c.receipts[m.JobId] = inferencetypes.Receipt{JobId: m.JobId, Provider: m.Provider, OutputCid: m.OutputCid}
}

func (c *fakeChain) WaitTx(_ context.Context, hash string) (*sdk.TxResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.txs[hash]
	if ok && c.receipts[m.JobId].Provider == self {
		_ = c.st.DeletePendingTx(hash)
		return &sdk.TxResponse{TxHash: hash}, nil
	}
	return nil, fmt.Errorf("%w: %s", chainclient.ErrInclusionTimeout, hash)
}

func (c *fakeChain) Resume(_ context.Context, hash string, _ []byte) (*sdk.TxResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.txs[hash]
	if m == nil {
		return nil, errors.New("unknown tx")
	}
	// Re-broadcast of a journaled tx: it lands (same bytes, same tx).
	c.include(m)
	_ = c.st.DeletePendingTx(hash)
	return &sdk.TxResponse{TxHash: hash}, nil
}

// fakeExec returns a fixed result, or the errors queued in errs first.
type fakeExec struct {
	mu    sync.Mutex
	errs  []error
	calls int
}

func (e *fakeExec) Execute(ctx context.Context, job Job) (Result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls++
	if _, ok := ctx.Deadline(); !ok {
		return Result{}, errors.New("no deadline on the execution context")
	}
	if len(e.errs) > 0 {
		err := e.errs[0]
		e.errs = e.errs[1:]
		return Result{}, err
	}
	out := []byte(fmt.Sprintf("output of %d", job.ID))
	return Result{OutputCID: "bafkreioutput", OutputSHA256: sha256.Sum256(out), Output: out, PromptTokens: 3, CompletionTokens: 4,
		EngineName: "openledger-ml", EngineVersion: "v1"}, nil
}

type harness struct {
	st    *store.Store
	chain *fakeChain
	exec  *fakeExec
	key   crypto.PrivKey
	logs  *bytes.Buffer
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	st, err := store.Open(t.TempDir(), nil, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{st: st, chain: newFakeChain(st), exec: &fakeExec{}, key: key, logs: &bytes.Buffer{}}
}

// award records job id as won, on chain and in the store.
func (h *harness) award(t *testing.T, id uint64, deadline int64) {
	t.Helper()
	h.chain.jobs[id] = inferencetypes.Job{Id: id, DeploymentId: 1, ModelId: 2, ModelVersion: 1, InputCid: "bafkreiinput",
		InputSha256: strings.Repeat("ab", 32), MaxTokens: 100, Status: inferencetypes.JOB_STATUS_AWARDED, Winner: self, DeadlineHeight: deadline}
	if _, err := h.st.AddJob(store.Job{ID: id, DeploymentID: 1}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []store.State{store.StateBid, store.StateAwarded} {
		if _, err := h.st.Transition(id, s, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func (h *harness) service(t *testing.T, hooks Hooks) *Service {
	t.Helper()
	s, err := New(Config{ChainID: "test-1", ScanInterval: 20 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond},
		h.st, h.chain, h.exec, h.key, slog.New(slog.NewTextHandler(h.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.SetHooks(hooks)
	return s
}

// runUntil runs a service until the job reaches a final state or stop is
// closed by a hook, and returns the job.
func (h *harness) runUntil(t *testing.T, s *Service, id uint64, stopAt store.State) store.Job {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if stopAt != "" {
		s.hooks.AfterStep = func(_ uint64, st store.State) error {
			if st == stopAt {
				cancel()
				return errors.New("crash")
			}
			return nil
		}
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.After(10 * time.Second)
	for {
		j, err := h.st.Job(id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State.Final() || ctx.Err() != nil {
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			j, _ = h.st.Job(id)
			return j
		}
		select {
		case <-deadline:
			t.Fatalf("job %d stuck in %s\n%s", id, j.State, h.logs)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestSettlesAWonJob(t *testing.T) {
	h := newHarness(t)
	h.award(t, 7, 200)
	j := h.runUntil(t, h.service(t, Hooks{}), 7, "")
	if j.State != store.StateIncluded || len(h.chain.submits) != 1 || h.exec.calls != 1 {
		t.Fatalf("job %+v, %d submits, %d executions", j, len(h.chain.submits), h.exec.calls)
	}
	m := h.chain.submits[0]
	sum := sha256.Sum256([]byte("output of 7"))
	if m.Provider != self || m.JobId != 7 || m.OutputSha256 != hex.EncodeToString(sum[:]) || m.EngineName != "openledger-ml" {
		t.Fatalf("receipt msg: %+v", m)
	}
	// The signature verifies with the libp2p key over the canonical receipt.
	pub, _ := h.key.GetPublic().Raw()
	r := voucher.Receipt{ChainID: "test-1", Provider: self, JobID: 7, OutputCID: m.OutputCid, OutputSHA256: sum,
		PromptTokens: 3, CompletionTokens: 4, EngineName: "openledger-ml", EngineVersion: "v1", ModelID: 2, ModelVersion: 1, Signature: m.Signature}
	if err := r.VerifyKey(pub); err != nil {
		t.Fatal(err)
	}
	var left []store.Receipt
	_ = h.st.View(func(tx *store.Tx) error { left, _ = tx.Receipts(); return nil })
	if len(left) != 0 {
		t.Fatalf("receipts left after inclusion: %d", len(left))
	}
}

// A crash after each step, then a restart: one execution at most once the
// result is stored, one receipt tx, included.
func TestResumesAfterEachStep(t *testing.T) {
	for _, at := range []store.State{store.StateExecuting, store.StateOutputStored, store.StateReceiptBuilt, store.StateReceiptSent} {
		t.Run(string(at), func(t *testing.T) {
			h := newHarness(t)
			h.chain.lose = at == store.StateReceiptSent // the tx is still in flight at the crash
			h.award(t, 3, 200)
			if j := h.runUntil(t, h.service(t, Hooks{}), 3, at); j.State != at {
				t.Fatalf("stopped in %s, want %s", j.State, at)
			}
			h.chain.lose = false
			j := h.runUntil(t, h.service(t, Hooks{}), 3, "")
			wantExec := 1 // a crash in executing (before the result is stored) executes once after the restart
			if j.State != store.StateIncluded || len(h.chain.submits) != 1 || h.exec.calls != wantExec {
				t.Fatalf("job %+v, %d submits, %d executions\n%s", j, len(h.chain.submits), h.exec.calls, h.logs)
			}
		})
	}
}

// A broadcast whose outcome is unknown stays journaled: the next round resumes
// the same tx instead of posting a second one.
func TestUnknownBroadcastIsResumedNotReposted(t *testing.T) {
	h := newHarness(t)
	h.chain.failBroadcast = true
	h.award(t, 4, 200)
	s := h.service(t, Hooks{})
	go func() {
		time.Sleep(100 * time.Millisecond)
		h.chain.mu.Lock()
		h.chain.failBroadcast = false
		h.chain.mu.Unlock()
	}()
	j := h.runUntil(t, s, 4, "")
	if j.State != store.StateIncluded || len(h.chain.submits) != 1 {
		t.Fatalf("job %+v, %d submits\n%s", j, len(h.chain.submits), h.logs)
	}
}

func TestInputUnavailableRetriesThenSucceeds(t *testing.T) {
	h := newHarness(t)
	h.exec.errs = []error{fmt.Errorf("fetch: %w", ErrInputUnavailable), fmt.Errorf("fetch: %w", ErrInputUnavailable)}
	h.award(t, 5, 200)
	j := h.runUntil(t, h.service(t, Hooks{}), 5, "")
	if j.State != store.StateIncluded || h.exec.calls != 3 || j.Attempts != 2 {
		t.Fatalf("job %+v after %d executions\n%s", j, h.exec.calls, h.logs)
	}
}

func TestInputUnavailableGivesUpAtTheDeadline(t *testing.T) {
	h := newHarness(t)
	h.exec.errs = []error{ErrInputUnavailable, ErrInputUnavailable, ErrInputUnavailable, ErrInputUnavailable, ErrInputUnavailable,
		ErrInputUnavailable, ErrInputUnavailable, ErrInputUnavailable, ErrInputUnavailable, ErrInputUnavailable}
	h.award(t, 6, 105)
	go func() {
		time.Sleep(100 * time.Millisecond)
		h.chain.mu.Lock()
		h.chain.height = 106
		h.chain.mu.Unlock()
	}()
	j := h.runUntil(t, h.service(t, Hooks{}), 6, "")
	if j.State != store.StateGivenUp || !strings.Contains(j.Reason, "deadline 105 passed") || len(h.chain.submits) != 0 {
		t.Fatalf("job %+v, %d submits\n%s", j, len(h.chain.submits), h.logs)
	}
}

func TestDigestMismatchAlerts(t *testing.T) {
	h := newHarness(t)
	h.exec.errs = []error{&DigestMismatch{CID: "bafkreiinput", Expected: "abab", Got: "cdcd"}}
	h.award(t, 8, 200)
	s := h.service(t, Hooks{})
	j := h.runUntil(t, s, 8, "")
	if j.State != store.StateGivenUp || h.exec.calls != 1 || s.Stats().Alerts.Load() != 1 {
		t.Fatalf("job %+v, %d executions", j, h.exec.calls)
	}
	for _, want := range []string{"level=ERROR", "ALERT: digest mismatch", "cid=bafkreiinput", "expected_sha256=abab", "got_sha256=cdcd"} {
		if !strings.Contains(h.logs.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, h.logs)
		}
	}
}

// After the deadline nothing is posted, even with a receipt built.
func TestNoPostAfterDeadline(t *testing.T) {
	h := newHarness(t)
	h.award(t, 9, 200)
	h.runUntil(t, h.service(t, Hooks{}), 9, store.StateReceiptBuilt)
	h.chain.height = 201
	j := h.runUntil(t, h.service(t, Hooks{}), 9, "")
	if j.State != store.StateGivenUp || len(h.chain.submits) != 0 {
		t.Fatalf("job %+v, %d submits", j, len(h.chain.submits))
	}
}

// The chain already has our receipt (the store lost the tx hash): included
// without posting again.
func TestReceiptOnChainIsIncluded(t *testing.T) {
	h := newHarness(t)
	h.award(t, 10, 200)
	h.runUntil(t, h.service(t, Hooks{}), 10, store.StateReceiptBuilt)
	h.chain.receipts[10] = inferencetypes.Receipt{JobId: 10, Provider: self}
	j := h.runUntil(t, h.service(t, Hooks{}), 10, "")
	if j.State != store.StateIncluded || len(h.chain.submits) != 0 {
		t.Fatalf("job %+v, %d submits", j, len(h.chain.submits))
	}
}

// TestGiveUpOnceWhenAlreadyEnded: a job the bidder gave up first (the deadline
// passed and it was re-auctioned) is not given up a second time by settlement:
// no second log line, no second count, the bidder's reason kept.
func TestGiveUpOnceWhenAlreadyEnded(t *testing.T) {
	h := newHarness(t)
	h.award(t, 7, 100)
	if _, err := h.st.Transition(7, store.StateGivenUp, func(j *store.Job) { j.Reason = "missed the deadline; re-auctioned" }); err != nil {
		t.Fatal(err)
	}
	s := h.service(t, Hooks{})
	for _, reason := range []string{"job is JOB_STATUS_OPEN on chain", "deadline 100 passed"} {
		to, err := s.giveUp(7, reason)
		if err != nil || to != store.StateGivenUp {
			t.Fatalf("giveUp(%q) = %s, %v", reason, to, err)
		}
	}
	j, err := h.st.Job(7)
	if err != nil {
		t.Fatal(err)
	}
	if j.Reason != "missed the deadline; re-auctioned" || s.Stats().GivenUp.Load() != 0 || strings.Contains(h.logs.String(), "job given up") {
		t.Fatalf("reason %q, given up %d, log:\n%s", j.Reason, s.Stats().GivenUp.Load(), h.logs)
	}
}
