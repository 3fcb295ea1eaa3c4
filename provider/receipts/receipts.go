// Package receipts is the provider daemon's settlement: it takes the jobs the
// provider won (the bidder marks them awarded in the store), runs them through an
// Executor, and posts the signed receipt (MsgSubmitReceipt) through the chain
// client, walking the store's job state machine one committed step at a time:
//
//	awarded → executing → output_stored → receipt_built → receipt_sent → included
//
// Persist before act: the execution's result and the receipt signed with the
// provider's libp2p key are stored (output_stored) before anything is broadcast,
// and the receipt tx is journaled by the chain client before it leaves the process.
// After a restart each job resumes from its stored state: awarded or executing
// jobs are executed again; a stored receipt is re-posted only when neither the
// chain (its receipt of the job) nor the journal (a receipt tx whose fate is not
// known yet) says it is already on its way, so a receipt is never posted twice.
// Once the chain is past the job's deadline the job is given up (the chain
// slashes a missed deadline once and re-auctions the job; the provider does not
// bid on it again).
//
// An unavailable input (ErrInputUnavailable) or a failing backend is retried with
// a capped exponential backoff until the deadline; a digest mismatch
// (ErrDigestMismatch) gives the job up at once with an ERROR line naming the CID
// and both digests.
package receipts

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/internal/failpoint"
	"github.com/openledger/openledger/provider/store"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// NotePrefix starts the journal note of every receipt tx ("receipt job 7").
const NotePrefix = "receipt job "

// Note is the journal note of a job's receipt tx.
func Note(jobID uint64) string { return fmt.Sprintf("%s%d", NotePrefix, jobID) }

// Active are the states settlement works on.
var Active = []store.State{
	store.StateAwarded, store.StateExecuting, store.StateOutputStored,
	store.StateReceiptBuilt, store.StateReceiptSent,
}

// Config tunes a Service.
type Config struct {
	// ChainID the receipts are signed for.
	ChainID string
	// MaxConcurrency bounds the jobs in progress at once (default 1).
	MaxConcurrency int
	// ScanInterval between passes over the store for work (default 2 s).
	ScanInterval time.Duration
	// MinBackoff and MaxBackoff bound the retry delay of a failing step
	// (defaults 500 ms and 30 s).
	MinBackoff, MaxBackoff time.Duration
	// BlockTime, when positive, is used instead of the chain's estimate to map
	// the deadline height to a time.
	BlockTime time.Duration
	// MarginBlocks are kept before the deadline for the receipt tx to be
	// included: the execution's context ends that many blocks early (default 2).
	MarginBlocks int64
}

// Hooks let tests observe (and stop) the service between steps.
type Hooks struct {
	// AfterStep is called after each committed step with the state entered. A
	// non-nil error stops the job's worker at once, as a crash would.
	AfterStep func(jobID uint64, s store.State) error
}

// Stats are running totals, for metrics.
type Stats struct {
	Executions, ExecutionErrors, Submitted, Included, GivenUp, Alerts atomic.Uint64
}

// Service settles won jobs. Run drives it; Handle consumes receipt events.
type Service struct {
	cfg   Config
	st    *store.Store
	chain Chain
	exec  Executor
	key   crypto.PrivKey
	log   *slog.Logger
	hooks Hooks
	stats Stats

	kick chan struct{}
	sem  chan struct{}

	mu     sync.Mutex
	active map[uint64]bool
	bt     time.Duration
	btAt   time.Time
}

// New returns a Service signing receipts with key (the libp2p identity whose
// peer id is registered on chain).
func New(cfg Config, st *store.Store, chain Chain, exec Executor, key crypto.PrivKey, log *slog.Logger) (*Service, error) {
	if st == nil || chain == nil || exec == nil || key == nil {
		return nil, errors.New("receipts: store, chain, executor and key are required")
	}
	if cfg.ChainID == "" {
		return nil, errors.New("receipts: chain id is required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxConcurrency <= 0 {
		cfg.MaxConcurrency = 1
	}
	if cfg.ScanInterval <= 0 {
		cfg.ScanInterval = 2 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(30*time.Second, cfg.MinBackoff)
	}
	if cfg.MarginBlocks <= 0 {
		cfg.MarginBlocks = 2
	}
	return &Service{
		cfg: cfg, st: st, chain: chain, exec: exec, key: key, log: log.With("component", "receipts"),
		kick: make(chan struct{}, 1), sem: make(chan struct{}, cfg.MaxConcurrency), active: map[uint64]bool{},
	}, nil
}

// SetHooks installs test hooks; call before Run.
func (s *Service) SetHooks(h Hooks) { s.hooks = h }

// Stats returns the running totals.
func (s *Service) Stats() *Stats { return &s.stats }

// Kick makes Run look for work now (the daemon calls it after an award).
func (s *Service) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run starts a worker for each job in an active state, at most MaxConcurrency
// at once, until ctx ends; it then waits for the workers (each stops at a step
// boundary: every committed step stays committed) and returns nil.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(s.cfg.ScanInterval)
	defer t.Stop()
	for {
		jobs, err := s.st.Jobs(Active...)
		if err != nil {
			return fmt.Errorf("receipts: %w", err)
		}
		for _, j := range jobs {
			s.mu.Lock()
			busy := s.active[j.ID]
			if !busy {
				s.active[j.ID] = true
			}
			s.mu.Unlock()
			if busy {
				continue
			}
			wg.Add(1)
			go func(id uint64) {
				defer wg.Done()
				defer func() { s.mu.Lock(); delete(s.active, id); s.mu.Unlock() }()
				select {
				case s.sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				defer func() { <-s.sem }()
				s.work(ctx, id)
			}(j.ID)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.kick:
		}
	}
}

// errStopped is returned by a step when a hook asked to stop.
var errStopped = errors.New("stopped by hook")

// retry is a step failure to be retried after a backoff.
type retry struct{ err error }

func (r retry) Error() string { return r.err.Error() }
func (r retry) Unwrap() error { return r.err }

// work drives one job until it is final, ctx ends, or a hook stops it.
func (s *Service) work(ctx context.Context, id uint64) {
	backoff := s.cfg.MinBackoff
	for ctx.Err() == nil {
		j, err := s.st.Job(id)
		if err != nil {
			s.log.Error("reading job", "job", id, "err", err)
			return
		}
		if j.State.Final() {
			return
		}
		var to store.State
		switch j.State {
		case store.StateAwarded:
			to, err = s.start(ctx, j)
		case store.StateExecuting:
			to, err = s.execute(ctx, j)
		case store.StateOutputStored:
			to, err = s.build(j)
		case store.StateReceiptBuilt:
			to, err = s.post(ctx, j)
		case store.StateReceiptSent:
			to, err = s.confirm(ctx, j)
		default:
			return // not settlement's (seen, bid)
		}
		switch {
		case err == nil:
			backoff = s.cfg.MinBackoff
			if to != "" {
				failpoint.Hit("receipts." + string(to))
			}
			if to != "" && s.hooks.AfterStep != nil {
				if herr := s.hooks.AfterStep(id, to); herr != nil {
					s.log.Info("stopped between steps", "job", id, "state", to, "reason", herr)
					return
				}
			}
		case ctx.Err() != nil:
			return
		case errors.Is(err, store.ErrIllegalTransition):
			// Another path (an event, the bidder) moved the job: re-read it.
		default:
			var r retry
			if !errors.As(err, &r) {
				s.log.Error("settlement step failed", "job", id, "state", j.State, "err", err)
			} else {
				s.log.Warn("settlement step failed; retrying", "job", id, "state", j.State, "in", backoff, "err", err)
			}
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, s.cfg.MaxBackoff)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// chainState reads the job on chain and, when the provider can no longer post
// for it, settles the local job: included when the chain has this provider's
// receipt, else given up. ok reports whether the job is still postable.
func (s *Service) chainState(ctx context.Context, j store.Job) (cj inferencetypes.Job, height int64, ok bool, to store.State, err error) {
	if _, has, err := s.ourReceipt(ctx, j.ID); err != nil {
		return cj, 0, false, "", retry{err}
	} else if has {
		to, err := s.markIncluded(j.ID, "")
		return cj, 0, false, to, err
	}
	cj, err = s.chain.Job(ctx, j.ID)
	if err != nil {
		return cj, 0, false, "", retry{err}
	}
	height, err = s.chain.LatestHeight(ctx)
	if err != nil {
		return cj, 0, false, "", retry{err}
	}
	switch {
	case cj.Status != inferencetypes.JOB_STATUS_AWARDED || cj.Winner != s.chain.Address():
		to, err := s.giveUp(j.ID, fmt.Sprintf("job is %s on chain, awarded to %q", cj.Status, cj.Winner))
		return cj, height, false, to, err
	case height > cj.DeadlineHeight:
		to, err := s.giveUp(j.ID, fmt.Sprintf("deadline %d passed (height %d)", cj.DeadlineHeight, height))
		return cj, height, false, to, err
	}
	return cj, height, true, "", nil
}

func (s *Service) ourReceipt(ctx context.Context, id uint64) (inferencetypes.Receipt, bool, error) {
	r, has, err := s.chain.Receipt(ctx, id)
	if err != nil || !has {
		return r, false, err
	}
	return r, r.Provider == s.chain.Address(), nil
}

// start: awarded → executing.
func (s *Service) start(ctx context.Context, j store.Job) (store.State, error) {
	cj, _, ok, to, err := s.chainState(ctx, j)
	if !ok {
		return to, err
	}
	if _, err := s.st.Transition(j.ID, store.StateExecuting, func(sj *store.Job) {
		if sj.DeadlineHeight == 0 {
			sj.DeadlineHeight = cj.DeadlineHeight
		}
	}); err != nil {
		return "", err
	}
	s.log.Info("executing", "job", j.ID, "deployment", cj.DeploymentId, "model", cj.ModelId, "version", cj.ModelVersion,
		"input", cj.InputCid, "deadline", cj.DeadlineHeight)
	return store.StateExecuting, nil
}

// execute: executing → output_stored, the signed receipt stored with it.
func (s *Service) execute(ctx context.Context, j store.Job) (store.State, error) {
	cj, height, ok, to, err := s.chainState(ctx, j)
	if !ok {
		return to, err
	}
	bt := s.blockTime(ctx)
	blocks := max(cj.DeadlineHeight-height-s.cfg.MarginBlocks, 1)
	ectx, cancel := context.WithTimeout(ctx, time.Duration(blocks)*bt)
	defer cancel()
	s.stats.Executions.Add(1)
	started := time.Now()
	res, err := s.exec.Execute(ectx, Job{
		ID: cj.Id, DeploymentID: cj.DeploymentId, ModelID: cj.ModelId, ModelVersion: cj.ModelVersion,
		InputCID: cj.InputCid, InputSHA256: cj.InputSha256, MaxTokens: cj.MaxTokens, Params: cj.Params,
		Deadline: cj.DeadlineHeight,
	})
	if err != nil {
		s.stats.ExecutionErrors.Add(1)
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		var dm *DigestMismatch
		switch {
		case errors.As(err, &dm):
			s.stats.Alerts.Add(1)
			s.log.Error("ALERT: digest mismatch; refusing the job", "job", j.ID, "cid", dm.CID,
				"expected_sha256", dm.Expected, "got_sha256", dm.Got)
			return s.giveUp(j.ID, "digest mismatch: "+dm.Error())
		case errors.Is(err, ErrDigestMismatch):
			s.stats.Alerts.Add(1)
			s.log.Error("ALERT: digest mismatch; refusing the job", "job", j.ID, "cid", cj.InputCid,
				"expected_sha256", cj.InputSha256, "err", err)
			return s.giveUp(j.ID, "digest mismatch: "+err.Error())
		case errors.Is(err, ErrTooLong):
			return s.giveUp(j.ID, "job too long: "+err.Error())
		}
		s.note(j.ID, err)
		if errors.Is(err, ErrInputUnavailable) {
			return "", retry{fmt.Errorf("input %s unavailable; retrying until deadline %d: %w", cj.InputCid, cj.DeadlineHeight, err)}
		}
		return "", retry{fmt.Errorf("execution: %w", err)}
	}
	r, err := voucher.SignReceipt(voucher.Receipt{
		ChainID: s.cfg.ChainID, Provider: s.chain.Address(), JobID: j.ID,
		OutputCID: res.OutputCID, OutputSHA256: res.OutputSHA256,
		PromptTokens: res.PromptTokens, CompletionTokens: res.CompletionTokens,
		EngineName: res.EngineName, EngineVersion: res.EngineVersion,
		ModelID: cj.ModelId, ModelVersion: cj.ModelVersion,
		RecordCID: res.RecordCID, Summary: inferencetypes.VoucherSummary(res.Summary),
	}, s.key)
	if err != nil {
		s.stats.ExecutionErrors.Add(1)
		s.note(j.ID, err)
		return "", retry{fmt.Errorf("the executor's result does not make a valid receipt: %w", err)}
	}
	if tokens := res.PromptTokens + res.CompletionTokens; tokens > cj.MaxTokens {
		return s.giveUp(j.ID, fmt.Sprintf("result has %d tokens, job max %d", tokens, cj.MaxTokens))
	}
	outHex := hex.EncodeToString(res.OutputSHA256[:])
	msg := &inferencetypes.MsgSubmitReceipt{
		Provider: s.chain.Address(), JobId: j.ID, OutputCid: res.OutputCID, OutputSha256: outHex,
		PromptTokens: res.PromptTokens, CompletionTokens: res.CompletionTokens,
		EngineName: res.EngineName, EngineVersion: res.EngineVersion,
		RecordCid: res.RecordCID, Summary: res.Summary, Signature: r.Signature,
	}
	msgBz, err := msg.Marshal()
	if err != nil {
		return "", fmt.Errorf("encoding the receipt msg: %w", err)
	}
	err = s.st.Update(func(tx *store.Tx) error {
		if _, err := tx.Transition(j.ID, store.StateOutputStored, func(sj *store.Job) {
			sj.OutputCID, sj.OutputSHA256, sj.Reason = res.OutputCID, outHex, ""
		}); err != nil {
			return err
		}
		return tx.PutReceipt(store.Receipt{JobID: j.ID, Body: r.Marshal(), Msg: msgBz})
	})
	if err != nil {
		return "", err
	}
	s.log.Info("output stored", "job", j.ID, "output", res.OutputCID, "sha256", outHex,
		"tokens", res.PromptTokens+res.CompletionTokens, "engine", res.EngineName, "took", time.Since(started).Round(time.Millisecond))
	return store.StateOutputStored, nil
}

// note records a failed attempt on the job.
func (s *Service) note(id uint64, err error) {
	if uerr := s.st.Update(func(tx *store.Tx) error {
		_, e := tx.EditJob(id, func(j *store.Job) {
			if j.State.Final() { // a late failure must not overwrite why the job ended
				return
			}
			j.Attempts++
			j.Reason = err.Error()
		})
		return e
	}); uerr != nil {
		s.log.Error("recording a failed attempt", "job", id, "err", uerr)
	}
}

// build: output_stored → receipt_built (the signed receipt is in the store).
func (s *Service) build(j store.Job) (store.State, error) {
	err := s.st.Update(func(tx *store.Tx) error {
		if _, err := tx.Receipt(j.ID); err != nil {
			return err
		}
		_, err := tx.Transition(j.ID, store.StateReceiptBuilt, nil)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return s.giveUp(j.ID, "output stored without its receipt (corrupt store)")
	}
	if err != nil {
		return "", err
	}
	return store.StateReceiptBuilt, nil
}
