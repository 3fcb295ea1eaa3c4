package openai

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/openledger/openledger/ml/train"
)

// Headers of the protocol (docs/openai-api.md).
const (
	HeaderVoucher    = "X-Openledger-Voucher"
	HeaderReceipt    = "X-Openledger-Receipt"
	HeaderRequestSeq = "X-Openledger-Request-Seq"
)

// Message is a chat message. Content is a string or an array of text parts
// on the wire; it is kept as the concatenated text.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// UnmarshalJSON accepts a string content or an array of {"type":"text","text":…} parts.
func (m *Message) UnmarshalJSON(b []byte) error {
	var raw struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
		Name    string          `json:"name"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	m.Role = raw.Role
	if len(raw.Content) == 0 || string(raw.Content) == "null" {
		m.Content = ""
		return nil
	}
	if raw.Content[0] == '"' {
		return json.Unmarshal(raw.Content, &m.Content)
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw.Content, &parts); err != nil {
		return fmt.Errorf("content: want a string or an array of text parts")
	}
	var sb strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return fmt.Errorf("content part of type %q is not supported", p.Type)
		}
		sb.WriteString(p.Text)
	}
	m.Content = sb.String()
	return nil
}

// StreamOptions are the OpenAI stream options.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// Request is the body of POST /v1/completions and /v1/chat/completions (the
// fields this API reads; others are ignored as OpenAI-compatible servers do).
type Request struct {
	Model               string          `json:"model"`
	Prompt              json.RawMessage `json:"prompt,omitempty"`
	Messages            []Message       `json:"messages,omitempty"`
	MaxTokens           *uint64         `json:"max_tokens,omitempty"`
	MaxCompletionTokens *uint64         `json:"max_completion_tokens,omitempty"`
	Temperature         *float64        `json:"temperature,omitempty"`
	TopP                *float64        `json:"top_p,omitempty"`
	TopK                *int            `json:"top_k,omitempty"`
	Seed                *int64          `json:"seed,omitempty"`
	Stop                json.RawMessage `json:"stop,omitempty"`
	Stream              bool            `json:"stream,omitempty"`
	StreamOptions       *StreamOptions  `json:"stream_options,omitempty"`
	N                   *int            `json:"n,omitempty"`
	Logprobs            json.RawMessage `json:"logprobs,omitempty"`
	Tools               json.RawMessage `json:"tools,omitempty"`
	Echo                bool            `json:"echo,omitempty"`
	User                string          `json:"user,omitempty"`
}

// PromptText is the completions prompt: a string or an array of one string.
func (r *Request) PromptText() (string, error) {
	if len(r.Prompt) == 0 {
		return "", errors.New("prompt is required")
	}
	var s string
	if err := json.Unmarshal(r.Prompt, &s); err == nil {
		return s, nil
	}
	var a []string
	if err := json.Unmarshal(r.Prompt, &a); err != nil || len(a) != 1 {
		return "", errors.New("prompt must be a string (or an array of exactly one string)")
	}
	return a[0], nil
}

// StopList is the stop field: a string or an array of strings (at most 4).
func (r *Request) StopList() ([]string, error) {
	if len(r.Stop) == 0 || string(r.Stop) == "null" {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(r.Stop, &s); err == nil {
		return []string{s}, nil
	}
	var a []string
	if err := json.Unmarshal(r.Stop, &a); err != nil || len(a) > 4 {
		return nil, errors.New("stop must be a string or an array of at most 4 strings")
	}
	return a, nil
}

// Completion limit: max_completion_tokens, else max_tokens, else def.
func (r *Request) Completion(def uint64) uint64 {
	switch {
	case r.MaxCompletionTokens != nil:
		return *r.MaxCompletionTokens
	case r.MaxTokens != nil:
		return *r.MaxTokens
	}
	return def
}

// PromptBound is the request's prompt token bound without a tokenizer
// (docs/openai-api.md): the prompt's bytes, or for chat Σ(len(role) +
// len(content) + 8) over the messages plus the generation prompt
// "<|assistant|>\n" (14 bytes) — at least the bytes of RenderChat.
func PromptBound(chat bool, prompt string, msgs []Message) uint64 {
	if !chat {
		return uint64(len(prompt))
	}
	n := uint64(len(chatGenPrompt))
	for _, m := range msgs {
		n += uint64(len(m.Role)+len(m.Content)) + 8
	}
	return n
}

// DeploymentOf parses a model name: the deployment id in decimal.
func DeploymentOf(model string) (uint64, bool) {
	id, err := strconv.ParseUint(model, 10, 64)
	return id, err == nil && id > 0
}

// Usage is the OpenAI usage object.
type Usage struct {
	PromptTokens     uint64 `json:"prompt_tokens"`
	CompletionTokens uint64 `json:"completion_tokens"`
	TotalTokens      uint64 `json:"total_tokens"`
}

// Completion is a non-streamed /v1/completions response.
type Completion struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"`
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []CompletionChoice `json:"choices"`
	Usage   *Usage             `json:"usage,omitempty"`
	// Openledger is set only in the last streamed chunk.
	Openledger *Extension `json:"openledger,omitempty"`
}

// CompletionChoice is a completions choice.
type CompletionChoice struct {
	Text         string    `json:"text"`
	Index        int       `json:"index"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

// ChatCompletion is a non-streamed chat response or a streamed chunk.
type ChatCompletion struct {
	ID         string       `json:"id"`
	Object     string       `json:"object"`
	Created    int64        `json:"created"`
	Model      string       `json:"model"`
	Choices    []ChatChoice `json:"choices"`
	Usage      *Usage       `json:"usage,omitempty"`
	Openledger *Extension   `json:"openledger,omitempty"`
}

// ChatChoice is a chat choice: Message when complete, Delta in a chunk.
type ChatChoice struct {
	Index        int        `json:"index"`
	Message      *ChatDelta `json:"message,omitempty"`
	Delta        *ChatDelta `json:"delta,omitempty"`
	Logprobs     *struct{}  `json:"logprobs"`
	FinishReason *string    `json:"finish_reason"`
}

// ChatDelta is a message or a delta.
type ChatDelta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

// Extension is the `openledger` field of the last streamed chunk.
type Extension struct {
	Receipt    string `json:"receipt"`
	RequestSeq uint64 `json:"request_seq"`
}

// ErrorBody is the OpenAI error object.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// Model list entries.
type modelList struct {
	Object string      `json:"object"`
	Data   []modelInfo `json:"data"`
}

type modelInfo struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// RenderChat is the default chat template of the built-in engine
// (docs/openai-api.md): each message as "<|role|>\ncontent\n", then
// "<|assistant|>\n". ChatStop ends the completion at the next turn. The
// template is ml/train's, the one SFT and DPO fine-tunes train chat records
// with, so a served chat is rendered exactly as the model learnt it.
func RenderChat(msgs []Message) string {
	tm := make([]train.Message, len(msgs))
	for i, m := range msgs {
		tm[i] = train.Message{Role: m.Role, Content: m.Content}
	}
	return train.RenderChat(tm)
}

// chatGenPrompt ends a rendered chat: the assistant's turn to generate.
const chatGenPrompt = train.ChatGenPrompt

// ChatStop is the stop sequence the built-in engine's chat template adds: the
// end of a trained assistant turn (train.ChatTurnEnd).
const ChatStop = train.ChatTurnEnd
