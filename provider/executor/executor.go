// Package executor runs the inference jobs the provider won: a bounded pool of
// workers, each job under a timeout, that
//
//  1. fetches the prompt from IPFS by CID and checks its sha256 (the job's);
//  2. fetches the model version's artifact (and, for a LoRA version, its
//     parent's) into a local cache, checking the sha256 the chain records, and
//     keeps the weights resident: one base in memory, its LoRA adapters applied
//     per request (ml/lora: many adapters over one resident base);
//  3. runs a backend (the built-in engine, or an OpenAI-compatible server) with
//     the job's sampling parameters and seed, completion bounded by max_tokens
//     minus the prompt's tokens;
//  4. adds the output to IPFS;
//  5. computes the attribution record exactly as `openledgerd attribution
//     explain` does — span method with the version's span index, or influence
//     method with its sketches — adds the canonical record to IPFS and
//     summarises it for the chain (record.Summarize with K entries).
//
// A version with no attribution artifacts (or an output that cannot be
// attributed: empty) gets a pool-only summary, see poolOnly.
//
// Errors the daemon distinguishes: ErrInputUnavailable, ErrDigestMismatch,
// ErrBackend, ErrTooLong (test with errors.Is).
package executor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/boxo/files"

	"github.com/openledger/openledger/attribution"
	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/tokenizer"
	"github.com/openledger/openledger/provider/backend"
	"github.com/openledger/openledger/provider/internal/cheat"
	"github.com/openledger/openledger/storage"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
	modelstypes "github.com/openledger/openledger/x/models/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// Errors the daemon tells apart.
var (
	// ErrInputUnavailable: the prompt could not be fetched from IPFS (not
	// found, or the context ended while fetching). Retry until the job's
	// deadline; never give up early.
	ErrInputUnavailable = errors.New("executor: input unavailable")
	// ErrDigestMismatch: the input or a model artifact does not have the sha256
	// the chain records. Refuse the job and alert.
	ErrDigestMismatch = errors.New("executor: digest mismatch")
	// ErrBackend: the engine failed, hung, timed out or returned garbage. It is
	// backend.ErrBackend, so errors from either package match.
	ErrBackend = backend.ErrBackend
	// ErrTooLong: the prompt alone takes max_tokens (or the model's context),
	// leaving no room for a completion.
	ErrTooLong = errors.New("executor: prompt too long")
	// ErrInvalidJob: the job or its model version cannot be run by this
	// provider (malformed CID or digest, parameters out of range, no backend
	// for the engine, unsupported lineage). Retrying does not help.
	ErrInvalidJob = errors.New("executor: invalid job")
)

// Job is what the chain says to run (from x/inference Job + its deployment's
// model version).
type Job struct {
	ID                    uint64
	DeploymentID          uint64
	ModelID, ModelVersion uint64
	InputCID              string
	InputSHA256           string // hex
	MaxTokens             uint64 // prompt + completion
	Params                inferencetypes.GenerationParams
	Deadline              int64 // chain height; informational
}

// Result is everything a receipt needs except the signature.
type Result struct {
	OutputCID        string
	OutputSHA256     [32]byte
	Output           []byte
	PromptTokens     uint64
	CompletionTokens uint64
	EngineName       string
	EngineVersion    string
	RecordCID        string
	Summary          rewardstypes.AttributionSummary
}

// Executor executes jobs.
type Executor interface {
	Execute(ctx context.Context, job Job) (Result, error)
}

// ModelSource looks model versions and models up on chain. ChainModels adapts
// the x/models query client (chainclient.Client.Models()).
type ModelSource interface {
	ModelVersion(ctx context.Context, modelID, version uint64) (modelstypes.ModelVersion, error)
	Model(ctx context.Context, id uint64) (modelstypes.Model, error)
}

// DeploymentSource is optionally implemented by a ModelSource (ChainModels
// does): with it the pool-only summary is restricted to the deployment's
// data-share table, which is what x/rewards validates against.
type DeploymentSource interface {
	Deployment(ctx context.Context, id uint64) (modelstypes.Deployment, error)
}

// Config configures a Pool.
type Config struct {
	// Workers is the number of jobs run at once (default 1).
	Workers int
	// JobTimeout bounds each job from the moment a worker takes it (default 10 min).
	JobTimeout time.Duration
	// CacheDir holds fetched artifacts, one file per CID (required).
	CacheDir string
	// MaxCacheBytes bounds the cache directory (default 10 GiB); least recently
	// used files not in use are evicted past it.
	MaxCacheBytes int64
	// MaxInputBytes bounds a prompt (default 4 MiB).
	MaxInputBytes int64
	// SummaryTopK is the K of record.Summarize: contributions kept by name in
	// the chain summary (default 16; at most x/rewards' max_top_k).
	SummaryTopK int
	// MaxResidentModels bounds the base models kept in memory (default 2).
	MaxResidentModels int
	// MaxResidentIndexes bounds the span indexes, sketch files and tokenizers
	// kept open (default 8 of each).
	MaxResidentIndexes int
	// MaxAdaptersPerBase bounds the LoRA adapters resident over one base (default 64).
	MaxAdaptersPerBase int
	// Span are the span-attribution parameters (default
	// attribution.DefaultSpanParams(), as `attribution explain`).
	Span attribution.SpanParams
	// ChainCacheTTL is how long model and deployment lookups are reused
	// (default 1 min; model versions are immutable in what is used here and are
	// kept until eviction).
	ChainCacheTTL time.Duration
}

func (c *Config) setDefaults() {
	if c.Workers <= 0 {
		c.Workers = 1
	}
	if c.JobTimeout <= 0 {
		c.JobTimeout = 10 * time.Minute
	}
	if c.MaxCacheBytes <= 0 {
		c.MaxCacheBytes = 10 << 30
	}
	if c.MaxInputBytes <= 0 {
		c.MaxInputBytes = 4 << 20
	}
	if c.SummaryTopK <= 0 {
		c.SummaryTopK = 16
	}
	if c.MaxResidentModels <= 0 {
		c.MaxResidentModels = 2
	}
	if c.MaxResidentIndexes <= 0 {
		c.MaxResidentIndexes = 8
	}
	if c.MaxAdaptersPerBase <= 0 {
		c.MaxAdaptersPerBase = 64
	}
	if c.Span == (attribution.SpanParams{}) {
		c.Span = attribution.DefaultSpanParams()
	}
	if c.ChainCacheTTL <= 0 {
		c.ChainCacheTTL = time.Minute
	}
}

// Deps are the pool's collaborators.
type Deps struct {
	// Storage is the provider's IPFS node.
	Storage storage.API
	// Models looks versions and models up on chain.
	Models ModelSource
	// Backends in order of preference: a job runs on the first that serves its
	// version (a local backend serves versions of the built-in engine's format,
	// a remote one serves any).
	Backends []backend.Backend
}

// Stats are the pool's counters since New.
type Stats struct {
	Jobs   uint64 // finished successfully
	Failed uint64
	// Total is the time of successful jobs from worker start to result; Engine
	// the part of it spent in Backend.Generate.
	Total  time.Duration
	Engine time.Duration
	// Fetches counts artifact fetches from IPFS (cache misses); Loads counts
	// models, indexes and tokenizers loaded into memory.
	Fetches int64
	Loads   int64
}

// Pool is a bounded worker pool executing jobs. It implements Executor and is
// safe for concurrent use.
type Pool struct {
	cfg   Config
	deps  Deps
	log   *slog.Logger
	slots chan struct{}

	files    *fileCache
	bases    *resident[*baseEntry]
	indexes  *resident[*spanEntry]
	sketches *resident[*sketchEntry]
	toks     *resident[*tokenizer.Tokenizer]
	chain    *chainCache

	mu    sync.Mutex
	stats Stats
}

var _ Executor = (*Pool)(nil)

// New returns a pool. It creates the cache directory and adopts the files an
// earlier run left there.
func New(cfg Config, deps Deps, log *slog.Logger) (*Pool, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.setDefaults()
	if cfg.CacheDir == "" {
		return nil, errors.New("executor: a cache directory is required")
	}
	if deps.Storage == nil || deps.Models == nil {
		return nil, errors.New("executor: storage and a model source are required")
	}
	if len(deps.Backends) == 0 {
		return nil, errors.New("executor: at least one backend is required")
	}
	if err := cfg.Span.Validate(); err != nil {
		return nil, fmt.Errorf("executor: %w", err)
	}
	fc, err := newFileCache(cfg.CacheDir, cfg.MaxCacheBytes, deps.Storage)
	if err != nil {
		return nil, err
	}
	p := &Pool{
		cfg: cfg, deps: deps, log: log.With("component", "executor"),
		slots:    make(chan struct{}, cfg.Workers),
		files:    fc,
		bases:    newResident[*baseEntry](cfg.MaxResidentModels, nil),
		indexes:  newResident(cfg.MaxResidentIndexes, func(s *spanEntry) { s.src.Index.Close(); s.release() }),
		sketches: newResident[*sketchEntry](cfg.MaxResidentIndexes, nil),
		toks:     newResident[*tokenizer.Tokenizer](cfg.MaxResidentIndexes, nil),
		chain:    newChainCache(deps.Models, cfg.ChainCacheTTL),
	}
	return p, nil
}

// Close releases the open span indexes. Call it after the last Execute returned.
func (p *Pool) Close() error {
	p.indexes.closeAll()
	return nil
}

// Stats returns the counters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	s := p.stats
	p.mu.Unlock()
	s.Fetches = p.files.fetches.Load()
	s.Loads = p.bases.loads.Load() + p.indexes.loads.Load() + p.sketches.loads.Load() + p.toks.loads.Load()
	return s
}

// Busy is the number of jobs running now.
func (p *Pool) Busy() int { return len(p.slots) }

// Execute runs a job. It blocks until a worker is free or ctx ends, then runs
// the job under the per-job timeout.
func (p *Pool) Execute(ctx context.Context, job Job) (Result, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return Result{}, fmt.Errorf("executor: job %d: waiting for a free worker: %w", job.ID, ctx.Err())
	}
	defer func() { <-p.slots }()
	start := time.Now()
	jctx, cancel := context.WithTimeout(ctx, p.cfg.JobTimeout)
	defer cancel()
	log := p.log.With("job", job.ID, "model", job.ModelID, "version", job.ModelVersion)
	res, engine, err := p.run(jctx, job, log)
	total := time.Since(start)
	p.mu.Lock()
	if err != nil {
		p.stats.Failed++
	} else {
		p.stats.Jobs++
		p.stats.Total += total
		p.stats.Engine += engine
	}
	p.mu.Unlock()
	if err != nil {
		if errors.Is(jctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("%w (per-job timeout %s)", err, p.cfg.JobTimeout)
		}
		err = fmt.Errorf("job %d: %w", job.ID, err)
		log.Warn("job failed", "err", err, "elapsed", total)
		return Result{}, err
	}
	log.Info("job done", "output", res.OutputCID, "record", res.RecordCID, "prompt_tokens", res.PromptTokens,
		"completion_tokens", res.CompletionTokens, "engine", res.EngineName, "elapsed", total, "engine_time", engine)
	return res, nil
}

// run executes the job's steps; it returns the engine's own time too.
func (p *Pool) run(ctx context.Context, job Job, log *slog.Logger) (Result, time.Duration, error) {
	var res Result
	engine, err := p.execute(ctx, job, log, p.pickBackend, func(r ran) error {
		var err error
		r.resp.Output = cheat.Output(r.resp.Output) // test-only lies: inert unless armed
		res, err = p.record(ctx, job, fmt.Sprintf("inference job %d", job.ID), r.v, r.w, r.countTok, r.resp)
		res.CompletionTokens = cheat.Usage(job.MaxTokens, res.PromptTokens, res.CompletionTokens)
		res.Summary = cheat.Summary(res.Summary)
		return err
	})
	return res, engine, err
}

// ran is a finished generation of a job and what produced it; the weights
// are held while execute's continuation runs.
type ran struct {
	v        modelstypes.ModelVersion
	w        *loadedWeights
	countTok *tokenizer.Tokenizer
	input    []byte
	resp     backend.Response
}

// execute runs a job's generation (steps 1–3) on the backend pick chooses
// and hands it to then while the weights are held (Execute stores and
// attributes it, Recompute only attributes it). It returns the engine's time.
func (p *Pool) execute(ctx context.Context, job Job, log *slog.Logger,
	pick func(modelstypes.ModelVersion) (backend.Backend, error), then func(ran) error,
) (time.Duration, error) {
	if job.MaxTokens == 0 {
		return 0, fmt.Errorf("%w: max_tokens is 0", ErrInvalidJob)
	}
	v, mdl, err := p.versionAndModel(ctx, job)
	if err != nil {
		return 0, err
	}
	be, err := pick(v)
	if err != nil {
		return 0, err
	}
	input, err := p.fetchInput(ctx, job)
	if err != nil {
		return 0, err
	}

	w, countTok, release, err := p.load(ctx, v, mdl, be.Info().Local)
	if err != nil {
		return 0, err
	}
	defer release()
	params := backend.ParamsFromChain(job.Params)
	req := backend.Request{Prompt: string(input), Model: mdl.Name, Params: params}
	if w != nil {
		req.Weights = &w.weights
	}
	maxNew := job.MaxTokens
	if countTok != nil {
		n := uint64(len(countTok.Encode(input)))
		if n >= job.MaxTokens {
			return 0, fmt.Errorf("%w: the prompt has %d tokens; max_tokens %d leaves no room for a completion", ErrTooLong, n, job.MaxTokens)
		}
		if w != nil && n >= uint64(w.weights.Base.Params.Cfg.ContextLen) {
			return 0, fmt.Errorf("%w: the prompt has %d tokens; the model's context holds %d", ErrTooLong, n, w.weights.Base.Params.Cfg.ContextLen)
		}
		maxNew = job.MaxTokens - n
	}
	req.MaxNewTokens = int(min(maxNew, uint64(1<<30)))

	var engine time.Duration
	generate := func() (backend.Response, error) {
		t0 := time.Now()
		resp, err := be.Generate(ctx, req)
		engine += time.Since(t0)
		if err != nil && !errors.Is(err, ErrBackend) {
			err = fmt.Errorf("%w: %v", ErrBackend, err)
		}
		return resp, err
	}
	resp, err := generate()
	if err != nil {
		return engine, err
	}
	if resp.PromptTokens >= job.MaxTokens {
		return engine, fmt.Errorf("%w: the engine counted %d prompt tokens; max_tokens is %d", ErrTooLong, resp.PromptTokens, job.MaxTokens)
	}
	if resp.PromptTokens+resp.CompletionTokens > job.MaxTokens && countTok == nil {
		// No tokenizer to count the prompt beforehand: now the server has
		// counted it, ask again with the exact room left.
		req.MaxNewTokens = int(job.MaxTokens - resp.PromptTokens)
		log.Debug("completion exceeded max_tokens; asking again with the exact room", "prompt_tokens", resp.PromptTokens, "max_new", req.MaxNewTokens)
		if resp, err = generate(); err != nil {
			return engine, err
		}
	}
	if resp.PromptTokens+resp.CompletionTokens > job.MaxTokens {
		return engine, fmt.Errorf("%w: the engine reports %d prompt + %d completion tokens, more than max_tokens %d (asked for at most %d new)",
			ErrBackend, resp.PromptTokens, resp.CompletionTokens, job.MaxTokens, req.MaxNewTokens)
	}
	if resp.EngineName == "" || resp.EngineVersion == "" {
		return engine, fmt.Errorf("%w: the engine did not say its name and version", ErrBackend)
	}

	return engine, then(ran{v: v, w: w, countTok: countTok, input: input, resp: resp})
}

// versionAndModel looks a job's model version and model up on chain (cached).
func (p *Pool) versionAndModel(ctx context.Context, job Job) (modelstypes.ModelVersion, modelstypes.Model, error) {
	v, err := p.chain.version(ctx, job.ModelID, job.ModelVersion)
	if err != nil {
		return modelstypes.ModelVersion{}, modelstypes.Model{}, err
	}
	mdl, err := p.chain.model(ctx, job.ModelID)
	return v, mdl, err
}

// load returns what a backend needs to run a version: for a local backend the
// resident weights (nil for a remote one), and the tokenizer that counts the
// prompt — the model's own when it is known (nil otherwise). release gives
// them back.
func (p *Pool) load(ctx context.Context, v modelstypes.ModelVersion, mdl modelstypes.Model, local bool,
) (*loadedWeights, *tokenizer.Tokenizer, func(), error) {
	if local {
		w, err := p.loadWeights(ctx, v)
		if err != nil {
			return nil, nil, nil, err
		}
		return w, w.weights.Base.Tok, w.release, nil
	}
	if mdl.TokenizerCid != "" {
		tok, release, err := p.tokenizer(ctx, mdl.TokenizerCid)
		if err != nil {
			return nil, nil, nil, err
		}
		return nil, tok, release, nil
	}
	return nil, nil, func() {}, nil
}

// record adds a generation's output to IPFS, computes its attribution record
// (see attribute), adds the record too, and returns the result; what names the
// request in the pins' reasons ("inference job 7").
func (p *Pool) record(ctx context.Context, job Job, what string, v modelstypes.ModelVersion, w *loadedWeights,
	countTok *tokenizer.Tokenizer, resp backend.Response,
) (Result, error) {
	// The output is added to IPFS (a durable pin) while the record is computed
	// and added: the two pins' syncs overlap instead of queueing.
	out := resp.Output
	outSum := sha256.Sum256(out)
	type addDone struct {
		res storage.AddResult
		err error
	}
	outDone := make(chan addDone, 1)
	go func() {
		r, err := p.deps.Storage.Add(ctx, files.NewBytesFile(out), storage.AddOptions{
			PinReason: fmt.Sprintf("%s output sha256:%x", what, outSum), Name: "output", SHA256: true,
		})
		outDone <- addDone{r, err}
	}()
	waitOut := func() (storage.AddResult, error) {
		d := <-outDone
		if d.err != nil {
			return d.res, fmt.Errorf("adding the output to IPFS: %w", d.err)
		}
		return d.res, nil
	}

	recBytes, summary, err := p.attribute(ctx, job, v, w, countTok, out, p.cfg.SummaryTopK)
	if err != nil {
		_, _ = waitOut()
		return Result{}, fmt.Errorf("attribution: %w", err)
	}
	recSum := sha256.Sum256(recBytes)
	recAdded, err := p.deps.Storage.Add(ctx, files.NewBytesFile(recBytes), storage.AddOptions{
		PinReason: fmt.Sprintf("%s attribution record sha256:%x", what, recSum), Name: "record", SHA256: true,
	})
	added, outErr := waitOut()
	if outErr != nil {
		return Result{}, outErr
	}
	if err != nil {
		return Result{}, fmt.Errorf("adding the attribution record to IPFS: %w", err)
	}
	return Result{
		OutputCID: added.RootStr, OutputSHA256: outSum, Output: out,
		PromptTokens: resp.PromptTokens, CompletionTokens: resp.CompletionTokens,
		EngineName: resp.EngineName, EngineVersion: resp.EngineVersion,
		RecordCID: recAdded.RootStr, Summary: summary,
	}, nil
}

// pickBackend returns the first backend that serves the version: a local one
// only for artifacts in the built-in engine's format.
func (p *Pool) pickBackend(v modelstypes.ModelVersion) (backend.Backend, error) {
	for _, b := range p.deps.Backends {
		if !b.Info().Local || v.EngineName == checkpoint.EngineName {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%w: no configured backend runs model %d version %d (engine %q); add an openai backend serving it",
		ErrInvalidJob, v.ModelId, v.Version, v.EngineName)
}

// fetchInput reads the prompt from IPFS and checks its sha256.
func (p *Pool) fetchInput(ctx context.Context, job Job) ([]byte, error) {
	id, err := storage.ParseCID(job.InputCID)
	if err != nil {
		return nil, fmt.Errorf("%w: input CID %q: %v", ErrInvalidJob, job.InputCID, err)
	}
	want, err := hex.DecodeString(job.InputSHA256)
	if err != nil || len(want) != sha256.Size {
		return nil, fmt.Errorf("%w: input sha256 %q is not 64 hex digits", ErrInvalidJob, job.InputSHA256)
	}
	unavailable := func(err error) error {
		if errors.Is(err, storage.ErrNotFound) || isCtxErr(err) || ctx.Err() != nil {
			return fmt.Errorf("%w: %s: %v", ErrInputUnavailable, job.InputCID, err)
		}
		return fmt.Errorf("input %s: %w", job.InputCID, err)
	}
	rc, err := p.deps.Storage.Cat(ctx, id)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, p.cfg.MaxInputBytes+1))
	if err != nil {
		return nil, unavailable(err)
	}
	if int64(len(b)) > p.cfg.MaxInputBytes {
		return nil, fmt.Errorf("%w: input %s is larger than %d bytes", ErrInvalidJob, job.InputCID, p.cfg.MaxInputBytes)
	}
	if got := sha256.Sum256(b); !bytes.Equal(got[:], want) {
		return nil, fmt.Errorf("%w: input %s has sha256 %x, the job says %s", ErrDigestMismatch, job.InputCID, got, strings.ToLower(job.InputSHA256))
	}
	return b, nil
}
