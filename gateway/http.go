package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/ml/train"
	"github.com/openledger/openledger/provider/openai"
)

// Handler is the OpenAI-compatible handler.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", g.models)
	mux.HandleFunc("POST /v1/completions", func(w http.ResponseWriter, r *http.Request) { g.serve(w, r, "/v1/completions") })
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) { g.serve(w, r, "/v1/chat/completions") })
	mux.HandleFunc("POST /v1/feedback", g.postFeedback)
	mux.HandleFunc("GET /v1/feedback/{id}", g.getFeedback)
	return mux
}

func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	c := code
	_ = json.NewEncoder(w).Encode(openai.ErrorBody{Error: openai.ErrorDetail{Message: msg, Type: typ, Code: &c}})
}

// models lists, in the OpenAI list shape, every deployment that at least
// one provider offers (its id is the model id), then the aliases of those
// deployments.
func (g *Gateway) models(w http.ResponseWriter, r *http.Request) {
	type m struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	out := struct {
		Object string `json:"object"`
		Data   []m    `json:"data"`
	}{Object: "list", Data: []m{}}
	deps, err := g.chain.Deployments(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "server_error", "chain_unavailable", "listing the offered deployments: "+err.Error())
		return
	}
	slices.Sort(deps)
	offered := map[uint64]bool{}
	for _, d := range deps {
		if !offered[d] {
			offered[d] = true
			out.Data = append(out.Data, m{ID: strconv.FormatUint(d, 10), Object: "model", OwnedBy: "openledger"})
		}
	}
	names := make([]string, 0, len(g.cfg.Aliases))
	for a, d := range g.cfg.Aliases {
		if offered[d] {
			names = append(names, a)
		}
	}
	sort.Strings(names)
	for _, a := range names {
		out.Data = append(out.Data, m{ID: a, Object: "model", OwnedBy: "openledger"})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// Deployment resolves a model name: an alias or a deployment id.
func (g *Gateway) Deployment(model string) (uint64, bool) { return g.deployment(model) }

func (g *Gateway) deployment(model string) (uint64, bool) {
	if id, ok := g.cfg.Aliases[model]; ok {
		return id, true
	}
	return openai.DeploymentOf(model)
}

// request is a prepared request.
type request struct {
	path       string
	body       []byte
	chat       bool
	stream     bool
	deployment uint64
	bound      uint64 // prompt bound
	maxTokens  uint64 // completion cap
	// prompt (completions) or messages (chat), kept with the receipt for
	// preference records.
	prompt   string
	messages []train.Message
	// onReceipt, when set, sees the verified receipt (Infer).
	onReceipt func(s *session, rc voucher.Receipt)
	// answered is why an answer already sent failed (no receipt, a receipt
	// that does not check).
	answered error
}

func (r *request) verified(s *session, rc voucher.Receipt) {
	if r.onReceipt != nil {
		r.onReceipt(s, rc)
	}
}

func (r *request) total() uint64 { return r.bound + r.maxTokens }

func (g *Gateway) prepare(w http.ResponseWriter, r *http.Request, path string) (*request, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large", err.Error())
		return nil, false
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_json", "could not parse the JSON body: "+err.Error())
		return nil, false
	}
	var model string
	_ = json.Unmarshal(fields["model"], &model)
	dep, ok := g.deployment(model)
	if !ok {
		writeError(w, http.StatusNotFound, "invalid_request_error", "model_not_found", fmt.Sprintf("the model %q is neither a deployment id nor an alias", model))
		return nil, false
	}
	fields["model"], _ = json.Marshal(strconv.FormatUint(dep, 10))
	if fields["max_tokens"] == nil && fields["max_completion_tokens"] == nil {
		fields["max_tokens"], _ = json.Marshal(g.cfg.DefaultMaxTokens)
	}
	body, _ = json.Marshal(fields)
	var q openai.Request
	if err := json.Unmarshal(body, &q); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_value", err.Error())
		return nil, false
	}
	chat := path == "/v1/chat/completions"
	prompt := ""
	if !chat {
		if prompt, err = q.PromptText(); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_value", err.Error())
			return nil, false
		}
	}
	req := &request{
		path: path, body: body, chat: chat, stream: q.Stream, deployment: dep, prompt: prompt,
		bound: openai.PromptBound(chat, prompt, q.Messages), maxTokens: q.Completion(g.cfg.DefaultMaxTokens),
	}
	if chat {
		req.messages = make([]train.Message, 0, len(q.Messages))
		for _, m := range q.Messages {
			req.messages = append(req.messages, train.Message{Role: m.Role, Content: m.Content})
		}
	}
	return req, true
}

// errDrop: the provider misbehaved; errRetry: try another provider.
var (
	errDrop  = errors.New("provider dropped")
	errRetry = errors.New("provider failed")
)

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, path string) {
	req, ok := g.prepare(w, r, path)
	if !ok {
		return
	}
	g.run(w, r, req)
}

// run answers a prepared request from the first provider that serves it.
func (g *Gateway) run(w http.ResponseWriter, r *http.Request, req *request) {
	var lastErr error
	tried := map[string]bool{}
	for range g.cfg.Attempts {
		offer, err := g.pick(r.Context(), req.deployment, tried)
		if err != nil {
			if lastErr == nil {
				lastErr = err
			}
			break
		}
		tried[offer.Operator] = true
		err = g.attempt(w, r, req, offer)
		if err == nil {
			return
		}
		lastErr = err
		var pass *passthrough
		if errors.As(err, &pass) {
			req.answered = pass.err
			return // already answered
		}
		g.log.Warn("provider attempt failed", "provider", offer.Operator, "err", err)
		if errors.Is(err, errDrop) {
			g.drop(offer.Operator, err.Error())
		} else {
			g.noteFailure(offer.Operator)
		}
		if r.Context().Err() != nil {
			return
		}
	}
	writeError(w, http.StatusBadGateway, "server_error", "no_provider", fmt.Sprintf("no provider could serve deployment %d: %v", req.deployment, lastErr))
}

// passthrough is an answer already sent to the application.
type passthrough struct{ err error }

func (p *passthrough) Error() string { return p.err.Error() }
