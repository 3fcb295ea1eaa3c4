package daemon

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/openledger/openledger/provider/backend"
	"github.com/openledger/openledger/provider/config"
	"github.com/openledger/openledger/provider/executor"
	"github.com/openledger/openledger/provider/receipts"
)

// DefaultExecutor builds the executor pool (provider/executor) over the daemon's
// IPFS node, the chain's models and the configured backends; its artifact cache
// is <data_dir>/cache.
func DefaultExecutor(_ context.Context, env ExecEnv) (receipts.Executor, error) {
	var bs []backend.Backend
	var workers int
	for _, b := range env.Config.Backends {
		workers += int(b.MaxConcurrency)
		switch b.Kind {
		case config.BackendBuiltin:
			bs = append(bs, backend.NewBuiltin(b.Name))
		case config.BackendOpenAI:
			o, err := backend.NewOpenAI(backend.OpenAIConfig{Name: b.Name, BaseURL: b.URL, Model: b.Model, Timeout: b.Timeout.D()})
			if err != nil {
				return nil, fmt.Errorf("backend %s: %w", b.Name, err)
			}
			bs = append(bs, o)
		}
	}
	pool, err := executor.New(executor.Config{
		Workers:  workers,
		CacheDir: filepath.Join(config.Resolve(env.ConfigPath, env.Config.DataDir), "cache"),
	}, executor.Deps{Storage: env.IPFS, Models: executor.ChainModels{Query: env.Chain.Models()}, Backends: bs}, env.Log)
	if err != nil {
		return nil, err
	}
	return PoolExecutor{Pool: pool}, nil
}

// PoolExecutor adapts an executor.Executor to settlement's Executor, mapping
// the job, the result and the error kinds.
type PoolExecutor struct{ Pool executor.Executor }

// Execute implements receipts.Executor.
func (p PoolExecutor) Execute(ctx context.Context, j receipts.Job) (receipts.Result, error) {
	r, err := p.Pool.Execute(ctx, executor.Job{
		ID: j.ID, DeploymentID: j.DeploymentID, ModelID: j.ModelID, ModelVersion: j.ModelVersion,
		InputCID: j.InputCID, InputSHA256: j.InputSHA256, MaxTokens: j.MaxTokens, Params: j.Params, Deadline: j.Deadline,
	})
	if err != nil {
		for _, m := range []struct{ from, to error }{
			{executor.ErrDigestMismatch, receipts.ErrDigestMismatch},
			{executor.ErrInputUnavailable, receipts.ErrInputUnavailable},
			{executor.ErrTooLong, receipts.ErrTooLong},
			{executor.ErrBackend, receipts.ErrBackend},
		} {
			if errors.Is(err, m.from) {
				return receipts.Result{}, fmt.Errorf("%w: %w", m.to, err)
			}
		}
		return receipts.Result{}, err
	}
	return receipts.Result{
		OutputCID: r.OutputCID, OutputSHA256: r.OutputSHA256, Output: r.Output,
		PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens,
		EngineName: r.EngineName, EngineVersion: r.EngineVersion, RecordCID: r.RecordCID, Summary: r.Summary,
	}, nil
}
