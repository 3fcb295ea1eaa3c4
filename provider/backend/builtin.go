package backend

import (
	"context"
	"errors"

	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/generate"
)

// Builtin is the engine in this binary: ml/generate over resident weights. It is
// deterministic: the same weights, prompt and parameters (seed included) give
// the same bytes on every machine.
type Builtin struct {
	name string
}

// NewBuiltin returns the built-in backend; name is its configured name
// (default checkpoint.EngineName).
func NewBuiltin(name string) *Builtin {
	if name == "" {
		name = checkpoint.EngineName
	}
	return &Builtin{name: name}
}

// Info implements Backend.
func (b *Builtin) Info() Info { return Info{Name: b.name, Local: true} }

// Generate implements Backend. The prompt is tokenised with the base model's
// tokenizer; the completion ends at MaxNewTokens, a stop sequence or the end of
// the model's context. Under WithStream the text is handed on token by token
// as it is generated.
func (b *Builtin) Generate(ctx context.Context, req Request) (Response, error) {
	if req.Weights == nil || req.Weights.Base == nil {
		return Response{}, errorf("builtin engine: no weights in the request")
	}
	if req.MaxNewTokens > generate.MaxNewTokens {
		req.MaxNewTokens = generate.MaxNewTokens
	}
	p := generate.Params{
		MaxTokens:   req.MaxNewTokens,
		Temperature: req.Params.Temperature,
		TopK:        req.Params.TopK,
		TopP:        req.Params.TopP,
		Seed:        req.Params.Seed,
		Stop:        req.Params.Stop,
	}
	if err := p.Validate(); err != nil {
		return Response{}, errorf("builtin engine: %v", err)
	}
	m := req.Weights.Base
	res, err := generate.Text(ctx, m.Params, req.Weights.Adapter, m.Tok, req.Prompt, p, generate.Options{OnText: streamOf(ctx)})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return Response{}, errorf("builtin engine stopped: %v", err)
		}
		return Response{}, errorf("builtin engine: %v", err)
	}
	return Response{
		Output:           []byte(res.Text),
		PromptTokens:     uint64(res.PromptTokens),
		CompletionTokens: uint64(res.CompletionTokens),
		FinishReason:     res.FinishReason,
		EngineName:       checkpoint.EngineName,
		EngineVersion:    checkpoint.EngineVersion,
	}, nil
}
