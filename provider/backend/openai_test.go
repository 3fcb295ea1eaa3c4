package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The bodies below are what the real servers send, byte for byte up to ids and
// timestamps: vLLM's /v1/completions (JSON and SSE with a final usage chunk),
// OpenAI's chat chunks (role delta first, empty delta with finish_reason, usage
// chunk with no choices), llama.cpp's error object.

const vllmCompletion = `{"id":"cmpl-5f0c2b1e9a7d4c3b","object":"text_completion","created":1718000000,"model":"tiny","choices":[{"index":0,"text":" world, and all","logprobs":null,"finish_reason":"length","stop_reason":null,"prompt_logprobs":null}],"usage":{"prompt_tokens":3,"total_tokens":8,"completion_tokens":5,"prompt_tokens_details":null},"service_tier":null,"system_fingerprint":null,"kv_transfer_params":null}`

const vllmStream = "data: {\"id\":\"cmpl-9d\",\"object\":\"text_completion\",\"created\":1718000000,\"model\":\"tiny\",\"choices\":[{\"index\":0,\"text\":\" world\",\"logprobs\":null,\"finish_reason\":null,\"stop_reason\":null}],\"usage\":null}\n\n" +
	": keep-alive\n\n" +
	"data: {\"id\":\"cmpl-9d\",\"object\":\"text_completion\",\"created\":1718000000,\"model\":\"tiny\",\"choices\":[{\"index\":0,\"text\":\", and\",\"logprobs\":null,\"finish_reason\":null,\"stop_reason\":null}],\"usage\":null}\n\n" +
	"data: {\"id\":\"cmpl-9d\",\"object\":\"text_completion\",\"created\":1718000000,\"model\":\"tiny\",\"choices\":[{\"index\":0,\"text\":\" all\",\"logprobs\":null,\"finish_reason\":\"length\",\"stop_reason\":null}],\"usage\":null}\n\n" +
	"data: {\"id\":\"cmpl-9d\",\"object\":\"text_completion\",\"created\":1718000000,\"model\":\"tiny\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"total_tokens\":8,\"completion_tokens\":5}}\n\n" +
	"data: [DONE]\n\n"

const chatCompletion = `{"id":"chatcmpl-AB12","object":"chat.completion","created":1718000000,"model":"tiny","choices":[{"index":0,"message":{"role":"assistant","content":" world, and all","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8},"system_fingerprint":"fp_44709d6fcb"}`

// chatStream uses CRLF line endings, which the SSE grammar allows.
const chatStream = "data: {\"id\":\"chatcmpl-AB12\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,\"model\":\"tiny\",\"system_fingerprint\":\"fp_44709d6fcb\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\r\n\r\n" +
	"data: {\"id\":\"chatcmpl-AB12\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,\"model\":\"tiny\",\"system_fingerprint\":\"fp_44709d6fcb\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" world,\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\r\n\r\n" +
	"data: {\"id\":\"chatcmpl-AB12\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,\"model\":\"tiny\",\"system_fingerprint\":\"fp_44709d6fcb\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" and all\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\r\n\r\n" +
	"data: {\"id\":\"chatcmpl-AB12\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,\"model\":\"tiny\",\"system_fingerprint\":\"fp_44709d6fcb\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}\r\n\r\n" +
	"data: {\"id\":\"chatcmpl-AB12\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,\"model\":\"tiny\",\"system_fingerprint\":\"fp_44709d6fcb\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":5,\"total_tokens\":8}}\r\n\r\n" +
	"data: [DONE]\r\n\r\n"

const llamaCppError = `{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error","n_prompt_tokens":4100,"n_ctx":4096}}`

// fakeServer is a minimal OpenAI-compatible server. handle answers POSTs under
// /v1; GET /version answers version when set.
type fakeServer struct {
	t       *testing.T
	version string
	handle  func(w http.ResponseWriter, r *http.Request, body map[string]any)
	posts   atomic.Int32
	last    atomic.Value // map[string]any
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		if r.URL.Path == "/version" && f.version != "" {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"version":%q}`, f.version)
			return
		}
		http.NotFound(w, r)
		return
	}
	f.posts.Add(1)
	b, _ := io.ReadAll(r.Body)
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		f.t.Errorf("request body is not JSON: %s", b)
	}
	body["_path"] = r.URL.Path
	body["_auth"] = r.Header.Get("Authorization")
	f.last.Store(body)
	f.handle(w, r, body)
}

func newFake(t *testing.T, version string, handle func(http.ResponseWriter, *http.Request, map[string]any)) (*fakeServer, string) {
	f := &fakeServer{t: t, version: version, handle: handle}
	s := httptest.NewServer(f)
	t.Cleanup(s.Close)
	return f, s.URL
}

func writeJSON(body string) func(http.ResponseWriter, *http.Request, map[string]any) {
	return func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}
}

// writeSSE sends the stream in small pieces with flushes, as a server does.
func writeSSE(stream string) func(http.ResponseWriter, *http.Request, map[string]any) {
	return func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		fl := w.(http.Flusher)
		for i := 0; i < len(stream); i += 37 {
			io.WriteString(w, stream[i:min(i+37, len(stream))])
			fl.Flush()
		}
	}
}

var testReq = Request{
	Prompt: "Hello", Model: "tiny", MaxNewTokens: 5,
	Params: Params{Temperature: 0.7, TopK: 40, TopP: 0.9, Seed: 7, Stop: []string{"\n\n"}},
}

func mustOpenAI(t *testing.T, cfg OpenAIConfig) *OpenAI {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "vllm"
	}
	o, err := NewOpenAI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestOpenAIWireFormats(t *testing.T) {
	cases := []struct {
		name        string
		chat        bool
		stream      bool
		handle      func(http.ResponseWriter, *http.Request, map[string]any)
		wantPath    string
		wantVersion string
	}{
		{"completions json", false, false, writeJSON(vllmCompletion), "/v1/completions", "0.6.3"},
		{"completions sse", false, true, writeSSE(vllmStream), "/v1/completions", "0.6.3"},
		{"chat json", true, false, writeJSON(chatCompletion), "/v1/chat/completions", "0.6.3"},
		{"chat sse crlf", true, true, writeSSE(chatStream), "/v1/chat/completions", "0.6.3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, url := newFake(t, "0.6.3", tc.handle)
			o := mustOpenAI(t, OpenAIConfig{BaseURL: url + "/v1", Chat: tc.chat, Stream: tc.stream, APIKey: "k"})
			res, err := o.Generate(context.Background(), testReq)
			if err != nil {
				t.Fatal(err)
			}
			if string(res.Output) != " world, and all" || res.PromptTokens != 3 || res.CompletionTokens != 5 {
				t.Fatalf("got %q prompt %d completion %d", res.Output, res.PromptTokens, res.CompletionTokens)
			}
			if res.EngineName != "vllm" || res.EngineVersion != tc.wantVersion || res.FinishReason == "" {
				t.Fatalf("engine %s %s finish %q", res.EngineName, res.EngineVersion, res.FinishReason)
			}
			body := f.last.Load().(map[string]any)
			if body["_path"] != tc.wantPath || body["_auth"] != "Bearer k" {
				t.Fatalf("path %v auth %v", body["_path"], body["_auth"])
			}
			want := map[string]any{"model": "tiny", "max_tokens": 5.0, "temperature": 0.7, "top_p": 0.9, "top_k": 40.0, "seed": 7.0, "stream": tc.stream}
			for k, v := range want {
				if body[k] != v {
					t.Fatalf("request %s = %v, want %v (body %v)", k, body[k], v, body)
				}
			}
			if stop, _ := body["stop"].([]any); len(stop) != 1 || stop[0] != "\n\n" {
				t.Fatalf("stop %v", body["stop"])
			}
			if tc.chat {
				msgs, _ := body["messages"].([]any)
				if len(msgs) != 1 || msgs[0].(map[string]any)["content"] != "Hello" || body["prompt"] != nil {
					t.Fatalf("chat body %v", body)
				}
			} else if body["prompt"] != "Hello" {
				t.Fatalf("prompt %v", body["prompt"])
			}
			if so, _ := body["stream_options"].(map[string]any); tc.stream != (so != nil && so["include_usage"] == true) {
				t.Fatalf("stream_options %v", body["stream_options"])
			}
		})
	}
}

func TestOpenAIBaseURLWithoutV1(t *testing.T) {
	f, url := newFake(t, "1", writeJSON(vllmCompletion))
	o := mustOpenAI(t, OpenAIConfig{BaseURL: url + "/"})
	if _, err := o.Generate(context.Background(), testReq); err != nil {
		t.Fatal(err)
	}
	if p := f.last.Load().(map[string]any)["_path"]; p != "/v1/completions" {
		t.Fatalf("path %v", p)
	}
}

func TestOpenAIEngineVersion(t *testing.T) {
	// Configured: the server is not asked.
	_, url := newFake(t, "0.6.3", writeJSON(vllmCompletion))
	res, err := mustOpenAI(t, OpenAIConfig{BaseURL: url, EngineVersion: "b4100"}).Generate(context.Background(), testReq)
	if err != nil || res.EngineVersion != "b4100" {
		t.Fatalf("%v %q", err, res.EngineVersion)
	}
	// Ollama: GET /api/version.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/version", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, `{"version":"0.3.12"}`) })
	mux.HandleFunc("POST /v1/completions", func(w http.ResponseWriter, r *http.Request) { writeJSON(vllmCompletion)(w, r, nil) })
	s := httptest.NewServer(mux)
	defer s.Close()
	res, err = mustOpenAI(t, OpenAIConfig{Name: "ollama", BaseURL: s.URL}).Generate(context.Background(), testReq)
	if err != nil || res.EngineVersion != "0.3.12" {
		t.Fatalf("%v %q", err, res.EngineVersion)
	}
	// No version endpoint: the system_fingerprint.
	_, url = newFake(t, "", writeJSON(chatCompletion))
	res, err = mustOpenAI(t, OpenAIConfig{BaseURL: url, Chat: true}).Generate(context.Background(), testReq)
	if err != nil || res.EngineVersion != "fp_44709d6fcb" {
		t.Fatalf("%v %q", err, res.EngineVersion)
	}
	// Nothing at all: a clear error.
	_, url = newFake(t, "", writeJSON(vllmCompletion))
	_, err = mustOpenAI(t, OpenAIConfig{BaseURL: url}).Generate(context.Background(), testReq)
	if !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), "engine version unknown") {
		t.Fatalf("%v", err)
	}
}

func TestOpenAIFailures(t *testing.T) {
	hugeText := strings.Repeat("x", 2<<20)
	cases := []struct {
		name   string
		stream bool
		handle func(http.ResponseWriter, *http.Request, map[string]any)
		want   string
	}{
		{"openai error object", false, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"message":"This model's maximum context length is 2048 tokens.","type":"invalid_request_error","param":"max_tokens","code":null}}`)
		}, "HTTP 400: This model's maximum context length is 2048 tokens. (invalid_request_error)"},
		{"llama.cpp error", false, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, llamaCppError)
		}, "exceeds the available context size"},
		{"old vllm error", false, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"object":"error","message":"The model `+"`nope`"+` does not exist.","type":"NotFoundError","param":null,"code":404}`)
		}, "HTTP 404: The model `nope` does not exist."},
		{"tgi error", false, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
			w.WriteHeader(http.StatusUnprocessableEntity)
			io.WriteString(w, `{"error":"Input validation error: `+"`max_new_tokens`"+` must be <= 1024","error_type":"validation"}`)
		}, "HTTP 422: Input validation error"},
		{"html 502", false, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html><body>Bad Gateway</body></html>")
		}, "HTTP 502"},
		{"garbage json", false, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
			io.WriteString(w, "<html>hello</html>")
		}, "not a completion"},
		{"no choices", false, writeJSON(`{"id":"x","object":"text_completion","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":0}}`), "no choices"},
		{"no usage", false, writeJSON(`{"id":"x","object":"text_completion","choices":[{"index":0,"text":"a","finish_reason":"length"}]}`), "no token usage"},
		{"too large", false, writeJSON(`{"choices":[{"index":0,"text":"` + hugeText + `"}]}`), "larger than the configured limit"},
		{"truncated stream", true, writeSSE(vllmStream[:strings.Index(vllmStream, "data: [DONE]")]), "without data: [DONE] (truncated)"},
		{"cut mid-chunk", true, writeSSE(vllmStream[:120]), "truncated"},
		{"garbage stream", true, writeSSE("data: {\"choices\":[{\"index\":0,\"text\":\"a\"}]}\n\ndata: {not json}\n\n"), "stream chunk 2 is not JSON"},
		{"not sse", true, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "hello there\n")
		}, "not server-sent events"},
		{"error in stream", true, writeSSE("data: {\"choices\":[{\"index\":0,\"text\":\"a\"}]}\n\ndata: {\"error\":{\"message\":\"CUDA out of memory\",\"type\":\"InternalServerError\"}}\n\n"), "server error: CUDA out of memory"},
		{"stream without usage", true, writeSSE("data: {\"choices\":[{\"index\":0,\"text\":\"a\",\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n"), "no token usage"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, url := newFake(t, "1", tc.handle)
			o := mustOpenAI(t, OpenAIConfig{BaseURL: url, Stream: tc.stream, MaxResponseBytes: 1 << 20})
			_, err := o.Generate(context.Background(), testReq)
			if !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrBackend with %q", err, tc.want)
			}
		})
	}
}

// A server that accepts the request and never answers (or stops mid-stream) is
// cut off by the backend's timeout or the caller's deadline.
func TestOpenAIHangingServer(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	hang := func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
	stall := func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"choices\":[{\"index\":0,\"text\":\"a\"}]}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
	for _, tc := range []struct {
		name   string
		stream bool
		h      func(http.ResponseWriter, *http.Request, map[string]any)
	}{{"no response", false, hang}, {"stalled stream", true, stall}} {
		t.Run(tc.name, func(t *testing.T) {
			_, url := newFake(t, "1", tc.h)
			o := mustOpenAI(t, OpenAIConfig{BaseURL: url, Stream: tc.stream, Timeout: 200 * time.Millisecond})
			start := time.Now()
			_, err := o.Generate(context.Background(), testReq)
			if !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), "deadline") {
				t.Fatalf("got %v", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("took %s", d)
			}
			// The caller's deadline works the same way.
			o = mustOpenAI(t, OpenAIConfig{BaseURL: url, Stream: tc.stream})
			ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
			defer cancel()
			if _, err := o.Generate(ctx, testReq); !errors.Is(err, ErrBackend) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestOpenAIUnreachable(t *testing.T) {
	s := httptest.NewServer(http.NotFoundHandler())
	url := s.URL
	s.Close()
	_, err := mustOpenAI(t, OpenAIConfig{BaseURL: url}).Generate(context.Background(), testReq)
	if !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), "POST /completions") {
		t.Fatalf("got %v", err)
	}
}

func TestNewOpenAIValidates(t *testing.T) {
	if _, err := NewOpenAI(OpenAIConfig{Name: "vllm", BaseURL: "localhost:8000"}); err == nil {
		t.Fatal("URL without scheme accepted")
	}
	if _, err := NewOpenAI(OpenAIConfig{BaseURL: "http://x"}); err == nil {
		t.Fatal("empty name accepted")
	}
}
