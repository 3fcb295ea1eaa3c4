package model

import (
	"fmt"
	"math"

	"github.com/openledger/openledger/ml/rng"
)

// TensorSpec names one tensor inside a flat parameter vector.
type TensorSpec struct {
	Name  string
	Shape []int
	Off   int
	Len   int
}

// Layer holds views of one block's weights. Matrices are row-major
// [out, in] (each output's weights are contiguous).
type Layer struct {
	LN1G, LN1B []float32 // [d]
	QKVW       []float32 // [3d, d]: query, key, value rows
	QKVB       []float32 // [3d]
	OW         []float32 // [d, d]
	OB         []float32 // [d]
	LN2G, LN2B []float32 // [d]
	FCW        []float32 // [dff, d]
	FCB        []float32 // [dff]
	PW         []float32 // [d, dff]
	PB         []float32 // [d]
}

// Params is a model's parameters (or gradients of them) in one flat vector
// with named views.
type Params struct {
	Cfg    Config
	Data   []float32
	Wte    []float32 // [vocab, d], tied with the output projection
	Wpe    []float32 // [context, d]; nil with rotary positions
	Layers []Layer
	LNFG   []float32
	LNFB   []float32
	specs  []TensorSpec
	rope   *ropeTable // rotary positions only
}

// NewParams returns zero parameters for cfg (which must be valid).
func NewParams(cfg Config) *Params {
	p := &Params{Cfg: cfg, Data: make([]float32, cfg.NumParams())}
	p.bind()
	return p
}

// Specs returns the tensor layout, in the fixed order used for
// initialisation and serialisation.
func (p *Params) Specs() []TensorSpec { return p.specs }

// Tensor returns the view of the named tensor, or nil.
func (p *Params) Tensor(name string) []float32 {
	for _, s := range p.specs {
		if s.Name == name {
			return p.Data[s.Off : s.Off+s.Len]
		}
	}
	return nil
}

// Clone returns a deep copy.
func (p *Params) Clone() *Params {
	q := NewParams(p.Cfg)
	copy(q.Data, p.Data)
	return q
}

func (p *Params) bind() {
	c := p.Cfg
	d, f := c.DModel, c.DFF
	off := 0
	p.specs = p.specs[:0]
	take := func(name string, shape ...int) []float32 {
		n := 1
		for _, s := range shape {
			n *= s
		}
		p.specs = append(p.specs, TensorSpec{Name: name, Shape: shape, Off: off, Len: n})
		v := p.Data[off : off+n : off+n]
		off += n
		return v
	}
	p.Wte = take("wte", c.VocabSize, d)
	if c.Positions == PositionsRotary {
		p.Wpe, p.rope = nil, newRopeTable(c)
	} else {
		p.Wpe = take("wpe", c.ContextLen, d)
	}
	p.Layers = make([]Layer, c.NLayers)
	for i := range p.Layers {
		l := &p.Layers[i]
		pre := fmt.Sprintf("h.%d.", i)
		l.LN1G = take(pre+"ln1.g", d)
		l.LN1B = take(pre+"ln1.b", d)
		l.QKVW = take(pre+"attn.qkv.w", 3*d, d)
		l.QKVB = take(pre+"attn.qkv.b", 3*d)
		l.OW = take(pre+"attn.o.w", d, d)
		l.OB = take(pre+"attn.o.b", d)
		l.LN2G = take(pre+"ln2.g", d)
		l.LN2B = take(pre+"ln2.b", d)
		l.FCW = take(pre+"mlp.fc.w", f, d)
		l.FCB = take(pre+"mlp.fc.b", f)
		l.PW = take(pre+"mlp.proj.w", d, f)
		l.PB = take(pre+"mlp.proj.b", d)
	}
	p.LNFG = take("lnf.g", d)
	p.LNFB = take("lnf.b", d)
}

// Init fills p with the engine's initialisation from seed: LayerNorm gains 1,
// biases 0, weights uniform with standard deviation 0.02 (residual output
// projections scaled by 1/sqrt(2*NLayers)), drawn from SplitMix64 in Specs
// order.
func (p *Params) Init(seed uint64) {
	r := rng.New(seed)
	std := 0.02
	resid := std / math.Sqrt(2*float64(p.Cfg.NLayers))
	for _, s := range p.specs {
		v := p.Data[s.Off : s.Off+s.Len]
		switch {
		case hasSuffix(s.Name, ".g"):
			fill(v, 1)
		case hasSuffix(s.Name, ".b"):
			fill(v, 0)
		case hasSuffix(s.Name, "attn.o.w"), hasSuffix(s.Name, "mlp.proj.w"):
			uniform(r, v, resid)
		default:
			uniform(r, v, std)
		}
	}
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

func fill(v []float32, x float32) {
	for i := range v {
		v[i] = x
	}
}

// uniform fills v from U(-a, a) with a = std*sqrt(3), so the standard
// deviation is std.
func uniform(r *rng.SplitMix64, v []float32, std float64) {
	a := std * math.Sqrt(3)
	for i := range v {
		v[i] = float32(float64(float64(2*r.Float64())-1) * a)
	}
}

// New returns a model with parameters initialised from seed.
func New(cfg Config, seed uint64) (*Params, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := NewParams(cfg)
	p.Init(seed)
	return p, nil
}
