package generate

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/openledger/openledger/ml/model"
)

// Score is how likely a completion is under a model, teacher-forced after a
// prompt: at each completion position the model's next-token distribution q
// (softmax of the logits divided by the temperature, no top-k/top-p cut) is
// computed from the true prefix, and the completion's token is looked up in it.
type Score struct {
	// PromptTokens is the prompt's length; Tokens the completion tokens
	// scored (the completion, cut where the context ends); Truncated the
	// completion tokens left unscored past the context.
	PromptTokens, Tokens, Truncated int
	// LogLik is the sum over scored positions of ln q(token), in nats.
	LogLik float64
	// Entropy is the sum over scored positions of the entropy of q, in nats:
	// the log-likelihood's expected negative for a completion sampled from q.
	Entropy float64
	// Variance is the sum over scored positions of the variance of the
	// surprisal −ln q(token) under q: the variance of −LogLik for a
	// completion sampled from q.
	Variance float64
}

// MeanNLL is the mean negative log-likelihood per scored token (nats).
func (s Score) MeanNLL() float64 {
	if s.Tokens == 0 {
		return 0
	}
	return -s.LogLik / float64(s.Tokens)
}

// Excess is the mean surprise beyond the model's own uncertainty, in nats
// per token: (−LogLik − Entropy) / Tokens. A completion sampled from q has an
// expected excess of 0 (below 0 when top-k, top-p or a lower temperature cut
// the tail); text the model did not produce scores well above it.
func (s Score) Excess() float64 {
	if s.Tokens == 0 {
		return 0
	}
	return (-s.LogLik - s.Entropy) / float64(s.Tokens)
}

// Z is the completion's surprise beyond the model's entropy in standard
// deviations of a sample's: (−LogLik − Entropy) / √Variance. For a completion
// sampled from q it is about standard normal (by the central limit theorem,
// whatever the model's quality); text the model did not produce drifts
// upward with its length. 0 when nothing was scored or q is deterministic.
func (s Score) Z() float64 {
	if s.Tokens == 0 || s.Variance <= 0 {
		return 0
	}
	return (-s.LogLik - s.Entropy) / math.Sqrt(s.Variance)
}

// ScoreTokens scores completion after prompt under base weights p with
// optional adapter a, at the given temperature (0 scores at 1: greedy
// decoding draws from the untempered distribution's mode). It runs the
// prompt as one prefill and the completion token by token, the work of
// generating it.
func ScoreTokens(ctx context.Context, p *model.Params, a *model.Adapter, prompt, completion []int, temperature float64) (Score, error) {
	if len(prompt) == 0 {
		return Score{}, errors.New("generate: score: empty prompt")
	}
	if len(prompt) >= p.Cfg.ContextLen {
		return Score{}, fmt.Errorf("generate: score: prompt has %d tokens; the context holds %d", len(prompt), p.Cfg.ContextLen)
	}
	if math.IsNaN(temperature) || temperature < 0 || temperature > 100 {
		return Score{}, fmt.Errorf("generate: score: temperature %v out of range [0, 100]", temperature)
	}
	if temperature == 0 {
		temperature = 1
	}
	for _, t := range completion {
		if t < 0 || t >= p.Cfg.VocabSize {
			return Score{}, fmt.Errorf("generate: score: token %d outside the vocabulary of %d", t, p.Cfg.VocabSize)
		}
	}
	r := 0
	if a != nil {
		r = a.Cfg.Rank
	}
	cache := model.NewCache(p.Cfg, r)
	logits := make([]float32, p.Cfg.VocabSize)
	if err := model.Forward(p, a, cache, prompt, logits); err != nil {
		return Score{}, err
	}
	s := Score{PromptTokens: len(prompt)}
	for i, tok := range completion {
		if err := ctx.Err(); err != nil {
			return Score{}, err
		}
		lq, h, v := surprisal(logits, tok, temperature)
		s.LogLik += lq
		s.Entropy += h
		s.Variance += v
		s.Tokens++
		if i == len(completion)-1 {
			break
		}
		if cache.Len >= p.Cfg.ContextLen {
			s.Truncated = len(completion) - s.Tokens
			break
		}
		if err := model.Forward(p, a, cache, []int{tok}, logits); err != nil {
			return Score{}, err
		}
	}
	return s, nil
}

// surprisal returns ln q(tok), the entropy of q = softmax(logits/T) and the
// variance of −ln q under q, computed in float64.
func surprisal(logits []float32, tok int, temp float64) (lq, h, variance float64) {
	mx := math.Inf(-1)
	for _, l := range logits {
		mx = max(mx, float64(l)/temp)
	}
	var z float64
	for _, l := range logits {
		z += math.Exp(float64(l)/temp - mx)
	}
	lz := math.Log(z)
	var m2 float64
	for _, l := range logits {
		lp := float64(l)/temp - mx - lz
		if pr := math.Exp(lp); pr > 0 {
			h -= pr * lp
			m2 += pr * lp * lp
		}
	}
	return float64(logits[tok])/temp - mx - lz, h, max(0, m2-h*h)
}
