package model

import "math"

// Grad runs the forward and backward pass on one sequence: inputs
// tokens[:n], targets tokens[1:] (n = len(tokens)-1). Gradients of
// gscale * (summed token loss) are accumulated into g (base parameters) and
// ga (adapter), either of which may be nil; with g nil the base model is
// treated as frozen and its weight gradients are not computed. It returns
// the summed token loss (nats) and n.
func Grad(p *Params, a *Adapter, ws *Workspace, tokens []int, g *Params, ga *Adapter, gscale float32) (float64, int, error) {
	n, err := prepare(p, a, ws, tokens)
	if err != nil {
		return 0, 0, err
	}
	if g != nil && g.Cfg != p.Cfg {
		return 0, 0, errorf("model: gradient buffer has a different config")
	}
	if ga != nil && (a == nil || ga.Cfg.Rank != a.Cfg.Rank || len(ga.Data) != len(a.Data)) {
		return 0, 0, errorf("model: adapter gradient buffer does not match the adapter")
	}
	ws.ensureBackward()
	forward(p, a, ws, tokens[:n], 0, nil, true)
	loss := crossEntropy(ws.dlogits, ws.logits, tokens[1:], p.Cfg.VocabSize, gscale)
	backward(p, a, ws, tokens[:n], g, ga)
	return loss, n, nil
}

// backward propagates ws.dlogits (the loss gradient of the logits of the
// forward pass just run on inputs) into g and ga.
func backward(p *Params, a *Adapter, ws *Workspace, inputs []int, g *Params, ga *Adapter) {
	n := len(inputs)
	cfg := p.Cfg
	d, f, V := cfg.DModel, cfg.DFF, cfg.VocabSize

	// Output head (tied embedding) and final LayerNorm.
	var dWte []float32
	if g != nil {
		dWte = g.Wte
	}
	linearBackward(ws.dtmp, dWte, nil, ws.dlogits, ws.lnf, p.Wte, n, d, V)
	last := ws.layers[len(ws.layers)-1].xout
	var dg, db []float32
	if g != nil {
		dg, db = g.LNFG, g.LNFB
	}
	layerNormBackward(ws.dres, dg, db, ws.dtmp, last, ws.meanf, ws.rstdf, p.LNFG, n, d)

	for l := len(p.Layers) - 1; l >= 0; l-- {
		L, la := &p.Layers[l], &ws.layers[l]
		var G Layer // nil slices when the base is frozen
		if g != nil {
			G = g.Layers[l]
		}
		var lo, glo [4]*LoRA
		var scale float32
		if a != nil {
			lo, scale = a.Layers[l], a.Scale
			if ga != nil {
				glo = ga.Layers[l]
			}
		}
		// MLP: xout = xmid + proj(gelu(fc(ln2(xmid)))).
		projectBackward(ws, ws.dact, G.PW, G.PB,
			ws.dres, la.act, L.PW, n, f, d, lo[3], glo[3], la.u[3], scale)
		for i, v := range la.pre[:n*f] {
			ws.dact[i] = float32(ws.dact[i] * geluGrad(v, la.th[i]))
		}
		projectBackward(ws, ws.dtmp, G.FCW, G.FCB,
			ws.dact, la.ln2, L.FCW, n, d, f, lo[2], glo[2], la.u[2], scale)
		layerNormBackward(ws.datt, G.LN2G, G.LN2B,
			ws.dtmp, la.xmid, la.mean2, la.rstd2, L.LN2G, n, d)
		for i := range ws.dres[:n*d] {
			ws.dres[i] += ws.datt[i]
		}
		// Attention: xmid = xin + o(attn(qkv(ln1(xin)))).
		projectBackward(ws, ws.datt, G.OW, G.OB,
			ws.dres, la.att, L.OW, n, d, d, lo[1], glo[1], la.u[1], scale)
		attentionBackward(ws.dqkv, ws.datt, la.qkv, la.p, n, cfg)
		if p.rope != nil {
			p.rope.rotate(ws.dqkv, n, 0, cfg, true)
		}
		projectBackward(ws, ws.dtmp, G.QKVW, G.QKVB,
			ws.dqkv, la.ln1, L.QKVW, n, d, 3*d, lo[0], glo[0], la.u[0], scale)
		layerNormBackward(ws.datt, G.LN1G, G.LN1B,
			ws.dtmp, la.xin, la.mean1, la.rstd1, L.LN1G, n, d)
		for i := range ws.dres[:n*d] {
			ws.dres[i] += ws.datt[i]
		}
	}
	if g != nil {
		for t := 0; t < n; t++ {
			tok := inputs[t]
			axpy(g.Wte[tok*d:tok*d+d], 1, ws.dres[t*d:t*d+d])
			if g.Wpe != nil {
				axpy(g.Wpe[t*d:t*d+d], 1, ws.dres[t*d:t*d+d])
			}
		}
	}
}

// projectBackward is the backward pass of project: dx (overwritten) from
// dy, base weight gradients into dw/db when non-nil, adapter gradients into
// glo when non-nil.
func projectBackward(ws *Workspace, dx, dw, db, dy, x, w []float32, n, in, out int, lo, glo *LoRA, u []float32, scale float32) {
	linearBackward(dx, dw, db, dy, x, w, n, in, out)
	if lo == nil {
		return
	}
	r := len(lo.A) / in
	dz := ws.dz[:n*out]
	for i, v := range dy[:n*out] {
		dz[i] = float32(scale * v)
	}
	var dB, dA []float32
	if glo != nil {
		dB, dA = glo.B, glo.A
	}
	du := ws.du[:n*r]
	linearBackward(du, dB, nil, dz, u, lo.B, n, r, out)
	dxl := ws.dxl[:n*in]
	linearBackward(dxl, dA, nil, du, x, lo.A, n, in, r)
	for i, v := range dxl {
		dx[i] += v
	}
}

// attentionBackward computes dqkv (overwritten) from datt for the training
// layout (keys and values read from qkv, pos0 = 0).
func attentionBackward(dqkv, datt, qkv, probs []float32, n int, cfg Config) {
	d, hd, c := cfg.DModel, cfg.HeadDim(), cfg.ContextLen
	scale := float32(1 / math.Sqrt(float64(hd)))
	clear(dqkv[:n*3*d])
	dp := make([]float32, n)
	for h := 0; h < cfg.NHeads; h++ {
		qo, ko, vo := h*hd, d+h*hd, 2*d+h*hd
		for t := 0; t < n; t++ {
			pr := probs[(h*n+t)*c : (h*n+t)*c+t+1]
			dout := datt[t*d+h*hd : t*d+h*hd+hd]
			var sum float32
			for j, pj := range pr {
				v := qkv[j*3*d+vo : j*3*d+vo+hd]
				dp[j] = dot(dout, v)
				sum += float32(pj * dp[j])
			}
			q := qkv[t*3*d+qo : t*3*d+qo+hd]
			dq := dqkv[t*3*d+qo : t*3*d+qo+hd]
			for j, pj := range pr {
				ds := float32(float32(pj*(dp[j]-sum)) * scale)
				axpy(dq, ds, qkv[j*3*d+ko:j*3*d+ko+hd])
				axpy(dqkv[j*3*d+ko:j*3*d+ko+hd], ds, q)
				axpy(dqkv[j*3*d+vo:j*3*d+vo+hd], pj, dout)
			}
		}
	}
}
