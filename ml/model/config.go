// Package model is the engine's decoder-only transformer: float32 weights, a
// hand-written forward and backward pass with a fixed summation order, rank-r
// LoRA adapters on its projections, and KV-cache inference.
//
// Architecture (GPT-2 style): token embedding + learned position embedding;
// NLayers blocks of pre-LayerNorm multi-head causal self-attention and a GELU
// (tanh approximation) MLP, each with a residual connection; a final
// LayerNorm; output logits through the tied token embedding.
//
// Determinism: every reduction is computed by one goroutine in a fixed
// order, every product that is summed is rounded explicitly to float32
// before the addition (so no fused multiply-add can change the result), and
// exponentials use the package's own float64 routine. Given the same weights
// and inputs the outputs are bit-identical on every run and on every machine
// of the same architecture.
package model

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Position encodings: a learned position embedding (GPT-2), or rotary
// embeddings (RoPE, base 10000, rotating interleaved pairs of each head's
// query and key dimensions; no position parameters).
const (
	PositionsLearned = "learned"
	PositionsRotary  = "rotary"
)

// Config describes a model's shape.
type Config struct {
	VocabSize  int     `json:"vocab_size"`
	ContextLen int     `json:"context_len"`
	DModel     int     `json:"d_model"`
	NLayers    int     `json:"n_layers"`
	NHeads     int     `json:"n_heads"`
	DFF        int     `json:"d_ff"`
	Positions  string  `json:"positions"`
	LNEps      float32 `json:"ln_eps"`
}

// Limits accepted by Validate.
const (
	MaxVocab   = 1 << 20
	MaxContext = 1 << 14
	MaxDModel  = 1 << 13
	MaxLayers  = 256
	MaxParams  = 1 << 31
)

// Validate checks that c describes a model this engine can build.
func (c Config) Validate() error {
	switch {
	case c.VocabSize < 2 || c.VocabSize > MaxVocab:
		return fmt.Errorf("model config: vocab_size %d out of range [2, %d]", c.VocabSize, MaxVocab)
	case c.ContextLen < 1 || c.ContextLen > MaxContext:
		return fmt.Errorf("model config: context_len %d out of range [1, %d]", c.ContextLen, MaxContext)
	case c.DModel < 1 || c.DModel > MaxDModel:
		return fmt.Errorf("model config: d_model %d out of range [1, %d]", c.DModel, MaxDModel)
	case c.NLayers < 1 || c.NLayers > MaxLayers:
		return fmt.Errorf("model config: n_layers %d out of range [1, %d]", c.NLayers, MaxLayers)
	case c.NHeads < 1 || c.DModel%c.NHeads != 0:
		return fmt.Errorf("model config: n_heads %d must be positive and divide d_model %d", c.NHeads, c.DModel)
	case c.DFF < 1 || c.DFF > 8*MaxDModel:
		return fmt.Errorf("model config: d_ff %d out of range [1, %d]", c.DFF, 8*MaxDModel)
	case c.Positions != PositionsLearned && c.Positions != PositionsRotary:
		return fmt.Errorf("model config: positions %q is not supported (want %q or %q)", c.Positions, PositionsLearned, PositionsRotary)
	case c.Positions == PositionsRotary && c.HeadDim()%2 != 0:
		return fmt.Errorf("model config: rotary positions need an even head dimension (d_model/n_heads = %d)", c.HeadDim())
	case !(c.LNEps > 0 && c.LNEps < 1):
		return fmt.Errorf("model config: ln_eps %v must be in (0, 1)", c.LNEps)
	}
	if n := c.NumParams(); n > MaxParams {
		return fmt.Errorf("model config: %d parameters exceed the limit %d", n, MaxParams)
	}
	return nil
}

// HeadDim is DModel / NHeads.
func (c Config) HeadDim() int { return c.DModel / c.NHeads }

// NumParams returns the number of float32 parameters.
func (c Config) NumParams() int {
	d, f := c.DModel, c.DFF
	perLayer := 2*d + 3*d*d + 3*d + d*d + d + 2*d + f*d + f + d*f + d
	pos := c.ContextLen * d
	if c.Positions == PositionsRotary {
		pos = 0
	}
	return c.VocabSize*d + pos + c.NLayers*perLayer + 2*d
}

// Digest returns the hex sha256 of the config's canonical JSON.
func (c Config) Digest() string {
	b, _ := json.Marshal(c)
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Preset returns a named configuration for the given vocabulary size:
// "tiny" (tests, ~0.1M parameters), "1m" (~1M), "10m" (~10M).
func Preset(name string, vocab int) (Config, error) {
	c := Config{VocabSize: vocab, Positions: PositionsLearned, LNEps: 1e-5}
	switch name {
	case "tiny":
		c.ContextLen, c.DModel, c.NLayers, c.NHeads, c.DFF = 64, 64, 2, 4, 256
	case "1m":
		c.ContextLen, c.DModel, c.NLayers, c.NHeads, c.DFF = 128, 128, 4, 4, 512
	case "10m":
		c.ContextLen, c.DModel, c.NLayers, c.NHeads, c.DFF = 256, 320, 8, 8, 1280
	default:
		return Config{}, fmt.Errorf("unknown model preset %q (want tiny, 1m or 10m)", name)
	}
	return c, c.Validate()
}

// ParseConfig decodes and validates a JSON config.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("model config: %w", err)
	}
	if c.Positions == "" {
		c.Positions = PositionsLearned
	}
	if c.LNEps == 0 {
		c.LNEps = 1e-5
	}
	return c, c.Validate()
}
