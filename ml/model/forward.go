package model

import (
	"errors"
	"fmt"
	"math"
)

// layerActs holds one block's saved activations for n rows.
type layerActs struct {
	xin               []float32 // alias of the previous block's output
	ln1, mean1, rstd1 []float32
	qkv               []float32 // [n, 3d]
	p                 []float32 // attention probabilities [heads, n, context]
	att               []float32 // [n, d] attention output before projection
	xmid              []float32 // [n, d] residual after attention
	ln2, mean2, rstd2 []float32
	pre, act          []float32 // [n, dff] before and after GELU
	th                []float64 // [n, dff] tanh inside GELU, for the backward pass
	xout              []float32 // [n, d]
	u                 [4][]float32
}

// Workspace holds the activations and scratch buffers of one forward (and
// backward) pass over up to n rows. A Workspace is not safe for concurrent
// use; give each goroutine its own.
type Workspace struct {
	cfg    Config
	n, r   int
	emb    []float32
	layers []layerActs
	lnf    []float32
	meanf  []float32
	rstdf  []float32
	logits []float32
	tmp    []float32
	// backward scratch
	dres, dtmp, dact, datt, dqkv, dlogits, dz, du, dxl []float32
	// the model of the last TokenLosses pass, for Backward
	fwdP  *Params
	fwdA  *Adapter
	fwdOK bool
}

// NewWorkspace allocates a workspace for sequences of up to n tokens and
// adapters of rank up to r (0 for none).
func NewWorkspace(cfg Config, n, r int) *Workspace {
	d, f, h, c := cfg.DModel, cfg.DFF, cfg.NHeads, cfg.ContextLen
	ws := &Workspace{cfg: cfg, n: n, r: r}
	ws.emb = make([]float32, n*d)
	ws.layers = make([]layerActs, cfg.NLayers)
	prev := ws.emb
	for i := range ws.layers {
		la := &ws.layers[i]
		la.xin = prev
		la.ln1, la.mean1, la.rstd1 = make([]float32, n*d), make([]float32, n), make([]float32, n)
		la.qkv = make([]float32, n*3*d)
		la.p = make([]float32, h*n*c)
		la.att = make([]float32, n*d)
		la.xmid = make([]float32, n*d)
		la.ln2, la.mean2, la.rstd2 = make([]float32, n*d), make([]float32, n), make([]float32, n)
		la.pre, la.act, la.th = make([]float32, n*f), make([]float32, n*f), make([]float64, n*f)
		la.xout = make([]float32, n*d)
		if r > 0 {
			for k := range la.u {
				la.u[k] = make([]float32, n*r)
			}
		}
		prev = la.xout
	}
	ws.lnf, ws.meanf, ws.rstdf = make([]float32, n*d), make([]float32, n), make([]float32, n)
	ws.logits = make([]float32, n*cfg.VocabSize)
	ws.tmp = make([]float32, n*max(d, f))
	return ws
}

func (ws *Workspace) ensureBackward() {
	if ws.dres != nil {
		return
	}
	n, d, f := ws.n, ws.cfg.DModel, ws.cfg.DFF
	ws.dres, ws.dtmp = make([]float32, n*d), make([]float32, n*max(d, f))
	ws.dact, ws.datt = make([]float32, n*f), make([]float32, n*d)
	ws.dqkv = make([]float32, n*3*d)
	ws.dlogits = make([]float32, n*ws.cfg.VocabSize)
	ws.dz = make([]float32, n*max(3*d, f))
	ws.du = make([]float32, n*max(ws.r, 1))
	ws.dxl = make([]float32, n*max(d, f))
}

// kv describes where keys and values are read from: the qkv activations
// (training) or a KV cache (inference).
type kv struct {
	k, v           []float32
	stride, kOff   int
	vOff           int
	cacheK, cacheV []float32
}

func checkTokens(cfg Config, tokens []int, pos0 int) error {
	if len(tokens) == 0 {
		return errors.New("model: no tokens")
	}
	if pos0+len(tokens) > cfg.ContextLen {
		return fmt.Errorf("model: %d tokens at position %d exceed the context length %d", len(tokens), pos0, cfg.ContextLen)
	}
	for i, t := range tokens {
		if t < 0 || t >= cfg.VocabSize {
			return fmt.Errorf("model: token %d at index %d is outside the vocabulary (size %d)", t, i, cfg.VocabSize)
		}
	}
	return nil
}

func checkAdapter(cfg Config, a *Adapter, ws *Workspace) error {
	if a == nil {
		return nil
	}
	if a.Base != cfg {
		return errors.New("model: adapter was built for a different base config")
	}
	if a.Cfg.Rank > ws.r {
		return fmt.Errorf("model: adapter rank %d exceeds the workspace rank %d", a.Cfg.Rank, ws.r)
	}
	return nil
}

// forward runs the model over tokens at positions pos0.. (n = len(tokens)
// rows). With a cache, keys and values are appended to it and attention
// reads all cached positions. When allLogits is false only the last row's
// logits are computed (into ws.logits[:vocab]).
func forward(p *Params, a *Adapter, ws *Workspace, tokens []int, pos0 int, c *Cache, allLogits bool) {
	ws.fwdOK = false
	cfg := p.Cfg
	n, d, f, V := len(tokens), cfg.DModel, cfg.DFF, cfg.VocabSize
	for t, tok := range tokens {
		e := ws.emb[t*d : t*d+d]
		wt := p.Wte[tok*d : tok*d+d]
		if p.rope != nil {
			copy(e, wt)
			continue
		}
		wp := p.Wpe[(pos0+t)*d : (pos0+t)*d+d]
		for i := range e {
			e[i] = wt[i] + wp[i]
		}
	}
	for l := range p.Layers {
		L, la := &p.Layers[l], &ws.layers[l]
		var lo [4]*LoRA
		var scale float32
		r := 0
		if a != nil {
			lo, scale, r = a.Layers[l], a.Scale, a.Cfg.Rank
		}
		layerNorm(la.ln1, la.mean1, la.rstd1, la.xin, L.LN1G, L.LN1B, n, d, cfg.LNEps)
		project(la.qkv, la.ln1, L.QKVW, L.QKVB, n, d, 3*d, lo[0], la.u[0], scale, r)
		if p.rope != nil {
			p.rope.rotate(la.qkv, n, pos0, cfg, false)
		}
		src := kv{k: la.qkv, v: la.qkv, stride: 3 * d, kOff: d, vOff: 2 * d}
		if c != nil {
			for t := 0; t < n; t++ {
				row := la.qkv[t*3*d:]
				copy(c.K[l][(pos0+t)*d:(pos0+t+1)*d], row[d:2*d])
				copy(c.V[l][(pos0+t)*d:(pos0+t+1)*d], row[2*d:3*d])
			}
			src = kv{k: c.K[l], v: c.V[l], stride: d}
		}
		attention(la.att, la.p, la.qkv, src, n, pos0, cfg)
		project(ws.tmp, la.att, L.OW, L.OB, n, d, d, lo[1], la.u[1], scale, r)
		for i := range la.xmid[:n*d] {
			la.xmid[i] = la.xin[i] + ws.tmp[i]
		}
		layerNorm(la.ln2, la.mean2, la.rstd2, la.xmid, L.LN2G, L.LN2B, n, d, cfg.LNEps)
		project(la.pre, la.ln2, L.FCW, L.FCB, n, d, f, lo[2], la.u[2], scale, r)
		for i, v := range la.pre[:n*f] {
			la.act[i], la.th[i] = gelu(v)
		}
		project(ws.tmp, la.act, L.PW, L.PB, n, f, d, lo[3], la.u[3], scale, r)
		for i := range la.xout[:n*d] {
			la.xout[i] = la.xmid[i] + ws.tmp[i]
		}
	}
	last := ws.layers[len(ws.layers)-1].xout
	if allLogits {
		layerNorm(ws.lnf, ws.meanf, ws.rstdf, last, p.LNFG, p.LNFB, n, d, cfg.LNEps)
		linear(ws.logits, ws.lnf, p.Wte, nil, n, d, V)
		return
	}
	layerNorm(ws.lnf, ws.meanf, ws.rstdf, last[(n-1)*d:n*d], p.LNFG, p.LNFB, 1, d, cfg.LNEps)
	linear(ws.logits, ws.lnf, p.Wte, nil, 1, d, V)
}

// project computes y = x w^T + b plus, with an adapter pair, scale * B (A x),
// saving u = A x for the backward pass.
func project(y, x, w, b []float32, n, in, out int, lo *LoRA, u []float32, scale float32, r int) {
	linear(y, x, w, b, n, in, out)
	if lo == nil {
		return
	}
	linear(u, x, lo.A, nil, n, in, r)
	for t := 0; t < n; t++ {
		ut, yt := u[t*r:t*r+r], y[t*out:t*out+out]
		for o := range yt {
			yt[o] += float32(scale * dot(ut, lo.B[o*r:o*r+r]))
		}
	}
}

// attention computes causal multi-head attention for n query rows at
// positions pos0.. over keys 0..pos0+t, writing att [n,d] and the
// probabilities (row stride ContextLen).
func attention(att, probs, qkv []float32, src kv, n, pos0 int, cfg Config) {
	d, hd, c := cfg.DModel, cfg.HeadDim(), cfg.ContextLen
	scale := float32(1 / math.Sqrt(float64(hd)))
	for h := 0; h < cfg.NHeads; h++ {
		for t := 0; t < n; t++ {
			q := qkv[t*3*d+h*hd : t*3*d+h*hd+hd]
			pr := probs[(h*n+t)*c : (h*n+t)*c+pos0+t+1]
			out := att[t*d+h*hd : t*d+h*hd+hd]
			attendRow(out, pr, q, src, h*hd, hd, scale)
		}
	}
}

// attendRow is the canonical attention of one query over len(pr) keys.
func attendRow(out, pr, q []float32, src kv, hoff, hd int, scale float32) {
	mx := float32(math.Inf(-1))
	for j := range pr {
		k := src.k[j*src.stride+src.kOff+hoff : j*src.stride+src.kOff+hoff+hd]
		s := float32(dot(q, k) * scale)
		pr[j] = s
		if s > mx {
			mx = s
		}
	}
	var sum float32
	for j, s := range pr {
		e := float32(Exp(float64(s - mx)))
		pr[j] = e
		sum += e
	}
	inv := 1 / sum
	for j := range pr {
		pr[j] = float32(pr[j] * inv)
	}
	clear(out)
	for j, pj := range pr {
		axpy(out, pj, src.v[j*src.stride+src.vOff+hoff:j*src.stride+src.vOff+hoff+hd])
	}
}

// crossEntropy returns the summed loss (nats) of rows of logits against
// targets and, when dlogits is non-nil, writes gscale * (softmax - onehot).
func crossEntropy(dlogits, logits []float32, targets []int, V int, gscale float32) float64 {
	var loss float64
	e := make([]float64, V)
	for t, tgt := range targets {
		row := logits[t*V : t*V+V]
		l, z := rowLoss(e, row, tgt)
		loss += l
		if dlogits != nil {
			rowGrad(dlogits[t*V:t*V+V], e, z, tgt, gscale)
		}
	}
	return loss
}

// rowLoss fills e with exp(row - max(row)) and returns the loss of target
// tgt and the sum of e.
func rowLoss(e []float64, row []float32, tgt int) (float64, float64) {
	mx := row[0]
	for _, v := range row {
		if v > mx {
			mx = v
		}
	}
	var z float64
	for v, x := range row {
		e[v] = Exp(float64(x - mx))
		z += e[v]
	}
	return Log(z) + float64(mx) - float64(row[tgt]), z
}

// rowGrad writes gscale * (softmax - onehot(tgt)) from rowLoss's e and z.
func rowGrad(dr []float32, e []float64, z float64, tgt int, gscale float32) {
	for v := range dr {
		pv := float32(e[v] / z)
		if v == tgt {
			pv -= 1
		}
		dr[v] = float32(pv * gscale)
	}
}

// Loss returns the summed next-token loss (nats) of tokens[1:] given
// tokens[:len-1], and the number of predicted tokens.
func Loss(p *Params, a *Adapter, ws *Workspace, tokens []int) (float64, int, error) {
	n, err := prepare(p, a, ws, tokens)
	if err != nil {
		return 0, 0, err
	}
	forward(p, a, ws, tokens[:n], 0, nil, true)
	return crossEntropy(nil, ws.logits, tokens[1:], p.Cfg.VocabSize, 0), n, nil
}

func prepare(p *Params, a *Adapter, ws *Workspace, tokens []int) (int, error) {
	if len(tokens) < 2 {
		return 0, errors.New("model: a training sequence needs at least 2 tokens")
	}
	n := len(tokens) - 1
	if err := checkTokens(p.Cfg, tokens[:n], 0); err != nil {
		return 0, err
	}
	if t := tokens[n]; t < 0 || t >= p.Cfg.VocabSize {
		return 0, fmt.Errorf("model: target token %d is outside the vocabulary", t)
	}
	if ws == nil || ws.cfg != p.Cfg || ws.n != n {
		return 0, fmt.Errorf("model: workspace is not sized for %d tokens of this config", n)
	}
	return n, checkAdapter(p.Cfg, a, ws)
}
