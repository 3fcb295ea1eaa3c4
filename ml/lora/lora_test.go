package lora

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/generate"
	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/rng"
	"github.com/openledger/openledger/ml/tokenizer"
)

func base(t testing.TB) *checkpoint.Model {
	cfg := model.Config{VocabSize: 256, ContextLen: 32, DModel: 32, NLayers: 2, NHeads: 2, DFF: 64, Positions: model.PositionsLearned, LNEps: 1e-5}
	p, err := model.New(cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	for i := range p.Data {
		p.Data[i] *= 4
	}
	return &checkpoint.Model{Params: p, Tok: tokenizer.NewByte(), SHA256: "base-digest"}
}

func randomAdapter(t testing.TB, cfg model.Config, seed uint64) *model.Adapter {
	a, err := model.NewAdapter(cfg, model.AdapterConfig{Rank: 4, Alpha: 8, Targets: model.DefaultTargets})
	if err != nil {
		t.Fatal(err)
	}
	r := rng.New(seed)
	for i := range a.Data {
		a.Data[i] = float32(r.Float64() - 0.5)
	}
	return a
}

func gen(t *testing.T, reg *Registry, name string) string {
	a, err := reg.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	m := reg.Base()
	res, err := generate.Text(context.Background(), m.Params, a, m.Tok, "Hello", generate.Params{MaxTokens: 16}, generate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Text
}

// Adapters change outputs only for the requests that load them.
func TestAdaptersChangeOnlyTheirRequests(t *testing.T) {
	m := base(t)
	reg := NewRegistry(m, 0)
	plain := gen(t, reg, "")
	if err := reg.Add("a", randomAdapter(t, m.Params.Cfg, 1)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "b.safetensors")
	if _, err := checkpoint.SaveAdapter(path, randomAdapter(t, m.Params.Cfg, 2), m.SHA256); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.LoadFile("b", path); err != nil {
		t.Fatal(err)
	}
	ta, tb := gen(t, reg, "a"), gen(t, reg, "b")
	if ta == plain || tb == plain || ta == tb {
		t.Fatalf("outputs: base %q, a %q, b %q", plain, ta, tb)
	}
	if gen(t, reg, "") != plain || gen(t, reg, "a") != ta {
		t.Fatal("switching adapters changed another request's output")
	}
	if _, err := reg.Get("missing"); err == nil {
		t.Fatal("unknown adapter name accepted")
	}
	// An adapter recorded against another base is refused.
	other := filepath.Join(dir, "c.safetensors")
	checkpoint.SaveAdapter(other, randomAdapter(t, m.Params.Cfg, 3), "another-base")
	if _, err := reg.LoadFile("c", other); err == nil {
		t.Fatal("adapter for another base accepted")
	}
	merged, err := reg.Merge("a")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := reg.Get("a")
	l1, l2 := make([]float32, 256), make([]float32, 256)
	model.Forward(m.Params, a, model.NewCache(m.Params.Cfg, 4), []int{1, 2, 3}, l1)
	model.Forward(merged, nil, model.NewCache(m.Params.Cfg, 0), []int{1, 2, 3}, l2)
	for i := range l1 {
		if math.Abs(float64(l1[i]-l2[i])) > 1e-3*(1+math.Abs(float64(l1[i]))) {
			t.Fatalf("merged logits differ at %d: %v vs %v", i, l1[i], l2[i])
		}
	}
	if reg.Remove("a"); reg.Len() != 1 || reg.Names()[0] != "b" {
		t.Fatalf("after remove: %v", reg.Names())
	}
	small := NewRegistry(m, 1)
	small.Add("x", randomAdapter(t, m.Params.Cfg, 4))
	if err := small.Add("y", randomAdapter(t, m.Params.Cfg, 5)); err == nil {
		t.Fatal("full registry accepted another adapter")
	}
}

func TestPerExampleGradients(t *testing.T) {
	m := base(t)
	a := randomAdapter(t, m.Params.Cfg, 9)
	examples := [][]int{{1, 2, 3, 4, 5}, {9, 8, 7}, {100, 101, 102, 103, 104, 105, 106}}
	g1, err := PerExampleGradients(context.Background(), m.Params, a, examples, 1)
	if err != nil {
		t.Fatal(err)
	}
	g2, err := PerExampleGradients(context.Background(), m.Params, a, examples, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range g1 {
		for j := range g1[i].Grad {
			if g1[i].Grad[j] != g2[i].Grad[j] {
				t.Fatal("per-example gradients depend on the worker count")
			}
		}
	}
	if Dot(g1[0].Grad, g1[1].Grad) == Dot(g1[0].Grad, g1[0].Grad) {
		t.Fatal("different examples gave the same gradient")
	}
	// Finite-difference check of one coordinate of example 0's gradient.
	ex := examples[0]
	lossAt := func() float64 {
		ws := model.NewWorkspace(m.Params.Cfg, len(ex)-1, 4)
		l, n, err := model.Loss(m.Params, a, ws, ex)
		if err != nil {
			t.Fatal(err)
		}
		return l / float64(n)
	}
	for _, j := range []int{3, len(a.Data) - 5} {
		orig := a.Data[j]
		a.Data[j] = orig + 1e-2
		lp := lossAt()
		a.Data[j] = orig - 1e-2
		lm := lossAt()
		a.Data[j] = orig
		fd := (lp - lm) / 2e-2
		if an := float64(g1[0].Grad[j]); math.Abs(fd-an) > 2e-3+3e-2*math.Abs(fd) {
			t.Fatalf("coordinate %d: analytic %v, finite difference %v", j, an, fd)
		}
	}
	if _, err := PerExampleGradients(context.Background(), m.Params, a, [][]int{{1}}, 1); err == nil {
		t.Fatal("one-token example accepted")
	}
	if _, err := PerExampleGradients(context.Background(), m.Params, nil, examples, 1); err == nil {
		t.Fatal("nil adapter accepted")
	}
}

// Concurrent requests on one base with different adapters give the same
// results as sequential ones (run with -race to check the sharing).
func TestConcurrentRequests(t *testing.T) {
	m := base(t)
	reg := NewRegistry(m, 0)
	names := []string{"", "a", "b", "c"}
	for i, n := range names[1:] {
		if err := reg.Add(n, randomAdapter(t, m.Params.Cfg, uint64(10+i))); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{}
	for _, n := range names {
		want[n] = gen(t, reg, n)
	}
	errs := make(chan string, 16)
	done := make(chan struct{})
	for i := 0; i < 16; i++ {
		go func(i int) {
			n := names[i%len(names)]
			a, _ := reg.Get(n)
			res, err := generate.Text(context.Background(), m.Params, a, m.Tok, "Hello", generate.Params{MaxTokens: 16}, generate.Options{})
			if err != nil || res.Text != want[n] {
				errs <- n
			}
			done <- struct{}{}
		}(i)
	}
	for i := 0; i < 16; i++ {
		<-done
	}
	close(errs)
	for n := range errs {
		t.Errorf("concurrent request with adapter %q differs", n)
	}
}
