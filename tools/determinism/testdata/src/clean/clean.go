// Package clean is deterministic consensus-style code: no findings.
package clean

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"maps"
	"slices"
	"sort"
	"time"
)

const scale = 1e6 // untyped constant, used only as an integer

type Params struct {
	Rate   uint64
	Window time.Duration
	Owners map[string]uint64
}

func Settle(p Params, blockTime time.Time, amounts map[string]uint64, done <-chan struct{}, out chan<- int) uint64 {
	var total uint64
	for _, k := range slices.Sorted(maps.Keys(amounts)) {
		total += amounts[k] * p.Rate / uint64(scale)
	}
	keys := make([]string, 0, len(p.Owners))
	//nolint:gocritic // an unrelated directive is ignored
	for _, k := range sortedKeys(p.Owners) {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	deadline := blockTime.Add(p.Window)
	if deadline.Before(blockTime) {
		return 0
	}
	select {
	case <-done:
	case out <- int(total):
	default:
	}
	h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, total))
	return total + uint64(h[0]) + Max(uint64(1), 2)
}

func sortedKeys[M ~map[K]V, K cmp.Ordered, V any](m M) []K {
	return slices.Sorted(maps.Keys(m))
}

func Max[T cmp.Ordered](a, b T) T {
	if a > b {
		return a
	}
	return b
}
