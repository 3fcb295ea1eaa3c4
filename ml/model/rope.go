package model

import "math"

// ropeTable holds cos and sin of every (position, frequency) of rotary
// position embeddings, computed with the engine's own series so the table is
// the same on every machine.
type ropeTable struct {
	half     int       // head dimension / 2
	cos, sin []float32 // [context][half]
}

const ropeBase = 10000

func newRopeTable(c Config) *ropeTable {
	half := c.HeadDim() / 2
	t := &ropeTable{half: half, cos: make([]float32, c.ContextLen*half), sin: make([]float32, c.ContextLen*half)}
	lnBase := Log(ropeBase)
	for i := 0; i < half; i++ {
		invFreq := Exp(-float64(float64(2*i)/float64(2*half)) * lnBase)
		for pos := 0; pos < c.ContextLen; pos++ {
			s, co := sinCos(float64(float64(pos) * invFreq))
			t.cos[pos*half+i], t.sin[pos*half+i] = float32(co), float32(s)
		}
	}
	return t
}

// rotate applies the rotation of positions pos0.. to the query and key parts
// of n rows of qkv (layout [q | k | v], each d wide), or its transpose (the
// backward pass) when inverse is set.
func (rt *ropeTable) rotate(qkv []float32, n, pos0 int, cfg Config, inverse bool) {
	d, hd := cfg.DModel, cfg.HeadDim()
	for t := 0; t < n; t++ {
		cs := rt.cos[(pos0+t)*rt.half : (pos0+t+1)*rt.half]
		sn := rt.sin[(pos0+t)*rt.half : (pos0+t+1)*rt.half]
		row := qkv[t*3*d : t*3*d+2*d] // queries then keys
		for h := 0; h < 2*cfg.NHeads; h++ {
			v := row[h*hd : h*hd+hd]
			for i, c := range cs {
				s := sn[i]
				if inverse {
					s = -s
				}
				x0, x1 := v[2*i], v[2*i+1]
				v[2*i] = float32(x0*c) - float32(x1*s)
				v[2*i+1] = float32(x0*s) + float32(x1*c)
			}
		}
	}
}

// sinCos returns sin x and cos x for x >= 0: exact reduction modulo the
// float64 value of 2*pi (math.Mod is exact), then Taylor series on
// [-pi, pi] with every product rounded explicitly.
func sinCos(x float64) (float64, float64) {
	const twoPi = 2 * math.Pi
	r := math.Mod(x, twoPi)
	if r > math.Pi {
		r -= twoPi
	}
	r2 := float64(r * r)
	s := 1.0
	for k := 33; k >= 3; k -= 2 {
		s = 1 - float64(float64(r2*s)/float64(k*(k-1)))
	}
	c := 1.0
	for k := 32; k >= 2; k -= 2 {
		c = 1 - float64(float64(r2*c)/float64(k*(k-1)))
	}
	return float64(r * s), c
}
