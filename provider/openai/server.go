// Package openai is the provider's OpenAI-compatible HTTP API
// (docs/openai-api.md): GET /v1/models, POST /v1/completions and
// /v1/chat/completions (streamed as server-sent events or not), each paid by
// the session voucher in the X-Openledger-Voucher header, verified and
// committed by provider/sessions before generation starts, and answered with
// the provider's signed receipt (X-Openledger-Receipt, or the `openledger`
// field of the last streamed chunk), which signs the sha256 of the exact
// request body; the body and output are kept as the request's transcript for
// the settlement's batch record (ReplayGeneration replays one). Session
// resynchronisation, the acknowledgement of the last receipt and the final
// voucher live under /v1/openledger/sessions/.
package openai

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/backend"
	"github.com/openledger/openledger/provider/sessions"
)

// GenRequest is one generation for the engine.
type GenRequest struct {
	DeploymentID uint64
	Chat         bool
	// Prompt is the completions prompt, or the chat rendered with RenderChat
	// (for engines without their own template).
	Prompt string
	// Messages are the chat messages (passed through to external backends).
	Messages []Message
	// MaxTokens bounds the completion.
	MaxTokens uint64
	Params    backend.Params
}

// GenResult is a finished generation.
type GenResult struct {
	Output                         []byte
	PromptTokens, CompletionTokens uint64
	FinishReason                   string
	EngineName, EngineVersion      string
	ModelID, ModelVersion          uint64
	// OutputCID is the engine's content id of the output ("" : the raw CID).
	OutputCID string
	RecordCID string
	Summary   voucher.Summary
}

// Engine runs generations. Generate may call emit with successive pieces of
// the output as they are produced (their concatenation must be a prefix of
// GenResult.Output); the server sends whatever was not emitted at the end.
type Engine interface {
	// Deployments lists the deployments this provider offers.
	Deployments(ctx context.Context) ([]uint64, error)
	Generate(ctx context.Context, req GenRequest, emit func(piece string) error) (GenResult, error)
}

// ErrBusy is returned (wrapped) by an Engine with no free worker: 503.
var ErrBusy = errors.New("engine busy")

// Config configures a Server.
type Config struct {
	// Operator is the provider's operator address (models' owned_by).
	Operator string
	// MaxBodyBytes bounds a request body (default 1 MiB).
	MaxBodyBytes int64
	// MaxTokens caps a request's completion tokens (default 4096).
	MaxTokens uint64
	// DefaultMaxTokens is used when a request names none (default 256).
	DefaultMaxTokens uint64
	// GenTimeout bounds one generation (default 5 min).
	GenTimeout time.Duration
	// MaxConcurrency bounds the requests in flight (default 16); beyond: 429.
	MaxConcurrency int
}

func (c *Config) setDefaults() {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxTokens == 0 {
		c.MaxTokens = 4096
	}
	if c.DefaultMaxTokens == 0 {
		c.DefaultMaxTokens = 256
	}
	if c.GenTimeout <= 0 {
		c.GenTimeout = 5 * time.Minute
	}
	if c.MaxConcurrency <= 0 {
		c.MaxConcurrency = 16
	}
}

// Server is the HTTP API.
type Server struct {
	cfg    Config
	engine Engine
	sess   *sessions.Manager
	log    *slog.Logger
	slots  chan struct{}
	now    func() time.Time
}

// New returns a server.
func New(cfg Config, engine Engine, sess *sessions.Manager, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.setDefaults()
	return &Server{cfg: cfg, engine: engine, sess: sess, log: log, slots: make(chan struct{}, cfg.MaxConcurrency), now: time.Now}
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", s.models)
	mux.HandleFunc("POST /v1/completions", func(w http.ResponseWriter, r *http.Request) { s.generate(w, r, false) })
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) { s.generate(w, r, true) })
	mux.HandleFunc("GET /v1/openledger/sessions/{id}", s.sessionState)
	mux.HandleFunc("GET /v1/openledger/sessions/{id}/receipts", s.sessionReceipts)
	mux.HandleFunc("POST /v1/openledger/sessions/{id}/final", func(w http.ResponseWriter, r *http.Request) { s.sessionVoucher(w, r, s.sess.Final) })
	mux.HandleFunc("POST /v1/openledger/sessions/{id}/voucher", func(w http.ResponseWriter, r *http.Request) { s.sessionVoucher(w, r, s.sess.Acknowledge) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") && (r.URL.Path == "/v1/models" || strings.HasSuffix(r.URL.Path, "completions")) {
			writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "method_not_allowed", "", "method "+r.Method+" not allowed")
			return
		}
		writeError(w, http.StatusNotFound, "invalid_request_error", "not_found", "", "unknown path "+r.URL.Path)
	})
	return mux
}

// NewHTTPServer wraps the handler with the API's timeouts.
func (s *Server) NewHTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

func strp(s string) *string { return &s }

func writeError(w http.ResponseWriter, status int, typ, code, param, msg string) {
	body := ErrorBody{Error: ErrorDetail{Message: msg, Type: typ}}
	if code != "" {
		body.Error.Code = strp(code)
	}
	if param != "" {
		body.Error.Param = strp(param)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// apiError is an error with its HTTP form.
type apiError struct {
	status           int
	typ, code, param string
	msg              string
}

func badRequest(code, param, format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "invalid_request_error", code, param, fmt.Sprintf(format, args...)}
}

// sessionError maps provider/sessions' rejections.
func sessionError(err error) *apiError {
	e := func(status int, typ, code string) *apiError { return &apiError{status, typ, code, "", err.Error()} }
	switch {
	case errors.Is(err, sessions.ErrInvalidVoucher):
		return e(http.StatusBadRequest, "invalid_request_error", "invalid_voucher")
	case errors.Is(err, sessions.ErrWrongDeployment):
		return e(http.StatusBadRequest, "invalid_request_error", "invalid_voucher")
	case errors.Is(err, sessions.ErrUnknownSession):
		return e(http.StatusNotFound, "invalid_request_error", "session_not_found")
	case errors.Is(err, sessions.ErrBadSignature):
		return e(http.StatusUnauthorized, "authentication_error", "invalid_signature")
	case errors.Is(err, sessions.ErrReplayed):
		return e(http.StatusConflict, "invalid_request_error", "voucher_replayed")
	case errors.Is(err, sessions.ErrOutOfSync):
		return e(http.StatusConflict, "invalid_request_error", "receipts_out_of_sync")
	case errors.Is(err, sessions.ErrInsufficient):
		return e(http.StatusPaymentRequired, "insufficient_quota", "insufficient_voucher")
	case errors.Is(err, sessions.ErrExceedsDeposit):
		return e(http.StatusPaymentRequired, "insufficient_quota", "exceeds_deposit")
	case errors.Is(err, sessions.ErrSessionClosed), errors.Is(err, sessions.ErrFinalised):
		return e(http.StatusPaymentRequired, "insufficient_quota", "session_closed")
	case errors.Is(err, sessions.ErrSessionBusy):
		return e(http.StatusTooManyRequests, "rate_limit_exceeded", "too_many_requests")
	}
	return &apiError{http.StatusServiceUnavailable, "server_error", "chain_unavailable", "", "checking the voucher: " + err.Error()}
}

func (s *Server) fail(w http.ResponseWriter, e *apiError) {
	writeError(w, e.status, e.typ, e.code, e.param, e.msg)
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	ids, err := s.engine.Deployments(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "server_error", "unavailable", "", err.Error())
		return
	}
	out := modelList{Object: "list", Data: []modelInfo{}}
	for _, id := range ids {
		out.Data = append(out.Data, modelInfo{ID: strconv.FormatUint(id, 10), Object: "model", OwnedBy: s.cfg.Operator})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func (s *Server) generate(w http.ResponseWriter, r *http.Request, chat bool) {
	p, aerr := s.parse(w, r, chat)
	if aerr != nil {
		s.fail(w, aerr)
		return
	}
	hv := r.Header.Get(HeaderVoucher)
	if hv == "" {
		s.fail(w, &apiError{http.StatusPaymentRequired, "insufficient_quota", "voucher_required", "", fmt.Sprintf(
			"this provider is paid by session vouchers: send one in the %s header covering everything served so far plus this request's maximum of %d tokens (docs/openai-api.md)", HeaderVoucher, p.maxTotal)})
		return
	}
	v, err := voucher.DecodeVoucher(hv)
	if err != nil {
		s.fail(w, badRequest("invalid_voucher", "", "%s: %v", HeaderVoucher, err))
		return
	}
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		s.fail(w, &apiError{http.StatusTooManyRequests, "rate_limit_exceeded", "too_many_requests", "", fmt.Sprintf("more than %d requests in flight", s.cfg.MaxConcurrency)})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.GenTimeout)
	defer cancel()
	tk, err := s.sess.Accept(ctx, v, sessions.Request{DeploymentID: p.gen.DeploymentID, MaxTokens: p.maxTotal})
	if err != nil {
		s.fail(w, sessionError(err))
		return
	}
	defer tk.Abort() // no-op once completed
	out := &responder{s: s, w: w, chat: chat, stream: p.req.Stream, model: p.req.Model, created: s.now().Unix()}
	if chat {
		out.id = newID("chatcmpl-")
	} else {
		out.id = newID("cmpl-")
	}
	if out.stream {
		out.begin()
	}
	res, err := s.engine.Generate(ctx, p.gen, out.emit)
	if err == nil && !strings.HasPrefix(string(res.Output), out.sent.String()) {
		err = fmt.Errorf("%w: the engine streamed bytes that are not its output", backend.ErrBackend)
	}
	if err == nil && res.CompletionTokens > p.gen.MaxTokens {
		err = fmt.Errorf("%w: the engine produced %d tokens, max_tokens %d", backend.ErrBackend, res.CompletionTokens, p.gen.MaxTokens)
	}
	if err != nil {
		s.log.Warn("generation failed", "session", v.SessionID, "err", err)
		e := &apiError{http.StatusInternalServerError, "server_error", "engine_error", "", "generation failed: " + err.Error()}
		if errors.Is(err, ErrBusy) {
			e = &apiError{http.StatusServiceUnavailable, "server_error", "busy", "", "every worker is busy, retry later"}
		} else if ctx.Err() != nil {
			e.msg = "generation stopped: " + ctx.Err().Error()
		}
		out.failed(e)
		return
	}
	if rest := res.Output[out.sent.Len():]; len(rest) > 0 && out.stream {
		_ = out.emit(string(rest))
	}
	sum := sha256.Sum256(res.Output)
	cid := res.OutputCID
	if cid == "" {
		cid = sessions.RawCID(res.Output)
	}
	rc, err := tk.Complete(sessions.Served{
		OutputCID: cid, OutputSHA256: sum, PromptTokens: res.PromptTokens, CompletionTokens: res.CompletionTokens,
		EngineName: res.EngineName, EngineVersion: res.EngineVersion, ModelID: res.ModelID, ModelVersion: res.ModelVersion,
		RecordCID: res.RecordCID, Summary: res.Summary,
		Endpoint: p.endpoint(), MaxTokens: p.gen.MaxTokens, Body: p.body, Output: res.Output,
	})
	if err != nil {
		s.log.Error("recording the receipt", "session", v.SessionID, "err", err)
		out.failed(&apiError{http.StatusInternalServerError, "server_error", "receipt_error", "", "recording the receipt: " + err.Error()})
		return
	}
	out.finish(res, rc)
}

func sessionID(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_value", "id", "session id must be a positive integer")
		return 0, false
	}
	return id, true
}

func (s *Server) sessionState(w http.ResponseWriter, r *http.Request) {
	id, ok := sessionID(w, r)
	if !ok {
		return
	}
	st, err := s.sess.State(id)
	if err != nil {
		s.fail(w, sessionError(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}

// MaxReceiptsPage is the most receipts one /receipts call returns.
const MaxReceiptsPage = 256

func (s *Server) sessionReceipts(w http.ResponseWriter, r *http.Request) {
	id, ok := sessionID(w, r)
	if !ok {
		return
	}
	var from uint64
	if f := r.URL.Query().Get("from"); f != "" {
		var err error
		if from, err = strconv.ParseUint(f, 10, 64); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_value", "from", "from must be a non-negative integer")
			return
		}
	}
	rs, err := s.sess.Receipts(id, from, MaxReceiptsPage)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "server_error", "store_error", "", err.Error())
		return
	}
	out := struct {
		Receipts []string `json:"receipts"`
	}{Receipts: []string{}}
	for _, rc := range rs {
		out.Receipts = append(out.Receipts, EncodeReceipt(rc))
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// sessionVoucher takes a voucher that pays for no request: the final one
// (sessions.Manager.Final) or an acknowledgement of the receipts issued
// (sessions.Manager.Acknowledge).
func (s *Server) sessionVoucher(w http.ResponseWriter, r *http.Request, accept func(context.Context, voucher.Voucher) error) {
	id, ok := sessionID(w, r)
	if !ok {
		return
	}
	v, err := voucher.DecodeVoucher(r.Header.Get(HeaderVoucher))
	if err != nil {
		s.fail(w, badRequest("invalid_voucher", "", "%s: %v", HeaderVoucher, err))
		return
	}
	if v.SessionID != id {
		s.fail(w, badRequest("invalid_voucher", "", "the voucher is for session %d", v.SessionID))
		return
	}
	if err := accept(r.Context(), v); err != nil {
		s.fail(w, sessionError(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"accepted": true, "sequence": strconv.FormatUint(v.Sequence, 10),
		"tokens": strconv.FormatUint(v.CumulativeTokens, 10), "amount": v.CumulativeAmount.String(),
	})
}
