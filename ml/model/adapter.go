package model

import (
	"fmt"
	"math"

	"github.com/openledger/openledger/ml/rng"
)

// LoRA targets: the projections an adapter may attach to.
const (
	TargetQKV  = "qkv"  // fused query/key/value projection (GPT-2 c_attn)
	TargetO    = "o"    // attention output projection
	TargetFC   = "fc"   // MLP up projection
	TargetProj = "proj" // MLP down projection
)

var targetIndex = map[string]int{TargetQKV: 0, TargetO: 1, TargetFC: 2, TargetProj: 3}
var targetNames = [4]string{TargetQKV, TargetO, TargetFC, TargetProj}

// AdapterConfig describes a LoRA adapter: W' = W + (Alpha/Rank) * B A.
type AdapterConfig struct {
	Rank    int      `json:"rank"`
	Alpha   float32  `json:"alpha"`
	Targets []string `json:"targets"`
}

// DefaultTargets are the attention projections.
var DefaultTargets = []string{TargetQKV, TargetO}

// LoRA is one rank-r adapter pair: A is [r, in], B is [out, r].
type LoRA struct {
	A, B    []float32
	In, Out int
}

// Adapter is a set of LoRA pairs over a base model, in one flat vector.
type Adapter struct {
	Cfg    AdapterConfig
	Base   Config
	Data   []float32
	Layers [][4]*LoRA // per layer, indexed qkv, o, fc, proj; nil when absent
	Scale  float32
	specs  []TensorSpec
}

// Validate checks an adapter config against a base config.
func (ac AdapterConfig) Validate(base Config) error {
	if ac.Rank < 1 || ac.Rank > base.DModel {
		return fmt.Errorf("lora: rank %d out of range [1, %d]", ac.Rank, base.DModel)
	}
	if !(ac.Alpha > 0) || math.IsInf(float64(ac.Alpha), 0) {
		return fmt.Errorf("lora: alpha %v must be positive", ac.Alpha)
	}
	if len(ac.Targets) == 0 {
		return fmt.Errorf("lora: no targets (choose from qkv, o, fc, proj)")
	}
	seen := map[string]bool{}
	for _, t := range ac.Targets {
		if _, ok := targetIndex[t]; !ok {
			return fmt.Errorf("lora: unknown target %q (choose from qkv, o, fc, proj)", t)
		}
		if seen[t] {
			return fmt.Errorf("lora: target %q listed twice", t)
		}
		seen[t] = true
	}
	return nil
}

// NewAdapter returns a zero adapter (B = 0, A = 0) for base.
func NewAdapter(base Config, ac AdapterConfig) (*Adapter, error) {
	if err := base.Validate(); err != nil {
		return nil, err
	}
	if err := ac.Validate(base); err != nil {
		return nil, err
	}
	ac.Targets = append([]string(nil), ac.Targets...)
	a := &Adapter{Cfg: ac, Base: base, Scale: ac.Alpha / float32(ac.Rank)}
	d, f, r := base.DModel, base.DFF, ac.Rank
	dims := [4][2]int{{d, 3 * d}, {d, d}, {d, f}, {f, d}} // in, out
	var present [4]bool
	for _, t := range ac.Targets {
		present[targetIndex[t]] = true
	}
	n := 0
	for l := 0; l < base.NLayers; l++ {
		for k := 0; k < 4; k++ {
			if present[k] {
				in, out := dims[k][0], dims[k][1]
				pre := fmt.Sprintf("h.%d.%s.", l, targetPath(k))
				a.specs = append(a.specs,
					TensorSpec{Name: pre + "lora_a", Shape: []int{r, in}, Off: n, Len: r * in},
					TensorSpec{Name: pre + "lora_b", Shape: []int{out, r}, Off: n + r*in, Len: out * r})
				n += r*in + out*r
			}
		}
	}
	a.Data = make([]float32, n)
	a.Layers = make([][4]*LoRA, base.NLayers)
	i := 0
	for l := 0; l < base.NLayers; l++ {
		for k := 0; k < 4; k++ {
			if present[k] {
				sa, sb := a.specs[i], a.specs[i+1]
				a.Layers[l][k] = &LoRA{A: a.Data[sa.Off : sa.Off+sa.Len], B: a.Data[sb.Off : sb.Off+sb.Len], In: dims[k][0], Out: dims[k][1]}
				i += 2
			}
		}
	}
	return a, nil
}

func targetPath(k int) string {
	switch k {
	case 0:
		return "attn.qkv"
	case 1:
		return "attn.o"
	case 2:
		return "mlp.fc"
	default:
		return "mlp.proj"
	}
}

// Specs returns the adapter's tensor layout.
func (a *Adapter) Specs() []TensorSpec { return a.specs }

// Init sets A uniform in ±1/sqrt(in) from seed and B to zero, so a fresh
// adapter leaves the base model's outputs unchanged.
func (a *Adapter) Init(seed uint64) {
	r := rng.New(seed)
	for _, s := range a.specs {
		v := a.Data[s.Off : s.Off+s.Len]
		if hasSuffix(s.Name, "lora_b") {
			fill(v, 0)
			continue
		}
		bound := 1 / math.Sqrt(float64(s.Shape[1]))
		uniform(r, v, bound/math.Sqrt(3))
	}
}

// Clone returns a deep copy.
func (a *Adapter) Clone() *Adapter {
	b, _ := NewAdapter(a.Base, a.Cfg)
	copy(b.Data, a.Data)
	return b
}

// ZeroLike returns a zero adapter with a's layout (for gradients).
func (a *Adapter) ZeroLike() *Adapter {
	b, _ := NewAdapter(a.Base, a.Cfg)
	return b
}

// Merge returns a copy of base with the adapter folded into its weights:
// W += Scale * B A, each element a canonical sequential sum over the rank.
func Merge(base *Params, a *Adapter) (*Params, error) {
	if base.Cfg != a.Base {
		return nil, fmt.Errorf("lora: adapter was built for a different base config")
	}
	out := base.Clone()
	for l := range out.Layers {
		ws := [4][]float32{out.Layers[l].QKVW, out.Layers[l].OW, out.Layers[l].FCW, out.Layers[l].PW}
		for k, lo := range a.Layers[l] {
			if lo == nil {
				continue
			}
			r := a.Cfg.Rank
			w := ws[k]
			for o := 0; o < lo.Out; o++ {
				bo := lo.B[o*r : o*r+r]
				for i := 0; i < lo.In; i++ {
					var s float32
					for j, bv := range bo {
						s += float32(bv * lo.A[j*lo.In+i])
					}
					w[o*lo.In+i] += float32(a.Scale * s)
				}
			}
		}
	}
	return out, nil
}

// TargetNames lists the valid LoRA targets.
func TargetNames() []string { return targetNames[:] }
