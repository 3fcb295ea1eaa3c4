package backend

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// OpenAIConfig configures an OpenAI-compatible backend.
type OpenAIConfig struct {
	// Name is the engine name recorded in receipts: vllm, llama.cpp, ollama,
	// tgi, sglang, …
	Name string
	// BaseURL is the server's API root, e.g. http://127.0.0.1:8000/v1 ("/v1" is
	// added when missing).
	BaseURL string
	// Model is the model name sent to the server ("" : Request.Model).
	Model string
	// APIKey, when set, is sent as a bearer token.
	APIKey string
	// Chat uses /chat/completions with the prompt as one user message instead
	// of /completions.
	Chat bool
	// Stream asks for server-sent events (`stream: true`) and reads the chunks.
	Stream bool
	// EngineVersion recorded in receipts; "" asks the server (GET /version,
	// /api/version, /info) and falls back to the response's system_fingerprint.
	EngineVersion string
	// Timeout bounds each request, response included (default 10 min).
	Timeout time.Duration
	// MaxResponseBytes bounds the bytes read from one response (default 8 MiB).
	MaxResponseBytes int64
	// HTTPClient, when set, replaces the default client (no timeout of its own:
	// requests are bounded by their context).
	HTTPClient *http.Client
}

// OpenAI is a backend over an OpenAI-compatible HTTP server.
type OpenAI struct {
	cfg     OpenAIConfig
	api     string // base URL ending in /v1
	root    string // base URL without /v1
	client  *http.Client
	mu      sync.Mutex
	version string // discovered engine version ("" until found)
	probed  time.Time
}

// NewOpenAI returns a backend for the server at cfg.BaseURL. Nothing is sent
// until the first request.
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) {
	if cfg.Name == "" {
		return nil, errors.New("backend: an OpenAI-compatible backend needs an engine name")
	}
	u := strings.TrimRight(cfg.BaseURL, "/")
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return nil, fmt.Errorf("backend %s: base URL %q is not an http(s) URL", cfg.Name, cfg.BaseURL)
	}
	root := strings.TrimSuffix(u, "/v1")
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 8 << 20
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Transport: http.DefaultTransport}
	}
	return &OpenAI{cfg: cfg, api: root + "/v1", root: root, client: client}, nil
}

// Info implements Backend.
func (o *OpenAI) Info() Info { return Info{Name: o.cfg.Name, Local: false} }

// completionRequest is the body of POST /v1/completions and /v1/chat/completions.
type completionRequest struct {
	Model         string         `json:"model"`
	Prompt        string         `json:"prompt,omitempty"`
	Messages      []chatMessage  `json:"messages,omitempty"`
	MaxTokens     int            `json:"max_tokens"`
	Temperature   float64        `json:"temperature"`
	TopP          float64        `json:"top_p,omitempty"`
	TopK          int            `json:"top_k,omitempty"`
	Seed          uint64         `json:"seed"`
	Stop          []string       `json:"stop,omitempty"`
	Stream        bool           `json:"stream"`
	StreamOptions *streamOptions `json:"stream_options,omitempty"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// completionResponse is a response or one streamed chunk.
type completionResponse struct {
	Object            string     `json:"object"`
	Model             string     `json:"model"`
	SystemFingerprint string     `json:"system_fingerprint"`
	Choices           []choice   `json:"choices"`
	Usage             *usage     `json:"usage"`
	Error             *errorBody `json:"error"`
}

type choice struct {
	Index        int          `json:"index"`
	Text         *string      `json:"text"`
	Message      *chatContent `json:"message"`
	Delta        *chatContent `json:"delta"`
	FinishReason *string      `json:"finish_reason"`
}

type chatContent struct {
	Content *string `json:"content"`
}

type usage struct {
	PromptTokens     *uint64 `json:"prompt_tokens"`
	CompletionTokens *uint64 `json:"completion_tokens"`
}

// errorBody is the OpenAI error object: {"error": {"message", "type", "code"}}.
type errorBody struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    any    `json:"code"`
}

// Generate implements Backend.
func (o *OpenAI) Generate(ctx context.Context, req Request) (Response, error) {
	if req.MaxNewTokens < 1 {
		return Response{}, errorf("%s: max new tokens %d", o.cfg.Name, req.MaxNewTokens)
	}
	modelName := o.cfg.Model
	if modelName == "" {
		modelName = req.Model
	}
	body := completionRequest{
		Model: modelName, MaxTokens: req.MaxNewTokens, Temperature: req.Params.Temperature,
		TopK: req.Params.TopK, Seed: req.Params.Seed, Stop: req.Params.Stop, Stream: o.cfg.Stream,
	}
	if req.Params.TopP > 0 && req.Params.TopP < 1 {
		body.TopP = req.Params.TopP
	}
	path := "/completions"
	if o.cfg.Chat {
		path = "/chat/completions"
		body.Messages = []chatMessage{{Role: "user", Content: req.Prompt}}
	} else {
		body.Prompt = req.Prompt
	}
	if o.cfg.Stream {
		body.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	bz, err := json.Marshal(body)
	if err != nil {
		return Response{}, errorf("%s: encoding the request: %v", o.cfg.Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, o.api+path, bytes.NewReader(bz))
	if err != nil {
		return Response{}, errorf("%s: %v", o.cfg.Name, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	if o.cfg.Stream {
		hreq.Header.Set("Accept", "text/event-stream")
	} else {
		hreq.Header.Set("Accept", "application/json")
	}
	if o.cfg.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+o.cfg.APIKey)
	}
	resp, err := o.client.Do(hreq)
	if err != nil {
		return Response{}, o.transportErr(ctx, "POST "+path, err)
	}
	defer resp.Body.Close()
	lr := &limitedReader{r: resp.Body, left: o.cfg.MaxResponseBytes}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(lr)
		return Response{}, errorf("%s: POST %s: HTTP %d: %s", o.cfg.Name, path, resp.StatusCode, errorMessage(b))
	}
	var out result
	// A server that ignores `stream: true` answers one JSON object.
	if o.cfg.Stream && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		err = o.readStream(lr, &out)
	} else {
		err = o.readJSON(lr, &out)
	}
	if err != nil {
		if ctx.Err() != nil {
			return Response{}, o.transportErr(ctx, "POST "+path, err)
		}
		return Response{}, err
	}
	if out.prompt == nil || out.completion == nil {
		return Response{}, errorf("%s: the server reported no token usage (prompt_tokens and completion_tokens are required to bill the job)", o.cfg.Name)
	}
	version, err := o.engineVersion(ctx, out.fingerprint)
	if err != nil {
		return Response{}, err
	}
	return Response{
		Output: out.text.Bytes(), PromptTokens: *out.prompt, CompletionTokens: *out.completion,
		FinishReason: out.finish, EngineName: o.cfg.Name, EngineVersion: version,
	}, nil
}

// result accumulates a response.
type result struct {
	text        bytes.Buffer
	finish      string
	prompt      *uint64
	completion  *uint64
	fingerprint string
}

func (o *OpenAI) take(r *result, c *completionResponse, stream bool) error {
	if c.Error != nil {
		return errorf("%s: server error: %s", o.cfg.Name, describe(c.Error))
	}
	if c.SystemFingerprint != "" {
		r.fingerprint = c.SystemFingerprint
	}
	if c.Usage != nil {
		if c.Usage.PromptTokens != nil {
			r.prompt = c.Usage.PromptTokens
		}
		if c.Usage.CompletionTokens != nil {
			r.completion = c.Usage.CompletionTokens
		}
	}
	for _, ch := range c.Choices {
		if ch.Index != 0 {
			continue // one completion per request; ignore any other
		}
		var piece *string
		switch {
		case ch.Text != nil:
			piece = ch.Text
		case stream && ch.Delta != nil:
			piece = ch.Delta.Content
		case !stream && ch.Message != nil:
			piece = ch.Message.Content
		}
		if piece != nil {
			r.text.WriteString(*piece)
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			r.finish = *ch.FinishReason
		}
	}
	return nil
}

func (o *OpenAI) readJSON(r *limitedReader, out *result) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return errorf("%s: reading the response: %v", o.cfg.Name, err)
	}
	var c completionResponse
	if err := json.Unmarshal(b, &c); err != nil {
		return errorf("%s: the response is not a completion (%v): %q", o.cfg.Name, err, clip(b, 200))
	}
	if c.Error == nil && len(c.Choices) == 0 {
		return errorf("%s: the response has no choices: %q", o.cfg.Name, clip(b, 200))
	}
	if err := o.take(out, &c, false); err != nil {
		return err
	}
	if c.Choices[0].Text == nil && (c.Choices[0].Message == nil || c.Choices[0].Message.Content == nil) {
		return errorf("%s: the response's first choice has no text", o.cfg.Name)
	}
	return nil
}

// readStream reads server-sent events: each event's `data:` lines (joined by
// newlines) hold one JSON chunk; `data: [DONE]` ends the stream. Comments
// (lines starting with ':') and other fields (event, id, retry) are skipped. A
// stream that ends without [DONE] is truncated.
func (o *OpenAI) readStream(r *limitedReader, out *result) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var data []string
	chunks := 0
	dispatch := func() (bool, error) {
		if len(data) == 0 {
			return false, nil
		}
		payload := strings.Join(data, "\n")
		data = data[:0]
		if strings.TrimSpace(payload) == "[DONE]" {
			return true, nil
		}
		var c completionResponse
		if err := json.Unmarshal([]byte(payload), &c); err != nil {
			return false, errorf("%s: stream chunk %d is not JSON (%v): %q", o.cfg.Name, chunks+1, err, clip([]byte(payload), 200))
		}
		chunks++
		return false, o.take(out, &c, true)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return errorf("%s: reading the stream after %d chunks: %v", o.cfg.Name, chunks, err)
		}
		eof := errors.Is(err, io.EOF)
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if done, derr := dispatch(); derr != nil || done {
				return derr
			}
		case strings.HasPrefix(line, ":"):
			// comment / keep-alive
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "data":
				data = append(data, value)
			case "event", "id", "retry":
			default:
				return errorf("%s: the stream is not server-sent events (line %q)", o.cfg.Name, clip([]byte(line), 100))
			}
		}
		if eof {
			// An event not ended by a blank line is incomplete and discarded (SSE).
			if len(data) == 1 && strings.TrimSpace(data[0]) == "[DONE]" {
				return nil // [DONE] without its closing blank line
			}
			what := ""
			if len(data) > 0 {
				what = ", in the middle of an event"
			}
			return errorf("%s: the stream ended after %d chunks%s without data: [DONE] (truncated)", o.cfg.Name, chunks, what)
		}
	}
}

// engineVersion returns the configured version, else the server's (asked once a
// minute at most until found), else the response's system_fingerprint.
func (o *OpenAI) engineVersion(ctx context.Context, fingerprint string) (string, error) {
	if o.cfg.EngineVersion != "" {
		return o.cfg.EngineVersion, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.version == "" && time.Since(o.probed) > time.Minute {
		o.probed = time.Now()
		o.version = o.probeVersion(ctx)
	}
	if o.version != "" {
		return o.version, nil
	}
	if fingerprint != "" {
		return fingerprint, nil
	}
	return "", errorf("%s: engine version unknown: the server answers none of GET /version, /api/version, /info and sends no system_fingerprint; set the backend's engine version in the configuration", o.cfg.Name)
}

// probeVersion asks GET /version (vLLM, SGLang), /api/version (Ollama) and /info
// (TGI) for a JSON object with a "version" string.
func (o *OpenAI) probeVersion(ctx context.Context) string {
	for _, p := range []string{"/version", "/api/version", "/info"} {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v := o.getVersion(pctx, o.root+p)
		cancel()
		if v != "" {
			return v
		}
	}
	return ""
}

func (o *OpenAI) getVersion(ctx context.Context, url string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return ""
	}
	if o.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+o.cfg.APIKey)
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	var v struct {
		Version string `json:"version"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&v) != nil {
		return ""
	}
	return strings.TrimSpace(v.Version)
}

func (o *OpenAI) transportErr(ctx context.Context, what string, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errorf("%s: %s: no complete response before the deadline (server hung or too slow): %v", o.cfg.Name, what, err)
	}
	if ctx.Err() != nil {
		return errorf("%s: %s: cancelled: %v", o.cfg.Name, what, err)
	}
	return errorf("%s: %s: %v", o.cfg.Name, what, err)
}

// limitedReader fails once more than left bytes are read.
type limitedReader struct {
	r    io.Reader
	left int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			return 0, errors.New("response larger than the configured limit")
		}
		return l.r.Read(p)
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// errorMessage extracts the message of an error response: the OpenAI object
// {"error": {"message": …}}, the older vLLM {"object": "error", "message": …},
// or the raw body.
func errorMessage(b []byte) string {
	var e struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(b, &e) == nil {
		var eb errorBody
		if len(e.Error) > 0 && json.Unmarshal(e.Error, &eb) == nil && eb.Message != "" {
			return describe(&eb)
		}
		var s string
		if len(e.Error) > 0 && json.Unmarshal(e.Error, &s) == nil && s != "" {
			return s // TGI: {"error": "…", "error_type": "…"}
		}
		if e.Message != "" {
			return e.Message
		}
	}
	return fmt.Sprintf("%q", clip(b, 200))
}

func describe(e *errorBody) string {
	s := e.Message
	if e.Type != "" {
		s += " (" + e.Type + ")"
	}
	return s
}

func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
