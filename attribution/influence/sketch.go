// Package influence implements TracIn-style influence attribution over the
// LoRA parameters of a fine-tune, with training-example gradients stored as
// seeded random projections ("sketches") computed once at training time.
//
// For an output o and a training example e, the influence at checkpoint k
// is the cosine of their LoRA gradients, estimated from sketches:
// q(P g_o) . q(P g_e), where q normalises a sketch to unit length (after
// subtracting the mean sketch of the training examples) and quantises it to
// int16 (round half away from zero, scale 32767); P is a sparse seeded
// projection (CountSketch with two entries per column). Scores are integers: the
// checkpoint-weighted sum over checkpoints of the int64 dot products. A
// query costs one backward pass over the output plus k multiply-adds per
// training example and checkpoint, independent of the model's size.
//
// Matching and aggregation (ADR-002): training examples are overlapping
// windows of SeqLen+1 tokens of each contribution (stride Stride); the
// output is cut into windows of SeqLen+1 tokens (stride SeqLen). Each
// output window is matched to every example; a contribution's score for
// that window is its best example's score (identical windows within a
// contribution count once; a window present in d contributions scores
// score/d in each, truncating). A contribution's credit is the sum over
// output windows of max(0, score) times the window's predicted tokens.
package influence

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"

	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/rng"
)

// Limits.
const (
	MinSketchDim  = 64
	MaxSketchDim  = 4096
	MaxCheckpoint = 16
	MaxWeight     = 1 << 16
	qscale        = 32767
)

// Params choose the sketch.
type Params struct {
	SketchDim int    // multiple of 64 in [64, 4096]
	Seed      uint64 // projection seed
	SeqLen    int    // window length (tokens predicted); <= the model's context
	Stride    int    // stride of the training-example windows, in [1, SeqLen]
}

// DefaultParams returns the default sketch parameters for a model.
func DefaultParams(cfg model.Config) Params {
	seq := min(32, cfg.ContextLen)
	return Params{SketchDim: 512, Seed: 0x5eed, SeqLen: seq, Stride: max(1, seq/4)}
}

// Validate checks p against the model config.
func (p Params) Validate(cfg model.Config) error {
	if p.SketchDim < MinSketchDim || p.SketchDim > MaxSketchDim || p.SketchDim%64 != 0 {
		return fmt.Errorf("influence: sketch dimension %d must be a multiple of 64 in [%d, %d]", p.SketchDim, MinSketchDim, MaxSketchDim)
	}
	if p.SeqLen < 1 || p.SeqLen > cfg.ContextLen {
		return fmt.Errorf("influence: sequence length %d out of range [1, %d]", p.SeqLen, cfg.ContextLen)
	}
	if p.Stride < 1 || p.Stride > p.SeqLen {
		return fmt.Errorf("influence: stride %d out of range [1, %d]", p.Stride, p.SeqLen)
	}
	return nil
}

// projector is a seeded sparse random projection (a CountSketch with
// nnz entries per column): parameter j adds sign * g_j to nnz sketch
// coordinates chosen from rng.Derive(seed, j). Projecting costs O(nnz *
// |theta|), independent of the sketch dimension; dot products of sketches
// estimate dot products of gradients without bias.
type projector struct {
	k    int
	cols []uint32 // nparams*nnz entries: coordinate << 1 | sign bit
}

const nnz = 2

func newProjector(nparams, k int, seed uint64) *projector {
	p := &projector{k: k, cols: make([]uint32, nparams*nnz)}
	for j := 0; j < nparams; j++ {
		r := rng.Derive(seed, uint64(j))
		for t := 0; t < nnz; t++ {
			coord := r.Intn(k)
			sign := uint32(r.Uint64() & 1)
			p.cols[j*nnz+t] = uint32(coord)<<1 | sign
		}
	}
	return p
}

// raw projects g (float64 sums in a fixed order) and scales the result to
// unit length (all zeros if g projects to zero).
func (p *projector) raw(g []float32) []float64 {
	s := make([]float64, p.k)
	for j, gj := range g {
		if gj == 0 {
			continue
		}
		x := float64(gj)
		for _, c := range p.cols[j*nnz : j*nnz+nnz] {
			if c&1 == 1 {
				s[c>>1] -= x
			} else {
				s[c>>1] += x
			}
		}
	}
	return unit(s)
}

func unit(s []float64) []float64 {
	var n2 float64
	for _, v := range s {
		n2 += float64(v * v)
	}
	if n2 == 0 || math.IsNaN(n2) || math.IsInf(n2, 0) {
		clear(s)
		return s
	}
	norm := math.Sqrt(n2)
	for i, v := range s {
		s[i] = v / norm
	}
	return s
}

// muScale is the fixed-point scale of the stored mean sketch.
const muScale = 1 << 30

// quantMean returns the fixed-point mean of unit sketches (fixed order).
func quantMean(us [][]float64, k int) []int32 {
	mu := make([]int32, k)
	if len(us) == 0 {
		return mu
	}
	for i := 0; i < k; i++ {
		var s float64
		for _, u := range us {
			s += u[i]
		}
		mu[i] = int32(math.Round(float64(s/float64(len(us))) * muScale))
	}
	return mu
}

// center subtracts the mean sketch from a unit sketch, rescales it to unit
// length and quantises it to int16. Centering removes the direction all
// examples share (fitting the language in general), so the cosine measures
// what is specific to each example.
func center(u []float64, mu []int32) []int16 {
	c := make([]float64, len(u))
	for i := range u {
		c[i] = u[i] - float64(mu[i])/muScale
	}
	c = unit(c)
	out := make([]int16, len(c))
	for i, v := range c {
		q := math.Round(float64(v * qscale))
		out[i] = int16(max(-qscale, min(qscale, q)))
	}
	return out
}

func dot(a, b []int16) int64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 int64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += int64(int32(a[i]) * int32(b[i]))
		s1 += int64(int32(a[i+1]) * int32(b[i+1]))
		s2 += int64(int32(a[i+2]) * int32(b[i+2]))
		s3 += int64(int32(a[i+3]) * int32(b[i+3]))
	}
	for ; i < len(a); i++ {
		s0 += int64(int32(a[i]) * int32(b[i]))
	}
	return s0 + s1 + s2 + s3
}

// windows splits a token sequence into windows of at most seqLen+1 tokens
// starting every stride tokens; a window is kept if it has >= 2 tokens and
// is not contained in the previous one.
func windows(tokens []int, seqLen, stride int) [][]int {
	var out [][]int
	prevEnd := 0
	for off := 0; off+1 < len(tokens); off += stride {
		end := min(off+seqLen+1, len(tokens))
		if end <= prevEnd {
			break
		}
		out = append(out, tokens[off:end])
		prevEnd = end
	}
	return out
}

func windowKey(w []int) [32]byte {
	b := make([]byte, 4*len(w))
	for i, t := range w {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(t))
	}
	return sha256.Sum256(b)
}

func hexDigest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
