package model

import (
	"math"
	"testing"

	"github.com/openledger/openledger/ml/rng"
)

func tinyConfig() Config {
	return Config{VocabSize: 11, ContextLen: 8, DModel: 8, NLayers: 2, NHeads: 2, DFF: 12, Positions: PositionsLearned, LNEps: 1e-5}
}

// noisy returns parameters with large random values so every nonlinearity
// is exercised by the gradient check.
func noisy(t testing.TB, cfg Config, seed uint64) *Params {
	t.Helper()
	p, err := New(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	r := rng.New(seed + 100)
	for i := range p.Data {
		p.Data[i] += float32(0.4 * (r.Float64() - 0.5))
	}
	return p
}

func noisyAdapter(t testing.TB, cfg Config, targets []string, seed uint64) *Adapter {
	a, err := NewAdapter(cfg, AdapterConfig{Rank: 2, Alpha: 4, Targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	r := rng.New(seed)
	for i := range a.Data {
		a.Data[i] = float32(r.Float64() - 0.5)
	}
	return a
}

var seq = []int{1, 5, 2, 9, 10, 0, 3, 7}

func lossOf(t *testing.T, p *Params, a *Adapter) float64 {
	r := 0
	if a != nil {
		r = a.Cfg.Rank
	}
	ws := NewWorkspace(p.Cfg, len(seq)-1, r)
	l, _, err := Loss(p, a, ws, seq)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func checkGrad(t *testing.T, name string, data, grad []float32, loss func() float64) {
	t.Helper()
	const eps = 1e-2
	idx := []int{0, len(data) / 2, len(data) - 1, (len(data) * 7) / 11}
	for _, i := range idx {
		orig := data[i]
		data[i] = orig + eps
		lp := loss()
		data[i] = orig - eps
		lm := loss()
		data[i] = orig
		fd := (lp - lm) / (2 * eps)
		an := float64(grad[i])
		if diff := math.Abs(fd - an); diff > 2e-3+3e-2*math.Max(math.Abs(fd), math.Abs(an)) {
			t.Errorf("%s[%d]: analytic %.6g, finite difference %.6g", name, i, an, fd)
		}
	}
}

func TestGradientsMatchFiniteDifferences(t *testing.T) {
	for _, pos := range []string{PositionsLearned, PositionsRotary} {
		t.Run(pos, func(t *testing.T) {
			cfg := tinyConfig()
			cfg.Positions = pos
			gradientCheck(t, cfg)
		})
	}
}

func gradientCheck(t *testing.T, cfg Config) {
	p := noisy(t, cfg, 1)
	a := noisyAdapter(t, cfg, TargetNames(), 2)
	g := NewParams(cfg)
	ga := a.ZeroLike()
	ws := NewWorkspace(cfg, len(seq)-1, 2)
	if _, _, err := Grad(p, a, ws, seq, g, ga, 1); err != nil {
		t.Fatal(err)
	}
	loss := func() float64 { return lossOf(t, p, a) }
	for _, s := range p.Specs() {
		checkGrad(t, s.Name, p.Data[s.Off:s.Off+s.Len], g.Data[s.Off:s.Off+s.Len], loss)
	}
	for _, s := range a.Specs() {
		checkGrad(t, s.Name, a.Data[s.Off:s.Off+s.Len], ga.Data[s.Off:s.Off+s.Len], loss)
	}
	// Frozen base: adapter gradients are identical and no base gradient is needed.
	ga2 := a.ZeroLike()
	if _, _, err := Grad(p, a, ws, seq, nil, ga2, 1); err != nil {
		t.Fatal(err)
	}
	for i := range ga.Data {
		if ga.Data[i] != ga2.Data[i] {
			t.Fatalf("adapter gradient %d differs with a frozen base", i)
		}
	}
}

func TestGradientsWithoutAdapter(t *testing.T) {
	cfg := tinyConfig()
	p := noisy(t, cfg, 3)
	g := NewParams(cfg)
	ws := NewWorkspace(cfg, len(seq)-1, 0)
	if _, _, err := Grad(p, nil, ws, seq, g, nil, 1); err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Specs() {
		checkGrad(t, s.Name, p.Data[s.Off:s.Off+s.Len], g.Data[s.Off:s.Off+s.Len], func() float64 { return lossOf(t, p, nil) })
	}
}

// Rotary embeddings make attention depend on relative position only: the
// same query/key pair rotated to positions (m, n) and (m+k, n+k) gives the
// same dot product up to rounding.
func TestRotaryRelativePosition(t *testing.T) {
	cfg := tinyConfig()
	cfg.Positions = PositionsRotary
	rt := newRopeTable(cfg)
	d := cfg.DModel
	row := func(pos int) []float32 {
		qkv := make([]float32, 3*d)
		for i := range qkv {
			qkv[i] = float32(i%5) - 2
		}
		rt.rotate(qkv, 1, pos, cfg, false)
		return qkv
	}
	a, b := row(1), row(4)
	c, e := row(2), row(5)
	dot1 := dot(a[:4], b[d:d+4])
	dot2 := dot(c[:4], e[d:d+4])
	if math.Abs(float64(dot1-dot2)) > 1e-5 {
		t.Fatalf("rotary attention score depends on absolute position: %v vs %v", dot1, dot2)
	}
	for x := 0.0; x < 20000; x += 13.7 {
		s, c := sinCos(x)
		if math.Abs(s-math.Sin(x)) > 1e-11 || math.Abs(c-math.Cos(x)) > 1e-11 {
			t.Fatalf("sinCos(%v) = %v, %v", x, s, c)
		}
	}
	// Rotating and rotating back is the identity up to rounding.
	v := row(3)
	rt.rotate(v, 1, 3, cfg, true)
	w := row(0)
	for i := range v {
		if math.Abs(float64(v[i]-w[i])) > 1e-5 {
			t.Fatalf("inverse rotation: %v vs %v", v[i], w[i])
		}
	}
}

func TestExpAccuracy(t *testing.T) {
	for x := -50.0; x <= 50; x += 0.37 {
		want := math.Exp(x)
		if got := Exp(x); math.Abs(got-want) > 1e-13*want {
			t.Fatalf("Exp(%v) = %v, want %v", x, got, want)
		}
	}
	for x := 1e-300; x < 1e300; x *= 3.7 {
		if got, want := Log(x), math.Log(x); math.Abs(got-want) > 1e-15*math.Max(1, math.Abs(want)) {
			t.Fatalf("Log(%v) = %v, want %v", x, got, want)
		}
	}
	for x := 0.0; x <= math.Pi; x += 0.01 {
		if got, want := Cos(x), math.Cos(x); math.Abs(got-want) > 1e-15 {
			t.Fatalf("Cos(%v) = %v, want %v", x, got, want)
		}
	}
	if !math.IsNaN(Log(-1)) || !math.IsInf(Log(0), -1) {
		t.Fatal("Log limits")
	}
	if Exp(-1000) != 0 || !math.IsInf(Exp(1000), 1) {
		t.Fatal("Exp limits")
	}
}

// Prefill, token-by-token decoding and the training forward pass must give
// bit-identical logits.
func TestInferencePathsAgree(t *testing.T) {
	for _, pos := range []string{PositionsLearned, PositionsRotary} {
		t.Run(pos, func(t *testing.T) {
			cfg := tinyConfig()
			cfg.Positions = pos
			inferencePathsAgree(t, cfg)
		})
	}
}

func inferencePathsAgree(t *testing.T, cfg Config) {
	p := noisy(t, cfg, 4)
	a := noisyAdapter(t, cfg, DefaultTargets, 5)
	toks := seq[:6]
	full := NewWorkspace(cfg, len(toks), 2)
	forward(p, a, full, toks, 0, nil, true)
	V := cfg.VocabSize

	c1 := NewCache(cfg, 2)
	pre := make([]float32, V)
	if err := Forward(p, a, c1, toks, pre); err != nil {
		t.Fatal(err)
	}
	c2 := NewCache(cfg, 2)
	step := make([]float32, V)
	for i, tok := range toks {
		if err := Forward(p, a, c2, []int{tok}, step); err != nil {
			t.Fatal(err)
		}
		for v := 0; v < V; v++ {
			if step[v] != full.logits[i*V+v] {
				t.Fatalf("decode logits at position %d differ from the full pass", i)
			}
		}
	}
	for v := range pre {
		if pre[v] != step[v] {
			t.Fatal("prefill and decode logits differ")
		}
	}
	if err := Forward(p, a, c2, []int{1, 2, 3}, step); err == nil {
		t.Fatal("overflowing the context was accepted")
	}
	if err := Forward(p, a, NewCache(cfg, 2), []int{11}, step); err == nil {
		t.Fatal("out-of-vocabulary token accepted")
	}
	if err := Forward(p, a, NewCache(cfg, 1), []int{1}, step); err == nil {
		t.Fatal("adapter rank above cache rank accepted")
	}
}

func TestMergeMatchesAdapter(t *testing.T) {
	cfg := tinyConfig()
	p := noisy(t, cfg, 6)
	a := noisyAdapter(t, cfg, TargetNames(), 7)
	merged, err := Merge(p, a)
	if err != nil {
		t.Fatal(err)
	}
	la, lm := lossOf(t, p, a), lossOf(t, merged, nil)
	if math.Abs(la-lm) > 1e-4*math.Abs(la) {
		t.Fatalf("merged loss %v differs from adapter loss %v", lm, la)
	}
	if lb := lossOf(t, p, nil); math.Abs(lb-la) < 1e-3 {
		t.Fatalf("adapter did not change the loss (%v vs %v)", la, lb)
	}
}

func TestConfigValidation(t *testing.T) {
	bad := []Config{
		{},
		func() Config { c := tinyConfig(); c.NHeads = 3; return c }(),
		func() Config { c := tinyConfig(); c.Positions = "sinusoidal"; return c }(),
		func() Config { c := tinyConfig(); c.Positions, c.DModel, c.NHeads = PositionsRotary, 6, 2; return c }(),
		func() Config { c := tinyConfig(); c.LNEps = 0; return c }(),
		func() Config { c := tinyConfig(); c.ContextLen = 0; return c }(),
	}
	for i, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
	for _, name := range []string{"tiny", "1m", "10m"} {
		c, err := Preset(name, 512)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("preset %s: %d parameters", name, c.NumParams())
	}
	if _, err := NewAdapter(tinyConfig(), AdapterConfig{Rank: 2, Alpha: 1, Targets: []string{"nope"}}); err == nil {
		t.Error("unknown LoRA target accepted")
	}
	if _, err := NewAdapter(tinyConfig(), AdapterConfig{Rank: 0, Alpha: 1, Targets: DefaultTargets}); err == nil {
		t.Error("rank 0 accepted")
	}
}
