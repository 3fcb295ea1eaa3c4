package executor

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/provider/backend"
	modelstypes "github.com/openledger/openledger/x/models/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// The pool's audit entry points (provider/verifier): the same fetching,
// verified loading, generation and attribution as Execute and Generate, with
// nothing added to IPFS.

// Recomputation is a job or an interactive generation run again for an audit.
type Recomputation struct {
	Input            []byte
	Output           []byte
	OutputSHA256     [32]byte
	PromptTokens     uint64
	CompletionTokens uint64
	EngineName       string
	EngineVersion    string
	// Record is the attribution record's canonical bytes (or the pool-only
	// statement), Summary its chain summary with the K asked for.
	Record  []byte
	Summary rewardstypes.AttributionSummary
	// Engine is the time spent generating, Total the whole recomputation.
	Engine, Total time.Duration
}

// Recompute runs a job again on the built-in engine exactly as Execute runs
// it there — input fetched and checked, weights verified, the job's sampling
// and seed, the completion bounded by max_tokens — and attributes the output
// with a summary of topK entries. Nothing is stored. It takes a worker slot
// and the per-job timeout like Execute. The version must be of the built-in
// engine's format.
func (p *Pool) Recompute(ctx context.Context, job Job, topK int) (Recomputation, error) {
	what := fmt.Sprintf("job %d", job.ID)
	return p.recompute(ctx, what, func(jctx context.Context, then func(ran) error) (time.Duration, error) {
		return p.execute(jctx, job, p.log.With("job", job.ID, "audit", true), p.localBackend, then)
	}, job, topK)
}

// RecomputeGeneration runs an interactive generation again on the built-in
// engine exactly as Generate ran it there — the prompt checked against the
// model's context, the completion capped at g.MaxNewTokens, the output made
// valid UTF-8 when g asks — but on the model version given (the one the
// request's receipt names, not the deployment's current one), and attributes
// the output with a summary of topK entries. Nothing is stored; it takes a
// worker slot and the per-job timeout like Generate (g.QueueWait is not
// applied). The version must be of the built-in engine's format.
func (p *Pool) RecomputeGeneration(ctx context.Context, g Generation, modelID, version uint64, topK int) (Recomputation, error) {
	job := Job{DeploymentID: g.DeploymentID, ModelID: modelID, ModelVersion: version}
	what := g.Label
	if what == "" {
		what = "api request"
	}
	return p.recompute(ctx, what, func(jctx context.Context, then func(ran) error) (time.Duration, error) {
		return p.runGeneration(jctx, g, job, p.localBackend, then)
	}, job, topK)
}

// recompute is Recompute and RecomputeGeneration: run (execute or
// runGeneration on the local backend) in a worker slot under the per-job
// timeout, the output attributed with topK entries.
func (p *Pool) recompute(ctx context.Context, what string,
	run func(context.Context, func(ran) error) (time.Duration, error), job Job, topK int,
) (Recomputation, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return Recomputation{}, fmt.Errorf("executor: %s: waiting for a free worker: %w", what, ctx.Err())
	}
	defer func() { <-p.slots }()
	start := time.Now()
	jctx, cancel := context.WithTimeout(ctx, p.cfg.JobTimeout)
	defer cancel()
	var out Recomputation
	engine, err := run(jctx, func(r ran) error {
		rec, sum, err := p.attribute(jctx, job, r.v, r.w, r.countTok, r.resp.Output, topK)
		if err != nil {
			return fmt.Errorf("attribution: %w", err)
		}
		out = Recomputation{
			Input: r.input, Output: r.resp.Output, OutputSHA256: sha256.Sum256(r.resp.Output),
			PromptTokens: r.resp.PromptTokens, CompletionTokens: r.resp.CompletionTokens,
			EngineName: r.resp.EngineName, EngineVersion: r.resp.EngineVersion,
			Record: rec, Summary: sum,
		}
		return nil
	})
	if err != nil {
		if errors.Is(jctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("%w (per-job timeout %s)", err, p.cfg.JobTimeout)
		}
		return Recomputation{}, fmt.Errorf("%s: %w", what, err)
	}
	out.Engine, out.Total = engine, time.Since(start)
	return out, nil
}

// localBackend is the first configured local backend, else a built-in one:
// an audit re-executes on the built-in engine even when the pool serves its
// jobs through a remote server.
func (p *Pool) localBackend(v modelstypes.ModelVersion) (backend.Backend, error) {
	if v.EngineName != checkpoint.EngineName {
		return nil, fmt.Errorf("%w: model %d version %d is of engine %q; only %s versions can be re-executed",
			ErrInvalidJob, v.ModelId, v.Version, v.EngineName, checkpoint.EngineName)
	}
	for _, b := range p.deps.Backends {
		if b.Info().Local {
			return b, nil
		}
	}
	return backend.NewBuiltin(""), nil
}

// AttributeOutput computes the attribution record and summary (topK entries)
// of a given output of a job's model version, as Execute computes them for
// an output it generated: a version of the built-in engine's format with its
// loaded weights, any other with the model's tokenizer.
func (p *Pool) AttributeOutput(ctx context.Context, job Job, output []byte, topK int) ([]byte, rewardstypes.AttributionSummary, error) {
	v, mdl, err := p.versionAndModel(ctx, job)
	if err != nil {
		return nil, rewardstypes.AttributionSummary{}, err
	}
	w, tok, release, err := p.load(ctx, v, mdl, v.EngineName == checkpoint.EngineName)
	if err != nil {
		return nil, rewardstypes.AttributionSummary{}, err
	}
	defer release()
	return p.attribute(ctx, job, v, w, tok, output, topK)
}

// FetchInput returns a job's prompt from IPFS, its sha256 checked against the
// job's.
func (p *Pool) FetchInput(ctx context.Context, job Job) ([]byte, error) {
	return p.fetchInput(ctx, job)
}

// Deployment looks a deployment up on chain (cached); known is false when
// the model source cannot look deployments up.
func (p *Pool) Deployment(ctx context.Context, id uint64) (dep modelstypes.Deployment, known bool, err error) {
	return p.chain.deployment(ctx, id)
}

// Weights returns the verified resident weights of a model version of the
// built-in engine's format (a LoRA version: its parent's checkpoint and its
// adapter). Call release when done with them.
func (p *Pool) Weights(ctx context.Context, modelID, version uint64) (w backend.Weights, release func(), err error) {
	v, err := p.chain.version(ctx, modelID, version)
	if err != nil {
		return backend.Weights{}, nil, err
	}
	if v.EngineName != checkpoint.EngineName {
		return backend.Weights{}, nil, fmt.Errorf("%w: model %d version %d is of engine %q, not %s", ErrInvalidJob, modelID, version, v.EngineName, checkpoint.EngineName)
	}
	lw, err := p.loadWeights(ctx, v)
	if err != nil {
		return backend.Weights{}, nil, err
	}
	return lw.weights, lw.release, nil
}
