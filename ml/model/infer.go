package model

import (
	"errors"
	"fmt"
)

// Cache is the key/value cache of one generation: keys and values of every
// processed position, per layer. It is bound to the adapter used to fill it.
type Cache struct {
	cfg    Config
	K, V   [][]float32 // per layer [context, d]
	Len    int         // positions filled
	single *Workspace  // n = 1 workspace for decoding
}

// NewCache returns an empty cache for cfg, able to hold rank-r adapters.
func NewCache(cfg Config, r int) *Cache {
	c := &Cache{cfg: cfg, K: make([][]float32, cfg.NLayers), V: make([][]float32, cfg.NLayers)}
	for l := range c.K {
		c.K[l] = make([]float32, cfg.ContextLen*cfg.DModel)
		c.V[l] = make([]float32, cfg.ContextLen*cfg.DModel)
	}
	c.single = NewWorkspace(cfg, 1, r)
	return c
}

// Reset empties the cache for reuse.
func (c *Cache) Reset() { c.Len = 0 }

// Forward appends tokens to the cache (a prefill when len(tokens) > 1, a
// decode step when 1) and writes the logits of the last token into logits
// (length VocabSize). Prefill and token-by-token decoding give bit-identical
// logits.
func Forward(p *Params, a *Adapter, c *Cache, tokens []int, logits []float32) error {
	if c == nil || c.cfg != p.Cfg {
		return errors.New("model: cache is nil or was built for another config")
	}
	if len(logits) != p.Cfg.VocabSize {
		return fmt.Errorf("model: logits buffer has %d entries, want %d", len(logits), p.Cfg.VocabSize)
	}
	if err := checkTokens(p.Cfg, tokens, c.Len); err != nil {
		return err
	}
	ws := c.single
	if len(tokens) > 1 {
		r := 0
		if a != nil {
			r = a.Cfg.Rank
		}
		ws = NewWorkspace(p.Cfg, len(tokens), r)
	}
	if err := checkAdapter(p.Cfg, a, ws); err != nil {
		return err
	}
	forward(p, a, ws, tokens, c.Len, c, false)
	c.Len += len(tokens)
	copy(logits, ws.logits[:p.Cfg.VocabSize])
	return nil
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
