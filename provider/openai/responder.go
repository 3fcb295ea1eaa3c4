package openai

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/openledger/openledger/inference/voucher"
)

// responder writes one response, streamed or not.
type responder struct {
	s            *Server
	w            http.ResponseWriter
	chat, stream bool
	id, model    string
	created      int64
	sent         strings.Builder
	started      bool
}

func (o *responder) begin() {
	h := o.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	o.w.WriteHeader(http.StatusOK)
	o.started = true
	if o.chat {
		o.event(o.chatChunk(&ChatDelta{Role: "assistant", Content: strp("")}, nil))
	}
}

func (o *responder) event(v any) {
	b, _ := json.Marshal(v)
	_, _ = o.w.Write([]byte("data: "))
	_, _ = o.w.Write(b)
	_, _ = o.w.Write([]byte("\n\n"))
	if f, ok := o.w.(http.Flusher); ok {
		f.Flush()
	}
}

func (o *responder) chatChunk(d *ChatDelta, finish *string) ChatCompletion {
	return ChatCompletion{ID: o.id, Object: "chat.completion.chunk", Created: o.created, Model: o.model,
		Choices: []ChatChoice{{Index: 0, Delta: d, FinishReason: finish}}}
}

func (o *responder) textChunk(text string, finish *string) Completion {
	return Completion{ID: o.id, Object: "text_completion", Created: o.created, Model: o.model,
		Choices: []CompletionChoice{{Text: text, Index: 0, FinishReason: finish}}}
}

func (o *responder) emit(piece string) error {
	if piece == "" {
		return nil
	}
	o.sent.WriteString(piece)
	if !o.stream {
		return nil
	}
	if o.chat {
		o.event(o.chatChunk(&ChatDelta{Content: strp(piece)}, nil))
	} else {
		o.event(o.textChunk(piece, nil))
	}
	return nil
}

func (o *responder) failed(e *apiError) {
	if !o.started {
		o.s.fail(o.w, e)
		return
	}
	body := ErrorBody{Error: ErrorDetail{Message: e.msg, Type: e.typ, Code: strp(e.code)}}
	o.event(body)
	_, _ = o.w.Write([]byte("data: [DONE]\n\n"))
}

// EncodeReceipt is the header and chunk form of a receipt: unpadded base64url.
func EncodeReceipt(r voucher.Receipt) string {
	return base64.RawURLEncoding.EncodeToString(r.Marshal())
}

// DecodeReceipt parses EncodeReceipt's form.
func DecodeReceipt(s string) (voucher.Receipt, error) {
	if len(s) > base64.RawURLEncoding.EncodedLen(voucher.MaxReceiptSize) {
		return voucher.Receipt{}, fmt.Errorf("%w: receipt too long", voucher.ErrMalformed)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return voucher.Receipt{}, fmt.Errorf("%w: %v", voucher.ErrMalformed, err)
	}
	return voucher.UnmarshalReceipt(b)
}

func (o *responder) finish(res GenResult, rc voucher.Receipt) {
	finish := res.FinishReason
	if finish == "" {
		finish = "stop"
	}
	usage := &Usage{PromptTokens: res.PromptTokens, CompletionTokens: res.CompletionTokens, TotalTokens: res.PromptTokens + res.CompletionTokens}
	ext := &Extension{Receipt: EncodeReceipt(rc), RequestSeq: rc.RequestSeq}
	if o.stream {
		if o.chat {
			o.event(o.chatChunk(&ChatDelta{}, &finish))
			c := o.chatChunk(nil, nil)
			c.Choices, c.Usage, c.Openledger = []ChatChoice{}, usage, ext
			o.event(c)
		} else {
			o.event(o.textChunk("", &finish))
			c := o.textChunk("", nil)
			c.Choices, c.Usage, c.Openledger = []CompletionChoice{}, usage, ext
			o.event(c)
		}
		_, _ = o.w.Write([]byte("data: [DONE]\n\n"))
		if f, ok := o.w.(http.Flusher); ok {
			f.Flush()
		}
		return
	}
	h := o.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set(HeaderReceipt, ext.Receipt)
	h.Set(HeaderRequestSeq, strconv.FormatUint(rc.RequestSeq, 10))
	var body any
	text := string(res.Output)
	if o.chat {
		body = ChatCompletion{ID: o.id, Object: "chat.completion", Created: o.created, Model: o.model, Usage: usage,
			Choices: []ChatChoice{{Index: 0, Message: &ChatDelta{Role: "assistant", Content: &text}, FinishReason: &finish}}}
	} else {
		body = Completion{ID: o.id, Object: "text_completion", Created: o.created, Model: o.model, Usage: usage,
			Choices: []CompletionChoice{{Text: text, Index: 0, FinishReason: &finish}}}
	}
	o.w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(o.w).Encode(body)
}
