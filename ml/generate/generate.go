package generate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/tokenizer"
)

// Finish reasons.
const (
	FinishStop   = "stop"   // a stop sequence was produced
	FinishLength = "length" // max tokens or the context length was reached
)

// Result is one completion with its token counts.
type Result struct {
	Text             string `json:"text"`
	Tokens           []int  `json:"tokens"`
	PromptTokens     int    `json:"prompt_tokens"`
	CompletionTokens int    `json:"completion_tokens"`
	FinishReason     string `json:"finish_reason"`
}

// Options are hooks that do not change the result.
type Options struct {
	// OnLogits, when set, sees the logits each token was drawn from.
	OnLogits func(step int, logits []float32)
	// OnToken, when set, sees every generated token as soon as it is drawn
	// (for streaming). Stop-sequence trimming applies only to the Result, so
	// a streaming caller should hold back text that may begin a stop sequence.
	OnToken func(id int, piece []byte)
	// OnText, when set, receives the completion's text as soon as it is
	// final (Text only): after each token, the new text that is whole UTF-8
	// characters and cannot be the start of a stop sequence. The
	// concatenation of the pieces is always a prefix of Result.Text, and
	// valid UTF-8; what is held back (a possible stop sequence that did not
	// complete, a byte sequence that is not UTF-8 and everything after it)
	// is only in the Result.
	OnText func(piece string)
}

// Tokens generates up to params.MaxTokens tokens after prompt with base
// weights p and optional adapter a (nil for the base model). It stops early
// when the context is full (finish reason "length"). Stop sequences are
// handled by Text.
func Tokens(ctx context.Context, p *model.Params, a *model.Adapter, prompt []int, params Params, opt Options) ([]int, string, error) {
	return run(ctx, p, a, prompt, params, opt, nil)
}

func run(ctx context.Context, p *model.Params, a *model.Adapter, prompt []int, params Params, opt Options, onToken func(int) bool) ([]int, string, error) {
	if err := params.Validate(); err != nil {
		return nil, "", err
	}
	if len(prompt) == 0 {
		return nil, "", errors.New("generate: empty prompt")
	}
	if len(prompt) >= p.Cfg.ContextLen {
		return nil, "", fmt.Errorf("generate: prompt has %d tokens; the context holds %d, leaving no room to generate", len(prompt), p.Cfg.ContextLen)
	}
	r := 0
	if a != nil {
		r = a.Cfg.Rank
	}
	cache := model.NewCache(p.Cfg, r)
	logits := make([]float32, p.Cfg.VocabSize)
	if err := model.Forward(p, a, cache, prompt, logits); err != nil {
		return nil, "", err
	}
	s := NewSampler(params)
	var out []int
	for step := 0; ; step++ {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		if opt.OnLogits != nil {
			opt.OnLogits(step, logits)
		}
		tok := s.Next(logits)
		out = append(out, tok)
		if onToken != nil && !onToken(tok) {
			return out, FinishStop, nil
		}
		if len(out) >= params.MaxTokens || cache.Len >= p.Cfg.ContextLen {
			return out, FinishLength, nil
		}
		if err := model.Forward(p, a, cache, []int{tok}, logits); err != nil {
			return nil, "", err
		}
	}
}

// Text generates a completion of the prompt string. With stop sequences,
// generation ends as soon as the decoded completion contains one; the text
// is cut before it, and the token counts include every generated token.
func Text(ctx context.Context, p *model.Params, a *model.Adapter, tok *tokenizer.Tokenizer, prompt string, params Params, opt Options) (*Result, error) {
	if tok.VocabSize() != p.Cfg.VocabSize {
		return nil, fmt.Errorf("generate: tokenizer vocabulary %d does not match the model's %d", tok.VocabSize(), p.Cfg.VocabSize)
	}
	ids := tok.EncodeString(prompt)
	var text []byte
	cut := -1
	var onToken func(int) bool
	if opt.OnToken != nil || opt.OnText != nil || len(params.Stop) > 0 {
		st := streamer{stop: params.Stop, emit: opt.OnText}
		onToken = func(t int) bool {
			piece := tok.Piece(t)
			if opt.OnToken != nil {
				opt.OnToken(t, piece)
			}
			text = append(text, piece...)
			for _, s := range params.Stop {
				if i := bytes.Index(text, []byte(s)); i >= 0 && (cut < 0 || i < cut) {
					cut = i
				}
			}
			st.advance(text, cut)
			return cut < 0
		}
	}
	out, finish, err := run(ctx, p, a, ids, params, opt, onToken)
	if err != nil {
		return nil, err
	}
	if cut >= 0 {
		text = text[:cut]
	} else if text, err = tok.Decode(out); err != nil {
		return nil, err
	}
	return &Result{Text: string(text), Tokens: out, PromptTokens: len(ids), CompletionTokens: len(out), FinishReason: finish}, nil
}

// streamer hands Options.OnText the final part of the text as it grows.
type streamer struct {
	stop    []string
	emit    func(string)
	sent    int  // bytes of the text handed on
	stalled bool // an invalid UTF-8 sequence: nothing more is streamed
}

// advance hands on the text up to the stop sequence found at cut (-1: none
// yet), holding back a suffix that may begin a stop sequence and an
// incomplete character.
func (s *streamer) advance(text []byte, cut int) {
	if s.emit == nil || s.stalled {
		return
	}
	limit := cut
	if limit < 0 {
		limit = len(text) - s.holdback(text)
	}
	end := s.sent
	for end < limit {
		r, size := utf8.DecodeRune(text[end:limit])
		if r == utf8.RuneError && size <= 1 {
			if utf8.FullRune(text[end:limit]) {
				s.stalled = true // not UTF-8: the rest comes with the Result
			}
			break
		}
		end += size
	}
	if end > s.sent {
		s.emit(string(text[s.sent:end]))
		s.sent = end
	}
}

// holdback is the length of the longest suffix of text that is a proper
// prefix of a stop sequence.
func (s *streamer) holdback(text []byte) int {
	n := 0
	for _, stop := range s.stop {
		for k := min(len(stop)-1, len(text)); k > n; k-- {
			if bytes.HasSuffix(text, []byte(stop[:k])) {
				n = k
				break
			}
		}
	}
	return n
}
