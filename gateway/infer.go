package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	sdkmath "cosmossdk.io/math"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/openai"
)

// InferRequest is one generation for Gateway.Infer.
type InferRequest struct {
	// Model is a deployment id or an alias.
	Model  string
	Prompt string
	// Chat sends the prompt as one user message to /v1/chat/completions
	// (the provider applies its chat template); otherwise /v1/completions.
	Chat bool
	// MaxTokens caps the completion (0: Config.DefaultMaxTokens).
	MaxTokens   uint64
	Temperature *float64
	Seed        *int64
}

// InferResult is a finished, verified generation.
type InferResult struct {
	Text     string
	Provider string
	// Endpoint is how the provider was reached: its API URL or libp2p://<peer id>.
	Endpoint  string
	SessionID uint64
	// Receipt is the provider's receipt, verified against the text received.
	Receipt voucher.Receipt
	// Amount is what the receipt's tokens cost at the session's price, in Denom.
	Amount sdkmath.Int
	Denom  string
	// SessionAmount is the session's cumulative voucher amount so far.
	SessionAmount sdkmath.Int
}

// InferError is a request the gateway could not serve, in the OpenAI error
// shape the HTTP endpoint would have answered.
type InferError struct {
	Status  int
	Code    string
	Message string
}

func (e *InferError) Error() string {
	return fmt.Sprintf("%s (%d %s)", e.Message, e.Status, e.Code)
}

// Infer runs one request exactly as the HTTP endpoint does (provider choice,
// session reuse or opening within the budget, voucher persisted before the
// request, receipt verified), streamed: onText sees each piece of the
// completion as it arrives. The receipt is then acknowledged with a voucher
// naming it (acknowledge), so the provider can settle it with its
// attribution although the session stays open for the next call. The
// session state is the one `openledgerd gateway` uses under the same home.
func (g *Gateway) Infer(ctx context.Context, in InferRequest, onText func(string)) (InferResult, error) {
	fields := map[string]any{"model": in.Model, "stream": true}
	path := "/v1/completions"
	if in.Chat {
		path = "/v1/chat/completions"
		fields["messages"] = []openai.Message{{Role: "user", Content: in.Prompt}}
	} else {
		fields["prompt"] = in.Prompt
	}
	if in.MaxTokens > 0 {
		fields["max_tokens"] = in.MaxTokens
	}
	if in.Temperature != nil {
		fields["temperature"] = *in.Temperature
	}
	if in.Seed != nil {
		fields["seed"] = *in.Seed
	}
	body, err := json.Marshal(fields)
	if err != nil {
		return InferResult{}, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://gateway"+path, bytes.NewReader(body))
	if err != nil {
		return InferResult{}, err
	}
	hr.Header.Set("Content-Type", "application/json")
	sink := &inferSink{hdr: http.Header{}, onText: onText}
	req, ok := g.prepare(sink, hr, path)
	if !ok {
		return InferResult{}, sink.failure()
	}
	var res InferResult
	got := false
	req.onReceipt = func(s *session, rc voucher.Receipt) {
		got = true
		amt, _ := sdkmath.NewIntFromString(s.Amount)
		res = InferResult{Provider: s.Provider, Endpoint: s.APIURL, SessionID: s.ID, Receipt: rc, Denom: s.Denom, SessionAmount: amt,
			Amount: s.price().Cost(rc.PromptTokens + rc.CompletionTokens)}
		// A one-off process ends here: keep the receipt (the gateway keeps it
		// until the next voucher; a lost one is fetched back, see resync).
		if err := s.save(); err != nil {
			g.log.Warn("persisting the receipt", "session", s.ID, "err", err)
		}
	}
	g.run(sink, hr, req)
	if got {
		// No next request may follow for a while: acknowledge the receipt
		// (the long-running gateway finalises idle sessions instead).
		g.mu.Lock()
		ls := g.sessions[res.SessionID]
		g.mu.Unlock()
		if ls != nil {
			ls.mu.Lock()
			g.acknowledge(ctx, ls.s)
			ls.mu.Unlock()
		}
	}
	if err := sink.failure(); err != nil {
		return InferResult{}, err
	}
	if !got {
		if ctx.Err() != nil {
			return InferResult{}, ctx.Err()
		}
		if req.answered != nil {
			return InferResult{}, fmt.Errorf("the response was not paid for: %w", req.answered)
		}
		return InferResult{}, errors.New("the response carried no verified receipt")
	}
	res.Text = sink.text.String()
	return res, nil
}

// inferSink is the http.ResponseWriter of Infer: it decodes the SSE stream
// as it is written, handing each text piece on, and keeps an error answer.
type inferSink struct {
	hdr    http.Header
	status int
	line   []byte
	raw    bytes.Buffer // a non-streamed (error) body
	text   strings.Builder
	errEv  *openai.ErrorBody
	onText func(string)
}

func (s *inferSink) Header() http.Header { return s.hdr }

func (s *inferSink) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}

func (s *inferSink) Flush() {}

func (s *inferSink) Write(p []byte) (int, error) {
	s.WriteHeader(http.StatusOK)
	if s.status != http.StatusOK || !strings.HasPrefix(s.hdr.Get("Content-Type"), "text/event-stream") {
		if s.raw.Len() < 1<<20 {
			s.raw.Write(p)
		}
		return len(p), nil
	}
	s.line = append(s.line, p...)
	for {
		i := bytes.IndexByte(s.line, '\n')
		if i < 0 {
			break
		}
		s.event(bytes.TrimRight(s.line[:i], "\r"))
		s.line = s.line[i+1:]
	}
	return len(p), nil
}

func (s *inferSink) event(line []byte) {
	data, ok := bytes.CutPrefix(line, []byte("data: "))
	if !ok || bytes.Equal(data, []byte("[DONE]")) {
		return
	}
	var ev struct {
		Choices []struct {
			Text  string `json:"text"`
			Delta struct {
				Content string `json:"content"`
			} `json:"delta"`
		} `json:"choices"`
		Error *openai.ErrorDetail `json:"error"`
	}
	if json.Unmarshal(data, &ev) != nil {
		return
	}
	if ev.Error != nil {
		s.errEv = &openai.ErrorBody{Error: *ev.Error}
		return
	}
	for _, c := range ev.Choices {
		piece := c.Text + c.Delta.Content
		if piece == "" {
			continue
		}
		s.text.WriteString(piece)
		if s.onText != nil {
			s.onText(piece)
		}
	}
}

func (s *inferSink) failure() error {
	var eb openai.ErrorBody
	switch {
	case s.errEv != nil:
		eb = *s.errEv
	case s.status != 0 && s.status != http.StatusOK:
		if json.Unmarshal(s.raw.Bytes(), &eb) != nil || eb.Error.Message == "" {
			eb.Error.Message = strings.TrimSpace(s.raw.String())
		}
	default:
		return nil
	}
	e := &InferError{Status: s.status, Message: eb.Error.Message}
	if eb.Error.Code != nil {
		e.Code = *eb.Error.Code
	}
	return e
}

// LockHome takes the exclusive lock of the gateway state under home
// (<home>/gateway/LOCK): one process at a time signs a home's vouchers.
// unlock releases it.
func LockHome(home string) (unlock func(), err error) {
	dir := filepath.Join(home, "gateway")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another `openledgerd gateway` or `infer` is using the session state in %s (%v): stop it, or send the request to that gateway", dir, err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
