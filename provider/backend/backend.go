// Package backend runs one generation request on an inference engine for the
// provider daemon's executor.
//
// Two implementations:
//
//   - Builtin: the engine in this binary (package ml). It runs the weights the
//     executor fetched, verified and keeps resident (Request.Weights), with the
//     exact sampling of ml/generate, so the same request and seed always give the
//     same bytes. Its engine name and version are ml/checkpoint's EngineName and
//     EngineVersion, the identity `model train` writes into checkpoints and
//     manifests.
//   - OpenAI: any OpenAI-compatible HTTP server (vLLM, llama.cpp server, Ollama,
//     TGI, SGLang) by base URL, over /v1/completions or /v1/chat/completions,
//     non-streaming or streaming (server-sent events). Token counts are the
//     server's own `usage`.
//
// Every engine failure — an error status, a hung or timed-out server, a garbage,
// oversized or truncated response, a cancelled generation — is returned wrapped in
// ErrBackend with a message saying what happened.
package backend

import (
	"context"
	"errors"
	"fmt"

	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/model"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// ErrBackend wraps every failure of the engine itself: it failed, hung, timed
// out or answered garbage. The executor re-exports it as executor.ErrBackend.
var ErrBackend = errors.New("backend")

// Backend generates completions.
type Backend interface {
	// Generate runs one request. It honours ctx (cancellation and deadline).
	Generate(ctx context.Context, req Request) (Response, error)
	// Info describes the backend.
	Info() Info
}

// Info describes a backend.
type Info struct {
	// Name is the configured backend name (for logs and selection).
	Name string
	// Local is true for a backend that runs the weights the executor loads and
	// passes in Request.Weights (the built-in engine); false for a remote server
	// that holds its own weights.
	Local bool
}

// Params are the sampling parameters of a request.
type Params struct {
	// Temperature 0 is greedy decoding.
	Temperature float64
	// TopK keeps the K most likely tokens (0: off).
	TopK int
	// TopP is the nucleus mass in (0, 1] (0 or 1: off).
	TopP float64
	// Seed of the sampler.
	Seed uint64
	// Stop sequences end the completion (the text is cut before the first one).
	Stop []string
}

// ParamsFromChain converts a job's integer parameters: temperature =
// temperature_milli / 1000, top-p = top_p_ppm / 10^6 (0: off).
func ParamsFromChain(gp inferencetypes.GenerationParams) Params {
	return Params{
		Temperature: float64(gp.TemperatureMilli) / 1000,
		TopK:        int(gp.TopK),
		TopP:        float64(gp.TopPPpm) / 1e6,
		Seed:        gp.Seed,
		Stop:        append([]string(nil), gp.Stop...),
	}
}

// Weights are the resident weights a local backend runs.
type Weights struct {
	// Base is the full model (its tokenizer included).
	Base *checkpoint.Model
	// Adapter is applied on the fly over Base (nil: the base alone). Adapters are
	// never merged into the shared base: many adapters serve over one base.
	Adapter *model.Adapter
}

// Request is one generation.
type Request struct {
	// Prompt is the prompt text.
	Prompt string
	// Weights are required by a local backend, ignored by a remote one.
	Weights *Weights
	// Model is the model name sent to a remote server when its configuration
	// names none.
	Model string
	// Params are the sampling parameters.
	Params Params
	// MaxNewTokens bounds the completion (at least 1).
	MaxNewTokens int
}

// Response is a finished generation.
type Response struct {
	// Output is the completion's bytes (stop sequences cut off).
	Output []byte
	// PromptTokens and CompletionTokens are the engine's counts (the remote
	// server's `usage`).
	PromptTokens     uint64
	CompletionTokens uint64
	// FinishReason is "stop" or "length" (or what the server said).
	FinishReason string
	// EngineName and EngineVersion identify the engine that ran, as recorded in
	// receipts.
	EngineName    string
	EngineVersion string
}

type streamKey struct{}

// WithStream returns a context under which a backend that streams (Builtin)
// hands emit each piece of the completion as soon as it is final: whole
// UTF-8 characters, never the start of a stop sequence. The concatenation of
// the pieces is a prefix of Response.Output (the rest arrives with the
// Response). emit runs on the generating goroutine, between tokens.
func WithStream(ctx context.Context, emit func(piece string)) context.Context {
	return context.WithValue(ctx, streamKey{}, emit)
}

func streamOf(ctx context.Context) func(string) {
	f, _ := ctx.Value(streamKey{}).(func(string))
	return f
}

func errorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBackend}, args...)...)
}
