package openai

import (
	"errors"
	"fmt"
	"math"

	"github.com/openledger/openledger/inference/batchrecord"
	"github.com/openledger/openledger/provider/executor"
)

// ReplayLabel is the Label of a replayed generation.
const ReplayLabel = "replay of a session request"

// ErrReplay wraps every ReplayGeneration error: the request could not have
// been served as recorded.
var ErrReplay = errors.New("openai: request cannot be replayed")

// ReplayGeneration returns the generation PoolEngine ran for a session
// request, from what the settlement's batch record keeps of it (ADR 006):
// the endpoint (batchrecord.EndpointChat or EndpointCompletions), the exact
// body and the completion cap the provider applied. The body is parsed by the
// server's own rules (parseBody); a body naming max_tokens (or
// max_completion_tokens) must name maxTokens. The result differs from the
// served one only in Label (ReplayLabel) and QueueWait (zero). Whether the
// provider serves the deployment, and its own max_tokens ceiling, are not
// checked: they are the provider's configuration, not the request's.
func ReplayGeneration(endpoint string, body []byte, maxTokens uint64) (executor.Generation, error) {
	var chat bool
	switch endpoint {
	case batchrecord.EndpointChat:
		chat = true
	case batchrecord.EndpointCompletions:
	default:
		return executor.Generation{}, fmt.Errorf("%w: endpoint %q", ErrReplay, endpoint)
	}
	if maxTokens == 0 {
		return executor.Generation{}, fmt.Errorf("%w: max_tokens must be positive", ErrReplay)
	}
	p, aerr := parseBody(body, chat, maxTokens, math.MaxUint64, nil)
	if aerr != nil {
		return executor.Generation{}, fmt.Errorf("%w: %s", ErrReplay, aerr.msg)
	}
	if p.gen.MaxTokens != maxTokens {
		return executor.Generation{}, fmt.Errorf("%w: the body's max_tokens is %d, the record's %d", ErrReplay, p.gen.MaxTokens, maxTokens)
	}
	g := generation(p.gen)
	g.Label = ReplayLabel
	return g, nil
}
