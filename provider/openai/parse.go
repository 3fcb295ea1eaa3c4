package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/openledger/openledger/inference/batchrecord"
)

// parsed is a validated generation request.
type parsed struct {
	body     []byte // the exact request body
	req      Request
	gen      GenRequest
	bound    uint64
	maxTotal uint64
}

// readBody reads the whole request body, bounded by MaxBodyBytes (413 beyond).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return nil, badRequest("invalid_request", "", "Content-Type must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &apiError{http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large", "", fmt.Sprintf("request body exceeds %d bytes", s.cfg.MaxBodyBytes)}
		}
		return nil, badRequest("invalid_json", "", "could not read the body: %v", err)
	}
	return body, nil
}

// parse reads and validates a generation request: parseBody with this
// server's limits and deployments.
func (s *Server) parse(w http.ResponseWriter, r *http.Request, chat bool) (*parsed, *apiError) {
	body, aerr := s.readBody(w, r)
	if aerr != nil {
		return nil, aerr
	}
	offered := func(id uint64, model string) *apiError {
		ids, err := s.engine.Deployments(r.Context())
		if err != nil {
			return &apiError{http.StatusServiceUnavailable, "server_error", "unavailable", "", err.Error()}
		}
		if !slices.Contains(ids, id) {
			return &apiError{http.StatusNotFound, "invalid_request_error", "model_not_found", "model", fmt.Sprintf("the model %q is not served by this provider", model)}
		}
		return nil
	}
	p, aerr := parseBody(body, chat, s.cfg.DefaultMaxTokens, s.cfg.MaxTokens, offered)
	if aerr != nil {
		return nil, aerr
	}
	p.body = body
	return p, nil
}

// parseBody parses and validates a generation request body: the one set of
// rules the server serves by and ReplayGeneration replays by. defMax is the
// completion cap when the body names none, capMax the largest one allowed;
// offered, when not nil, checks that the deployment is served here.
func parseBody(body []byte, chat bool, defMax, capMax uint64, offered func(id uint64, model string) *apiError) (*parsed, *apiError) {
	var p parsed
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&p.req); err != nil {
		return nil, badRequest("invalid_json", "", "could not parse the JSON body: %v", err)
	}
	q := &p.req
	id, ok := DeploymentOf(q.Model)
	if !ok {
		return nil, &apiError{http.StatusNotFound, "invalid_request_error", "model_not_found", "model", fmt.Sprintf("the model %q does not exist: models are deployment ids (GET /v1/models)", q.Model)}
	}
	if offered != nil {
		if aerr := offered(id, q.Model); aerr != nil {
			return nil, aerr
		}
	}
	switch {
	case q.N != nil && *q.N != 1:
		return nil, badRequest("unsupported_parameter", "n", "only n=1 is supported")
	case len(q.Logprobs) > 0 && string(q.Logprobs) != "null" && string(q.Logprobs) != "false":
		return nil, badRequest("unsupported_parameter", "logprobs", "logprobs are not supported")
	case len(q.Tools) > 0 && string(q.Tools) != "null":
		return nil, badRequest("unsupported_parameter", "tools", "tools are not supported")
	case q.Echo:
		return nil, badRequest("unsupported_parameter", "echo", "echo is not supported")
	}
	g := GenRequest{DeploymentID: id, Chat: chat, MaxTokens: q.Completion(defMax)}
	if g.MaxTokens == 0 || g.MaxTokens > capMax {
		return nil, badRequest("invalid_value", "max_tokens", "max_tokens must be in [1, %d]", capMax)
	}
	var err error
	if chat {
		if len(q.Messages) == 0 {
			return nil, badRequest("invalid_value", "messages", "messages must not be empty")
		}
		for i, m := range q.Messages {
			switch m.Role {
			case "system", "developer", "user", "assistant":
			default:
				return nil, badRequest("invalid_value", fmt.Sprintf("messages[%d].role", i), "role %q is not supported", m.Role)
			}
		}
		g.Messages = q.Messages
		g.Prompt = RenderChat(q.Messages)
	} else {
		if len(q.Messages) > 0 {
			return nil, badRequest("invalid_value", "messages", "use /v1/chat/completions for messages")
		}
		if g.Prompt, err = q.PromptText(); err != nil {
			return nil, badRequest("invalid_value", "prompt", "%v", err)
		}
	}
	if q.Temperature != nil {
		if *q.Temperature < 0 || *q.Temperature > 2 {
			return nil, badRequest("invalid_value", "temperature", "temperature must be in [0, 2]")
		}
		g.Params.Temperature = *q.Temperature
	} else {
		g.Params.Temperature = 1
	}
	if q.TopP != nil {
		if *q.TopP <= 0 || *q.TopP > 1 {
			return nil, badRequest("invalid_value", "top_p", "top_p must be in (0, 1]")
		}
		g.Params.TopP = *q.TopP
	}
	if q.TopK != nil {
		if *q.TopK < 0 {
			return nil, badRequest("invalid_value", "top_k", "top_k must be non-negative")
		}
		g.Params.TopK = *q.TopK
	}
	if q.Seed != nil {
		g.Params.Seed = uint64(*q.Seed)
	}
	if g.Params.Stop, err = q.StopList(); err != nil {
		return nil, badRequest("invalid_value", "stop", "%v", err)
	}
	p.gen = g
	p.bound = PromptBound(chat, g.Prompt, g.Messages)
	p.maxTotal = p.bound + g.MaxTokens
	return &p, nil
}

// endpoint names the request's endpoint in its transcript.
func (p *parsed) endpoint() string {
	if p.gen.Chat {
		return batchrecord.EndpointChat
	}
	return batchrecord.EndpointCompletions
}
