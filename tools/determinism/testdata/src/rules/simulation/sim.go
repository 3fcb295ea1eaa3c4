// Package simulation is skipped: files in simulation/ directories are not analyzed.
package simulation

import (
	"math/rand"
	"time"
)

func Random(m map[int]float64) float64 {
	for range m {
		go func() { _ = time.Now() }()
	}
	return rand.Float64()
}
