package lora

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/openledger/openledger/ml/model"
)

// ExampleGrad is the gradient of one example's mean next-token loss with
// respect to the adapter parameters, laid out as adapter.Specs() describes
// (the same layout as Adapter.Data).
type ExampleGrad struct {
	Loss   float64 // mean token loss (nats)
	Tokens int     // predicted tokens
	Grad   []float32
}

// PerExampleGradients computes, for every example (a token sequence of at
// least 2 tokens, at most context+1), the gradient of its mean next-token
// loss with respect to the LoRA parameters of a, with the base p frozen.
// Examples are spread over workers goroutines (0: NumCPU); each gradient is
// computed by one goroutine, so results do not depend on the worker count.
// With a freshly initialised adapter (B = 0) only the B gradients are
// non-zero; use a trained adapter (or a checkpointed one, for TracIn) to get
// gradients over all LoRA parameters.
func PerExampleGradients(ctx context.Context, p *model.Params, a *model.Adapter, examples [][]int, workers int) ([]ExampleGrad, error) {
	if a == nil {
		return nil, errors.New("lora: per-example gradients need an adapter")
	}
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	for i, ex := range examples {
		if len(ex) < 2 || len(ex)-1 > p.Cfg.ContextLen {
			return nil, fmt.Errorf("lora: example %d has %d tokens; need 2..%d", i, len(ex), p.Cfg.ContextLen+1)
		}
	}
	out := make([]ExampleGrad, len(examples))
	errs := make([]error, len(examples))
	var wg sync.WaitGroup
	for w := 0; w < min(workers, len(examples)); w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			wss := map[int]*model.Workspace{}
			for i := w; i < len(examples); i += workers {
				if ctx.Err() != nil {
					errs[i] = ctx.Err()
					return
				}
				ex := examples[i]
				n := len(ex) - 1
				ws := wss[n]
				if ws == nil {
					ws = model.NewWorkspace(p.Cfg, n, a.Cfg.Rank)
					wss[n] = ws
				}
				g := a.ZeroLike()
				loss, _, err := model.Grad(p, a, ws, ex, nil, g, float32(1/float64(n)))
				out[i], errs[i] = ExampleGrad{Loss: loss / float64(n), Tokens: n, Grad: g.Data}, err
			}
		}(w)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Dot is the canonical float64 dot product of two gradients (sequential
// sum over the common length), for influence scores such as TracIn.
func Dot(x, y []float32) float64 {
	var s float64
	for i := range min(len(x), len(y)) {
		s += float64(float64(x[i]) * float64(y[i]))
	}
	return s
}
