package model

import (
	"testing"
)

// With every row scored and coef = gscale, TokenLosses + Backward is Grad,
// bit for bit.
func TestTargetsMatchGrad(t *testing.T) {
	cfg := tinyConfig()
	p := noisy(t, cfg, 5)
	a := noisyAdapter(t, cfg, TargetNames(), 6)
	n := len(seq) - 1
	ws := NewWorkspace(cfg, n, 2)
	g1, ga1 := NewParams(cfg), a.ZeroLike()
	want, _, err := Grad(p, a, ws, seq, g1, ga1, 0.25)
	if err != nil {
		t.Fatal(err)
	}
	g2, ga2 := NewParams(cfg), a.ZeroLike()
	losses := make([]float64, n)
	got, scored, err := TokenLosses(p, a, ws, seq[:n], seq[1:], losses)
	if err != nil || scored != n {
		t.Fatal(err, scored)
	}
	if err := Backward(p, a, ws, seq[:n], seq[1:], 0.25, g2, ga2); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("loss %v, Grad %v", got, want)
	}
	for i := range g1.Data {
		if g1.Data[i] != g2.Data[i] {
			t.Fatalf("base gradient %d differs: %v vs %v", i, g2.Data[i], g1.Data[i])
		}
	}
	for i := range ga1.Data {
		if ga1.Data[i] != ga2.Data[i] {
			t.Fatalf("adapter gradient %d differs", i)
		}
	}
}

// Ignored rows contribute nothing: whatever their targets say, and however
// much padding follows the scored rows, the loss and the gradients are the
// same; the gradient matches finite differences of the masked loss.
func TestIgnoredRowsDoNotContribute(t *testing.T) {
	cfg := tinyConfig()
	p := noisy(t, cfg, 7)
	n := len(seq) - 1
	inputs := seq[:n]
	targets := append([]int(nil), seq[1:]...)
	for i := 0; i < 3; i++ {
		targets[i] = Ignore // the "prompt"
	}
	run := func(inputs, targets []int) (float64, *Params) {
		ws := NewWorkspace(cfg, len(inputs), 0)
		g := NewParams(cfg)
		l, _, err := TokenLosses(p, nil, ws, inputs, targets, make([]float64, len(inputs)))
		if err != nil {
			t.Fatal(err)
		}
		if err := Backward(p, nil, ws, inputs, targets, 1, g, nil); err != nil {
			t.Fatal(err)
		}
		return l, g
	}
	l0, g0 := run(inputs, targets)
	// The unmasked loss differs (the prompt rows would count).
	if lAll, _ := run(inputs, seq[1:]); lAll == l0 {
		t.Fatal("masking changed nothing")
	}
	// Whatever the prompt rows' targets would be, the masked loss is the
	// sum of the response rows' losses, which do not depend on them.
	for _, prompt := range [][]int{{5, 2, 9}, {0, 0, 0}, {10, 1, 4}} {
		full := append(append([]int(nil), prompt...), seq[4:]...)
		per := make([]float64, n)
		if _, _, err := TokenLosses(p, nil, NewWorkspace(cfg, n, 0), inputs, full, per); err != nil {
			t.Fatal(err)
		}
		var resp float64
		for _, l := range per[3:] {
			resp += l
		}
		if resp != l0 {
			t.Fatalf("prompt targets %v: response rows sum to %v, masked loss %v", prompt, resp, l0)
		}
	}
	// Padding after the last scored row: same loss and gradient.
	padIn := append(append([]int(nil), inputs[:5]...), 0, 0, 0)
	padTg := append(append([]int(nil), targets[:5]...), Ignore, Ignore, Ignore)
	short, gs := run(inputs[:5], targets[:5])
	long, gl := run(padIn, padTg)
	if short != long {
		t.Fatalf("padding changed the loss: %v vs %v", short, long)
	}
	for i := range gs.Data {
		if gs.Data[i] != gl.Data[i] {
			t.Fatalf("padding changed gradient %d", i)
		}
	}
	loss := func() float64 {
		l, _, err := TokenLosses(p, nil, NewWorkspace(cfg, n, 0), inputs, targets, make([]float64, n))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	for _, s := range p.Specs() {
		checkGrad(t, s.Name, p.Data[s.Off:s.Off+s.Len], g0.Data[s.Off:s.Off+s.Len], loss)
	}
}

func TestBackwardNeedsItsForward(t *testing.T) {
	cfg := tinyConfig()
	p := noisy(t, cfg, 8)
	n := len(seq) - 1
	ws := NewWorkspace(cfg, n, 0)
	if err := Backward(p, nil, ws, seq[:n], seq[1:], 1, NewParams(cfg), nil); err == nil {
		t.Fatal("Backward without a forward pass accepted")
	}
	if _, _, err := TokenLosses(p, nil, ws, seq[:n], seq[1:], make([]float64, n)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Loss(p, nil, ws, seq); err != nil {
		t.Fatal(err)
	}
	if err := Backward(p, nil, ws, seq[:n], seq[1:], 1, NewParams(cfg), nil); err == nil {
		t.Fatal("Backward after another forward pass accepted")
	}
	bad := append([]int(nil), seq[1:]...)
	bad[2] = cfg.VocabSize
	if _, _, err := TokenLosses(p, nil, ws, seq[:n], bad, make([]float64, n)); err == nil {
		t.Fatal("out-of-vocabulary target accepted")
	}
}
