package rules

import (
	"math/rand"
	"testing"
	"time"
)

// Test files are not analyzed: nothing here is reported.
func TestX(t *testing.T) {
	m := map[int]float64{1: rand.Float64()}
	for range m {
		go func() { _ = time.Now() }()
	}
}
