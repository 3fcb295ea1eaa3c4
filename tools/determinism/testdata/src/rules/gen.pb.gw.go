package rules

import (
	"math/rand"
	"time"
)

// Protobuf-generated files are not analyzed.
func generated_gen_pb_gw_go(m map[int]float64) {
	for range m {
		go func() { _ = time.Now(); _ = rand.Int() }()
	}
}
