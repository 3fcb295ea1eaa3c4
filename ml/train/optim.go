package train

import (
	"math"

	"github.com/openledger/openledger/ml/model"
)

// LearningRate returns the rate for step s (0-based) of a run: linear
// warm-up to peak over warmup steps, then cosine decay to minLR at the last
// step.
func LearningRate(s, steps, warmup int, peak, minLR float64) float64 {
	if s < warmup {
		return peak * float64(s+1) / float64(warmup)
	}
	span := steps - warmup
	if span <= 1 {
		return peak
	}
	progress := float64(s-warmup) / float64(span-1)
	return minLR + float64(float64(0.5*(peak-minLR))*(1+model.Cos(float64(math.Pi*progress))))
}

// GlobalNorm is the L2 norm of g, summed sequentially in float64.
func GlobalNorm(g []float32) float64 {
	var s float64
	for _, v := range g {
		x := float64(v)
		s += float64(x * x)
	}
	return math.Sqrt(s)
}

// adamW is decoupled-weight-decay Adam over a flat parameter vector. Decay
// applies where mask is true (matrices; not biases or LayerNorm gains).
type adamW struct {
	m, v  []float32
	decay []bool
	step  int
}

func newAdamW(n int, specs []model.TensorSpec) *adamW {
	a := &adamW{m: make([]float32, n), v: make([]float32, n), decay: make([]bool, n)}
	for _, s := range specs {
		if len(s.Shape) == 2 {
			for i := s.Off; i < s.Off+s.Len; i++ {
				a.decay[i] = true
			}
		}
	}
	return a
}

// update applies one AdamW step with gradient g scaled by gscale (for
// clipping). Every operation is per element, rounded explicitly.
func (a *adamW) update(p, g []float32, gscale, lr float64, h Hyper) {
	a.step++
	b1, b2 := h.Beta1, h.Beta2
	c1, c2 := 1-powInt(b1, a.step), 1-powInt(b2, a.step)
	for i, gv := range g {
		gi := float64(float64(gv) * gscale)
		m := float64(b1*float64(a.m[i])) + float64((1-b1)*gi)
		v := float64(b2*float64(a.v[i])) + float64(float64((1-b2)*gi)*gi)
		a.m[i], a.v[i] = float32(m), float32(v)
		mh := float64(a.m[i]) / c1
		vh := float64(a.v[i]) / c2
		upd := mh / float64(math.Sqrt(vh)+h.Eps)
		if a.decay[i] {
			upd += float64(h.WeightDecay * float64(p[i]))
		}
		p[i] = float32(float64(p[i]) - float64(lr*upd))
	}
}

// powInt is x^n by repeated multiplication (exact same rounding everywhere).
func powInt(x float64, n int) float64 {
	r := 1.0
	for i := 0; i < n; i++ {
		r *= x
	}
	return r
}
