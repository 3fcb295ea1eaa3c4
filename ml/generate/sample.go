// Package generate produces text from a model: prefill of the prompt into a
// KV cache, then token-by-token decoding with greedy or seeded sampling.
//
// Sampling is stated exactly so anyone can reproduce it. With temperature 0
// the next token is the arg-max logit (lowest id on ties). Otherwise the
// logits are divided by the temperature (float64); if top-k or top-p is set
// the candidates are ordered by that value, descending, ties by id, and
// truncated to the first k, then to the shortest prefix whose probability
// mass reaches top-p; probabilities are exp(z - max) (the engine's Exp)
// summed sequentially in candidate order; one uniform u in [0, 1) is drawn
// from SplitMix64 seeded with the request seed, one draw per sampled token,
// and the first candidate whose running sum exceeds u*total is chosen.
package generate

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/rng"
)

// Params are the sampling parameters of one request.
type Params struct {
	MaxTokens   int      `json:"max_tokens"`
	Temperature float64  `json:"temperature"`
	TopK        int      `json:"top_k"`
	TopP        float64  `json:"top_p"`
	Seed        uint64   `json:"seed"`
	Stop        []string `json:"stop,omitempty"`
}

// Limits on request parameters.
const (
	MaxNewTokens = 1 << 16
	MaxStops     = 16
)

// Validate checks the parameters. TopP 0 means 1 (disabled).
func (p Params) Validate() error {
	switch {
	case p.MaxTokens < 1 || p.MaxTokens > MaxNewTokens:
		return fmt.Errorf("generate: max tokens %d out of range [1, %d]", p.MaxTokens, MaxNewTokens)
	case math.IsNaN(p.Temperature) || p.Temperature < 0 || p.Temperature > 100:
		return fmt.Errorf("generate: temperature %v out of range [0, 100]", p.Temperature)
	case p.TopK < 0:
		return fmt.Errorf("generate: top-k %d must not be negative", p.TopK)
	case math.IsNaN(p.TopP) || p.TopP < 0 || p.TopP > 1:
		return fmt.Errorf("generate: top-p %v out of range (0, 1]", p.TopP)
	case len(p.Stop) > MaxStops:
		return fmt.Errorf("generate: %d stop sequences, at most %d", len(p.Stop), MaxStops)
	}
	for _, s := range p.Stop {
		if s == "" {
			return errors.New("generate: empty stop sequence")
		}
	}
	return nil
}

// Sampler draws tokens from logits according to Params.
type Sampler struct {
	p    Params
	r    *rng.SplitMix64
	idx  []int
	prob []float64
}

// NewSampler returns a sampler for p (which must be valid).
func NewSampler(p Params) *Sampler { return &Sampler{p: p, r: rng.New(p.Seed)} }

// Next returns the next token for logits.
func (s *Sampler) Next(logits []float32) int {
	if s.p.Temperature == 0 {
		return argmax(logits)
	}
	inv := 1 / s.p.Temperature
	z := func(i int) float64 { return float64(float64(logits[i]) * inv) }
	topP := s.p.TopP
	if topP == 0 {
		topP = 1
	}
	s.idx = s.idx[:0]
	for i := range logits {
		s.idx = append(s.idx, i)
	}
	if s.p.TopK > 0 || topP < 1 {
		slices.SortFunc(s.idx, func(a, b int) int {
			za, zb := z(a), z(b)
			switch {
			case za > zb:
				return -1
			case za < zb:
				return 1
			}
			return a - b
		})
		if s.p.TopK > 0 && s.p.TopK < len(s.idx) {
			s.idx = s.idx[:s.p.TopK]
		}
	}
	mx := math.Inf(-1)
	for _, i := range s.idx {
		mx = math.Max(mx, z(i))
	}
	s.prob = s.prob[:0]
	var total float64
	for _, i := range s.idx {
		e := model.Exp(z(i) - mx)
		s.prob = append(s.prob, e)
		total += e
	}
	if topP < 1 {
		var acc float64
		for k, e := range s.prob {
			acc += e
			if acc >= topP*total {
				s.idx, s.prob, total = s.idx[:k+1], s.prob[:k+1], acc
				break
			}
		}
	}
	u := float64(s.r.Float64() * total)
	var acc float64
	for k, e := range s.prob {
		acc += e
		if acc > u {
			return s.idx[k]
		}
	}
	return s.idx[len(s.idx)-1]
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
