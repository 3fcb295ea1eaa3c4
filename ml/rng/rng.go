// Package rng is the engine's stated pseudo-random number generator.
//
// The engine uses SplitMix64 (Steele, Lea and Flood, 2014) everywhere it
// needs randomness: weight initialisation, batch sampling and token
// sampling. SplitMix64 is a 64-bit state, full-period generator whose output
// is a fixed function of its seed, so every run on every machine produces the
// same sequence. It is not cryptographically secure and is not meant to be.
package rng

// SplitMix64 is a SplitMix64 generator. The zero value is a valid generator
// seeded with 0.
type SplitMix64 struct {
	state uint64
}

// New returns a generator seeded with seed.
func New(seed uint64) *SplitMix64 { return &SplitMix64{state: seed} }

// Derive returns a generator whose seed is a fixed mix of seed and the given
// stream identifiers. It is used to give independent, reproducible streams to
// (seed, step, example) without carrying generator state between them.
func Derive(seed uint64, stream ...uint64) *SplitMix64 {
	s := mix(seed ^ 0x6a09e667f3bcc909)
	for _, x := range stream {
		s = mix(s ^ mix(x+0x9e3779b97f4a7c15))
	}
	return &SplitMix64{state: s}
}

// State returns the generator's internal state (to checkpoint it).
func (r *SplitMix64) State() uint64 { return r.state }

// Uint64 returns the next 64 random bits.
func (r *SplitMix64) Uint64() uint64 {
	r.state += 0x9e3779b97f4a7c15
	return mix(r.state)
}

func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Float64 returns a uniform float64 in [0, 1) with 53 random bits.
func (r *SplitMix64) Float64() float64 {
	return float64(r.Uint64()>>11) * (1.0 / (1 << 53))
}

// Intn returns a uniform integer in [0, n). It returns 0 when n <= 0.
// Lemire's multiply-shift with rejection keeps it unbiased.
func (r *SplitMix64) Intn(n int) int {
	if n <= 0 {
		return 0
	}
	bound := uint64(n)
	threshold := -bound % bound
	for {
		x := r.Uint64()
		hi, lo := mul64(x, bound)
		if lo >= threshold {
			return int(hi)
		}
	}
}

func mul64(a, b uint64) (hi, lo uint64) {
	const mask32 = 1<<32 - 1
	a0, a1 := a&mask32, a>>32
	b0, b1 := b&mask32, b>>32
	w0 := a0 * b0
	t := a1*b0 + w0>>32
	w1 := t&mask32 + a0*b1
	hi = a1*b1 + t>>32 + w1>>32
	lo = a * b
	return
}
