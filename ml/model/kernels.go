package model

import "math"

// The numeric kernels. Every dot product is a sequential sum over the input
// index, starting from zero, of products rounded to float32; the kernels
// compute four such sums at a time for instruction-level parallelism without
// changing any sum's order. This is the engine's canonical arithmetic: batch
// (prefill, training) and single-token (decode) paths use the same kernels
// and give bit-identical results.

// linear computes y[t,o] = sum_i x[t,i]*w[o,i] (+ b[o]) for t < n, o < out.
// x is [n,in], w is [out,in], y is [n,out]; b may be nil.
func linear(y, x, w, b []float32, n, in, out int) {
	for t := 0; t < n; t++ {
		xt := x[t*in : t*in+in]
		yt := y[t*out : t*out+out]
		o := 0
		for ; o+4 <= out; o += 4 {
			yt[o], yt[o+1], yt[o+2], yt[o+3] = dot4(xt, w[o*in:o*in+in], w[(o+1)*in:(o+1)*in+in], w[(o+2)*in:(o+2)*in+in], w[(o+3)*in:(o+3)*in+in])
		}
		for ; o < out; o++ {
			yt[o] = dot(xt, w[o*in:o*in+in])
		}
		if b != nil {
			for o := range yt {
				yt[o] += b[o]
			}
		}
	}
}

// dot is the canonical sequential dot product.
func dot(x, y []float32) float32 {
	y = y[:len(x)]
	var s float32
	for i, v := range x {
		s += float32(v * y[i])
	}
	return s
}

// dot4 returns four canonical dot products of x with w0..w3.
func dot4(x, w0, w1, w2, w3 []float32) (float32, float32, float32, float32) {
	n := len(x)
	w0, w1, w2, w3 = w0[:n], w1[:n], w2[:n], w3[:n]
	var s0, s1, s2, s3 float32
	for i, v := range x {
		s0 += float32(v * w0[i])
		s1 += float32(v * w1[i])
		s2 += float32(v * w2[i])
		s3 += float32(v * w3[i])
	}
	return s0, s1, s2, s3
}

// axpy computes y += a*x elementwise.
func axpy(y []float32, a float32, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += float32(a * v)
	}
}

// linearBackward accumulates the gradients of y = x w^T + b:
// dx[t,:] = sum_o dy[t,o] w[o,:] (overwrites dx), and, when dw != nil,
// dw[o,:] += sum_t dy[t,o] x[t,:] and db[o] += sum_t dy[t,o]. Each element
// is a sequential sum in o (for dx) or t (for dw) order; axpy4 performs four
// of those additions per pass with the same rounding as four axpy calls.
func linearBackward(dx, dw, db, dy, x, w []float32, n, in, out int) {
	if dx != nil {
		for t := 0; t < n; t++ {
			dxt := dx[t*in : t*in+in]
			clear(dxt)
			dyt := dy[t*out : t*out+out]
			o := 0
			for ; o+4 <= out; o += 4 {
				axpy4(dxt, dyt[o], dyt[o+1], dyt[o+2], dyt[o+3],
					w[o*in:o*in+in], w[(o+1)*in:(o+1)*in+in], w[(o+2)*in:(o+2)*in+in], w[(o+3)*in:(o+3)*in+in])
			}
			for ; o < out; o++ {
				axpy(dxt, dyt[o], w[o*in:o*in+in])
			}
		}
	}
	if dw != nil {
		for o := 0; o < out; o++ {
			dwo := dw[o*in : o*in+in]
			t := 0
			for ; t+4 <= n; t += 4 {
				axpy4(dwo, dy[t*out+o], dy[(t+1)*out+o], dy[(t+2)*out+o], dy[(t+3)*out+o],
					x[t*in:t*in+in], x[(t+1)*in:(t+1)*in+in], x[(t+2)*in:(t+2)*in+in], x[(t+3)*in:(t+3)*in+in])
			}
			for ; t < n; t++ {
				axpy(dwo, dy[t*out+o], x[t*in:t*in+in])
			}
		}
	}
	if db != nil {
		for t := 0; t < n; t++ {
			dyt := dy[t*out : t*out+out]
			for o, g := range dyt {
				db[o] += g
			}
		}
	}
}

// axpy4 computes y += a0*x0; y += a1*x1; y += a2*x2; y += a3*x3 in one pass,
// rounding exactly as the four separate updates would.
func axpy4(y []float32, a0, a1, a2, a3 float32, x0, x1, x2, x3 []float32) {
	n := len(y)
	x0, x1, x2, x3 = x0[:n], x1[:n], x2[:n], x3[:n]
	for i := range y {
		v := y[i] + float32(a0*x0[i])
		v = v + float32(a1*x1[i])
		v = v + float32(a2*x2[i])
		y[i] = v + float32(a3*x3[i])
	}
}

// layerNorm normalises each row of x (n rows of d) into y, saving the row
// mean and reciprocal standard deviation.
func layerNorm(y, mean, rstd, x, g, b []float32, n, d int, eps float32) {
	inv := 1 / float32(d)
	for t := 0; t < n; t++ {
		xt := x[t*d : t*d+d]
		var s float32
		for _, v := range xt {
			s += v
		}
		m := float32(s * inv)
		var ss float32
		for _, v := range xt {
			c := v - m
			ss += float32(c * c)
		}
		r := float32(1 / math.Sqrt(float64(float32(ss*inv)+eps)))
		mean[t], rstd[t] = m, r
		yt := y[t*d : t*d+d]
		for i, v := range xt {
			xh := float32((v - m) * r)
			yt[i] = float32(xh*g[i]) + b[i]
		}
	}
}

// layerNormBackward computes dx (overwritten) from dy for y = layerNorm(x),
// accumulating dg and db when they are non-nil.
func layerNormBackward(dx, dg, db, dy, x, mean, rstd, g []float32, n, d int) {
	inv := 1 / float32(d)
	for t := 0; t < n; t++ {
		xt, dyt, dxt := x[t*d:t*d+d], dy[t*d:t*d+d], dx[t*d:t*d+d]
		m, r := mean[t], rstd[t]
		var sum1, sum2 float32
		for i, v := range xt {
			xh := float32((v - m) * r)
			dxh := float32(dyt[i] * g[i])
			sum1 += dxh
			sum2 += float32(dxh * xh)
			if dg != nil {
				dg[i] += float32(dyt[i] * xh)
				db[i] += dyt[i]
			}
		}
		m1, m2 := float32(sum1*inv), float32(sum2*inv)
		for i, v := range xt {
			xh := float32((v - m) * r)
			dxh := float32(dyt[i] * g[i])
			dxt[i] = float32(r * (dxh - m1 - float32(xh*m2)))
		}
	}
}

const (
	geluC = 0.7978845608028654 // sqrt(2/pi)
	geluK = 0.044715
)

// gelu is the tanh approximation used by GPT-2, computed in float64. It
// also returns the tanh value, which geluGrad reuses.
func gelu(x float32) (float32, float64) {
	v := float64(x)
	u := geluC * float64(v+float64(geluK*float64(v*float64(v*v))))
	th := tanh(u)
	return float32(0.5 * float64(v*float64(1+th))), th
}

// geluGrad is d gelu(x) / dx, given th = tanh(u(x)) from gelu.
func geluGrad(x float32, th float64) float32 {
	v := float64(x)
	du := geluC * float64(1+float64(3*geluK*float64(v*v)))
	return float32(float64(0.5*float64(1+th)) + float64(0.5*float64(v*float64(float64(1-float64(th*th))*du))))
}

func tanh(u float64) float64 {
	if u > 20 {
		return 1
	}
	if u < -20 {
		return -1
	}
	e := Exp(2 * u)
	return float64(e-1) / float64(e+1)
}

const (
	ln2Hi  = 6.93147180369123816490e-01
	ln2Lo  = 1.90821492927058770002e-10
	log2e  = 1.44269504088896338700e+00
	expMax = 709.0
	expMin = -745.0
)

// Exp is the engine's exponential: range reduction by ln 2 and a degree-11
// Taylor polynomial evaluated with every product rounded explicitly, so the
// result does not depend on the compiler's use of fused multiply-add or on
// platform assembly. Relative error is below 1e-13.
func Exp(x float64) float64 {
	switch {
	case x != x:
		return x
	case x > expMax:
		return math.Inf(1)
	case x < expMin:
		return 0
	}
	k := math.Floor(float64(x*log2e) + 0.5)
	r := float64(x-float64(k*ln2Hi)) - float64(k*ln2Lo)
	p := 1.0 / 39916800
	for _, c := range [...]float64{1.0 / 3628800, 1.0 / 362880, 1.0 / 40320, 1.0 / 5040, 1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 0.5, 1, 1} {
		p = float64(p*r) + c
	}
	return math.Ldexp(p, int(k))
}

// Log is the engine's natural logarithm: x = m * 2^e with m in
// [sqrt(1/2), sqrt(2)), log m = 2 atanh((m-1)/(m+1)) by its series, every
// product rounded explicitly. Relative error is below 1e-15 for normal x.
func Log(x float64) float64 {
	switch {
	case x != x || x < 0:
		return math.NaN()
	case x == 0:
		return math.Inf(-1)
	case math.IsInf(x, 1):
		return x
	}
	m, e := math.Frexp(x) // m in [0.5, 1)
	if m < math.Sqrt2/2 {
		m *= 2
		e--
	}
	s := float64(m-1) / float64(m+1)
	s2 := float64(s * s)
	p := 1.0 / 29
	for k := 27; k >= 1; k -= 2 {
		p = float64(p*s2) + 1/float64(k)
	}
	return float64(float64(e)*ln2Hi) + float64(float64(float64(e)*ln2Lo)+float64(2*float64(s*p)))
}

// Cos is the engine's cosine for x in [0, pi] (the learning-rate schedule):
// the Taylor series in x^2 to degree 32, every product rounded explicitly.
// Absolute error is below 1e-15 on that interval.
func Cos(x float64) float64 {
	x2 := float64(x * x)
	// Horner form of sum_{j>=0} (-1)^j x^(2j) / (2j)!
	p := 1.0
	for k := 32; k >= 2; k -= 2 {
		p = 1 - float64(float64(x2*p)/float64(k*(k-1)))
	}
	return p
}
