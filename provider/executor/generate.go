package executor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openledger/openledger/provider/backend"
	"github.com/openledger/openledger/provider/internal/cheat"
	modelstypes "github.com/openledger/openledger/x/models/types"
)

// ErrBusy: no worker became free within Generation.QueueWait.
var ErrBusy = errors.New("executor: every worker is busy")

// Generation is one interactive request (the provider's OpenAI-compatible API,
// provider/openai): the prompt inline rather than on IPFS, on a deployment's
// model version, with a cap on the completion alone (a Job's MaxTokens bounds
// prompt and completion together).
type Generation struct {
	DeploymentID uint64
	Prompt       string
	// MaxNewTokens caps the completion's tokens (at least 1).
	MaxNewTokens uint64
	Params       backend.Params
	// Label names the request in logs and in the reasons of its pins (default
	// "api request").
	Label string
	// QueueWait bounds the wait for a free worker (0: until ctx ends); past it
	// Generate returns ErrBusy.
	QueueWait time.Duration
	// ValidUTF8 makes the output valid UTF-8 (each invalid byte sequence
	// replaced by U+FFFD) before it is stored and attributed: a byte-level
	// model may stop inside a character, and text APIs (JSON) deliver only
	// valid UTF-8, so the recorded output is the delivered one.
	ValidUTF8 bool
}

// Generated is a finished generation: everything a receipt needs (the output
// on IPFS, token counts, the attribution record and summary, exactly as
// Execute computes them), the model version that ran and why the completion
// ended ("stop" or "length").
type Generated struct {
	Result
	ModelID, ModelVersion uint64
	FinishReason          string
}

// Generate runs one interactive generation on one of the pool's workers (the
// jobs' workers: the two share the resident weights and the slots). The
// deployment's model version is looked up on chain (cached, see
// Config.ChainCacheTTL); the model source must look deployments up
// (ChainModels does).
func (p *Pool) Generate(ctx context.Context, g Generation) (Generated, error) {
	wait, cancelWait := ctx, context.CancelFunc(func() {})
	if g.QueueWait > 0 {
		wait, cancelWait = context.WithTimeout(ctx, g.QueueWait)
	}
	select {
	case p.slots <- struct{}{}:
		cancelWait()
	case <-wait.Done():
		cancelWait()
		if ctx.Err() != nil {
			return Generated{}, fmt.Errorf("executor: waiting for a free worker: %w", ctx.Err())
		}
		return Generated{}, fmt.Errorf("%w (waited %s)", ErrBusy, g.QueueWait)
	}
	defer func() { <-p.slots }()
	jctx, cancel := context.WithTimeout(ctx, p.cfg.JobTimeout)
	defer cancel()
	if g.Label == "" {
		g.Label = "api request"
	}
	start := time.Now()
	res, err := p.generate(jctx, g)
	if err != nil {
		if errors.Is(jctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("%w (per-job timeout %s)", err, p.cfg.JobTimeout)
		}
		p.log.Debug("generation failed", "request", g.Label, "deployment", g.DeploymentID, "err", err)
		return Generated{}, fmt.Errorf("%s: %w", g.Label, err)
	}
	p.log.Debug("generation done", "request", g.Label, "deployment", g.DeploymentID, "output", res.OutputCID,
		"prompt_tokens", res.PromptTokens, "completion_tokens", res.CompletionTokens, "elapsed", time.Since(start))
	return res, nil
}

func (p *Pool) generate(ctx context.Context, g Generation) (Generated, error) {
	if g.MaxNewTokens == 0 {
		return Generated{}, fmt.Errorf("%w: max_tokens is 0", ErrInvalidJob)
	}
	dep, known, err := p.chain.deployment(ctx, g.DeploymentID)
	if err != nil {
		return Generated{}, err
	}
	if !known {
		return Generated{}, fmt.Errorf("%w: the model source cannot look deployment %d up", ErrInvalidJob, g.DeploymentID)
	}
	job := Job{DeploymentID: g.DeploymentID, ModelID: dep.ModelId, ModelVersion: dep.Version}
	var out Generated
	_, err = p.runGeneration(ctx, g, job, p.pickBackend, func(r ran) error {
		r.resp.Output = cheat.SessionOutput(r.resp.Output) // test-only lies on session requests: inert unless armed
		res, err := p.record(ctx, job, g.Label, r.v, r.w, r.countTok, r.resp)
		if err != nil {
			return err
		}
		res.CompletionTokens = cheat.SessionUsage(g.MaxNewTokens, res.CompletionTokens)
		res.Summary = cheat.SessionSummary(res.Summary)
		out = Generated{Result: res, ModelID: job.ModelID, ModelVersion: job.ModelVersion, FinishReason: r.resp.FinishReason}
		return nil
	})
	return out, err
}

// runGeneration runs g on the model version job names (Generate: the
// deployment's current one; RecomputeGeneration: the one a receipt names) on
// the backend pick chooses — the prompt checked against the model's context,
// the completion capped at MaxNewTokens, the output made valid UTF-8 when g
// asks — and hands it to then while the weights are held. It returns the
// engine's time.
func (p *Pool) runGeneration(ctx context.Context, g Generation, job Job,
	pick func(modelstypes.ModelVersion) (backend.Backend, error), then func(ran) error,
) (time.Duration, error) {
	if g.MaxNewTokens == 0 {
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
	w, countTok, release, err := p.load(ctx, v, mdl, be.Info().Local)
	if err != nil {
		return 0, err
	}
	defer release()
	req := backend.Request{Prompt: g.Prompt, Model: mdl.Name, Params: g.Params, MaxNewTokens: int(min(g.MaxNewTokens, uint64(1<<30)))}
	if w != nil {
		req.Weights = &w.weights
		if n := len(countTok.Encode([]byte(g.Prompt))); n >= w.weights.Base.Params.Cfg.ContextLen {
			return 0, fmt.Errorf("%w: the prompt has %d tokens; the model's context holds %d", ErrTooLong, n, w.weights.Base.Params.Cfg.ContextLen)
		}
	}
	t0 := time.Now()
	resp, err := be.Generate(ctx, req)
	engine := time.Since(t0)
	if err != nil {
		if !errors.Is(err, ErrBackend) {
			err = fmt.Errorf("%w: %v", ErrBackend, err)
		}
		return engine, err
	}
	if resp.CompletionTokens > g.MaxNewTokens {
		return engine, fmt.Errorf("%w: the engine produced %d completion tokens, asked for at most %d", ErrBackend, resp.CompletionTokens, g.MaxNewTokens)
	}
	if resp.EngineName == "" || resp.EngineVersion == "" {
		return engine, fmt.Errorf("%w: the engine did not say its name and version", ErrBackend)
	}
	if g.ValidUTF8 && !utf8.Valid(resp.Output) {
		resp.Output = []byte(strings.ToValidUTF8(string(resp.Output), "\uFFFD"))
	}
	return engine, then(ran{v: v, w: w, countTok: countTok, input: []byte(g.Prompt), resp: resp})
}
