package rules

import "math/rand" // want `determinism/rand: import of math/rand`

var _ = rand.Intn
