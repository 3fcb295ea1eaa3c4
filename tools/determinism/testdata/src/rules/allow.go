package rules

import (
	"crypto/rand" //determinism:allow key generation for the CLI only, never in a state transition
	_ "crypto/sha256"
	"maps"
	"slices"
	"time"
)

var _ = rand.Reader

// Each rule, allowed at the end of the line and on the line above.
func allowed(m map[string]int, t time.Time) int {
	x := 0.5 //determinism:allow metrics only, never stored in state
	//determinism:allow metrics only, never stored in state
	y := float64(len(m))
	_, _ = x, y //determinism:allow metrics only

	_ = time.Now() //determinism:allow log timestamp, not consensus
	//determinism:allow log timestamp, not consensus
	_ = time.Since(t)

	n := 0
	for _, v := range m { //determinism:allow commutative sum, order-independent
		n += v
	}
	//determinism:allow commutative sum, order-independent
	for k := range maps.Keys(m) {
		n += len(k)
	}

	go work() //determinism:allow background cache warm-up, no state writes
	//determinism:allow background cache warm-up, no state writes
	go work()

	// One directive covers every finding on its line.
	z := float64(time.Since(t)) //determinism:allow telemetry
	_ = z                       // want `floating-point value`
	return n + len(slices.Sorted(maps.Keys(m)))
}

// Directives that do not (or no longer) apply are findings themselves.
func misused(t time.Time) {
	_ = time.Now() //determinism:allow // want `determinism/allow: //determinism:allow needs a reason` `time.Now`

	//determinism:allow // want `needs a reason`
	_ = time.Now() // want `time.Now`

	// determinism:allow spaced out // want `malformed directive: write //determinism:allow <reason> with no space`
	_ = time.Now() // want `time.Now`

	//determinism:allowed because // want `unknown directive //determinism:allowed`
	_ = time.Now() // want `time.Now`

	_ = t.Unix() //determinism:allow nothing to allow here // want `does not suppress any finding`

	//determinism:allow only covers the line directly below // want `does not suppress any finding`

	_ = time.Now() // want `time.Now`

	// A trailing directive does not leak onto the next line.
	_ = time.Now() //determinism:allow logging only
	_ = time.Now() // want `time.Now`
}
