package rules

import (
	"cmp"
	"math"
	"strconv"
	"time"
)

type Ratio float64 // want `determinism/float: floating-point type float64`

type Alias = float32 // want `floating-point type float32`

type Weights []float64 // want `float64`

// Only the line with the float field is reported, not the struct header.
type S struct {
	A int
	B float64 // want `floating-point type float64`
	C map[string]int
}

var r Ratio // want `floating-point type Ratio`

var c complex128 // want `complex128`

func sig(n int) float32 { // want `float32`
	// The constant is typed float32 here.
	return 0 // want `floating-point value \(float32\)`
}

func params(
	a int,
	b float64, // want `float64`
) int {
	return a
}

func locals(n int64, s S, w Weights, d time.Duration) int64 {
	x := 1.5                            // want `floating-point value \(float64\)`
	y := float64(n)                     // want `floating-point type float64`
	z := int64(math.Sqrt(4))            // want `expression of type func\(x float64\) float64 involving float64`
	f, _ := strconv.ParseFloat("1", 64) // want `float64`
	_ = s.B                             // want `floating-point value`
	_ = w[0]                            // want `floating-point value`
	_ = d.Seconds()                     // want `float64`
	_, _, _ = x, y, f                   // want `float64`
	return z
}

// Exact compile-time constant arithmetic on untyped floats is fine.
const big = 1e18

func constants() int64 {
	var n int64 = big
	m := int64(2.5e6)
	return n + m + int64(big/4)
}

// A constraint that merely permits floats is not a use ...
func Max[T cmp.Ordered](a, b T) T {
	if a > b {
		return a
	}
	return b
}

func instantiate() int {
	_ = Max(1.5, 2.5) // want `float64`
	_ = Max[float32]  // want `float32`
	return Max(1, 2)  // ... only an instantiation with floats is.
}
