package openai

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	inferencetypes "github.com/openledger/openledger/x/inference/types"

	"github.com/openledger/openledger/provider/backend"
	"github.com/openledger/openledger/provider/executor"
)

// Generator is what PoolEngine runs requests on: *executor.Pool.
type Generator interface {
	Generate(ctx context.Context, g executor.Generation) (executor.Generated, error)
}

var _ Generator = (*executor.Pool)(nil)

// PoolEngine is the Engine of a real provider: each request runs on the
// executor's pool (provider/executor), on the deployment's model version as
// the chain records it, with the same resident weights, backends and
// attribution as the inference jobs — the output and the attribution record
// are added to the provider's IPFS node and the receipt carries their CIDs and
// the record's summary. The completion is capped by the request's max_tokens.
//
// The built-in engine streams token by token (backend.WithStream): each final
// piece of text is one SSE chunk. An external backend answers in one chunk.
type PoolEngine struct {
	Pool Generator
	// Offered are the deployments this provider serves (GET /v1/models).
	Offered []uint64
	// QueueWait bounds a request's wait for a free worker; past it the request
	// gets 503 busy (default 30 s).
	QueueWait time.Duration
}

var _ Engine = (*PoolEngine)(nil)

// Deployments implements Engine.
func (e *PoolEngine) Deployments(context.Context) ([]uint64, error) {
	return slices.Clone(e.Offered), nil
}

// Generate implements Engine. A chat request's prompt is the rendered chat
// (RenderChat) and its completion ends at ChatStop, the start of the next turn.
func (e *PoolEngine) Generate(ctx context.Context, req GenRequest, emit func(string) error) (GenResult, error) {
	wait := e.QueueWait
	if wait <= 0 {
		wait = 30 * time.Second
	}
	if emit != nil {
		ctx = backend.WithStream(ctx, func(piece string) { _ = emit(piece) })
	}
	gen := generation(req)
	gen.Label, gen.QueueWait = fmt.Sprintf("api request on deployment %d", req.DeploymentID), wait
	g, err := e.Pool.Generate(ctx, gen)
	if errors.Is(err, executor.ErrBusy) {
		return GenResult{}, fmt.Errorf("%w: %w", ErrBusy, err)
	}
	if err != nil {
		return GenResult{}, err
	}
	finish := g.FinishReason
	if finish == "" {
		finish = "stop"
	}
	return GenResult{
		Output: g.Output, PromptTokens: g.PromptTokens, CompletionTokens: g.CompletionTokens, FinishReason: finish,
		EngineName: g.EngineName, EngineVersion: g.EngineVersion, ModelID: g.ModelID, ModelVersion: g.ModelVersion,
		OutputCID: g.OutputCID, RecordCID: g.RecordCID, Summary: inferencetypes.VoucherSummary(g.Summary),
	}, nil
}

// generation is the pool's generation for a request (no label, no queue
// wait): the one mapping Generate serves by and ReplayGeneration replays by.
func generation(req GenRequest) executor.Generation {
	params := req.Params
	if req.Chat && !slices.Contains(params.Stop, ChatStop) {
		params.Stop = append(slices.Clone(params.Stop), ChatStop)
	}
	return executor.Generation{
		DeploymentID: req.DeploymentID, Prompt: req.Prompt, MaxNewTokens: req.MaxTokens, Params: params, ValidUTF8: true,
	}
}
