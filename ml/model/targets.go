package model

import (
	"errors"
	"fmt"
)

// Ignore is the target of a row that is not scored: it adds nothing to the
// loss and sends no gradient (a prompt row of an instruction example, or
// padding after the sequence's end).
const Ignore = -1

// TokenLosses runs the forward pass over inputs (exactly the workspace's
// length) and writes into losses[t] the loss (nats) of targets[t] given
// inputs[:t+1], or 0 where targets[t] is Ignore. It returns the sum of the
// scored rows' losses (added in row order) and how many rows were scored.
// The activations stay in ws for Backward.
//
// Because attention is causal, rows after the last scored row (padding)
// change neither the losses nor the gradients of the rows before them.
func TokenLosses(p *Params, a *Adapter, ws *Workspace, inputs, targets []int, losses []float64) (float64, int, error) {
	if err := checkTargets(p, a, ws, inputs, targets); err != nil {
		return 0, 0, err
	}
	if len(losses) != len(inputs) {
		return 0, 0, fmt.Errorf("model: %d loss slots for %d rows", len(losses), len(inputs))
	}
	forward(p, a, ws, inputs, 0, nil, true)
	ws.fwdP, ws.fwdA, ws.fwdOK = p, a, true
	V := p.Cfg.VocabSize
	e := make([]float64, V)
	var sum float64
	scored := 0
	for t, tgt := range targets {
		losses[t] = 0
		if tgt == Ignore {
			continue
		}
		l, _ := rowLoss(e, ws.logits[t*V:t*V+V], tgt)
		losses[t] = l
		sum += l
		scored++
	}
	return sum, scored, nil
}

// Backward accumulates into g (base, may be nil for a frozen base) and ga
// (adapter, may be nil) the gradient of coef * (the summed loss of the
// scored rows) of the forward pass TokenLosses last ran on ws, with the same
// p, a, inputs and targets. Any other use of ws in between is an error.
func Backward(p *Params, a *Adapter, ws *Workspace, inputs, targets []int, coef float32, g *Params, ga *Adapter) error {
	if !ws.fwdOK || ws.fwdP != p || ws.fwdA != a {
		return errors.New("model: Backward needs the TokenLosses forward pass of the same model on this workspace")
	}
	if err := checkTargets(p, a, ws, inputs, targets); err != nil {
		return err
	}
	if g != nil && g.Cfg != p.Cfg {
		return errors.New("model: gradient buffer has a different config")
	}
	if ga != nil && (a == nil || ga.Cfg.Rank != a.Cfg.Rank || len(ga.Data) != len(a.Data)) {
		return errors.New("model: adapter gradient buffer does not match the adapter")
	}
	ws.fwdOK = false
	ws.ensureBackward()
	V := p.Cfg.VocabSize
	e := make([]float64, V)
	for t, tgt := range targets {
		dr := ws.dlogits[t*V : t*V+V]
		if tgt == Ignore {
			clear(dr)
			continue
		}
		_, z := rowLoss(e, ws.logits[t*V:t*V+V], tgt)
		rowGrad(dr, e, z, tgt, coef)
	}
	backward(p, a, ws, inputs, g, ga)
	return nil
}

func checkTargets(p *Params, a *Adapter, ws *Workspace, inputs, targets []int) error {
	n := len(inputs)
	if ws == nil || ws.cfg != p.Cfg || ws.n != n {
		return fmt.Errorf("model: workspace is not sized for %d rows of this config", n)
	}
	if len(targets) != n {
		return fmt.Errorf("model: %d targets for %d inputs", len(targets), n)
	}
	if err := checkTokens(p.Cfg, inputs, 0); err != nil {
		return err
	}
	for t, tgt := range targets {
		if tgt != Ignore && (tgt < 0 || tgt >= p.Cfg.VocabSize) {
			return fmt.Errorf("model: target %d at row %d is outside the vocabulary (size %d)", tgt, t, p.Cfg.VocabSize)
		}
	}
	return checkAdapter(p.Cfg, a, ws)
}
