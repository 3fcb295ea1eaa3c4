package train

import (
	"errors"
	"sync"

	"github.com/openledger/openledger/ml/model"
)

// Evaluate returns the mean next-token loss (nats) of tokens over up to
// maxWindows consecutive non-overlapping windows of seqLen predictions, and
// the number of predicted tokens. Windows are evaluated in parallel and
// summed in window order.
func Evaluate(p *model.Params, a *model.Adapter, tokens []int, seqLen, maxWindows, workers int) (float64, int, error) {
	if len(tokens) < 2 {
		return 0, 0, errors.New("train: evaluation needs at least 2 tokens")
	}
	if seqLen < 1 || seqLen > p.Cfg.ContextLen {
		seqLen = p.Cfg.ContextLen
	}
	L := min(seqLen, len(tokens)-1)
	count := min(max(maxWindows, 1), (len(tokens)-1)/L)
	workers = max(1, min(workers, count))
	rank := 0
	if a != nil {
		rank = a.Cfg.Rank
	}
	losses := make([]float64, count)
	errs := make([]error, count)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			ws := model.NewWorkspace(p.Cfg, L, rank)
			for k := w; k < count; k += workers {
				losses[k], _, errs[k] = model.Loss(p, a, ws, tokens[k*L:k*L+L+1])
			}
		}(w)
	}
	wg.Wait()
	var total float64
	for k := range losses {
		if errs[k] != nil {
			return 0, 0, errs[k]
		}
		total += losses[k]
	}
	return total / float64(count*L), count * L, nil
}

// Perplexity is exp(loss).
func Perplexity(loss float64) float64 { return model.Exp(loss) }
