package rules

import (
	"maps"
	"slices"
)

type Index map[string]int

func ranges(m map[string]int, idx Index, s []int, ch chan int, seq func(func(int) bool)) int {
	n := 0
	for k := range m { // want `determinism/maprange: range over map \(type map\[string\]int\)`
		n += len(k)
	}
	for _, v := range idx { // want `range over map`
		n += v
	}
	for k := range maps.Keys(m) { // want `range over the result of maps.Keys`
		n += len(k)
	}
	for k, v := range maps.All(m) { // want `maps.All`
		n += len(k) + v
	}
	// Deterministic alternatives are not reported.
	for _, k := range slices.Sorted(maps.Keys(m)) {
		n += m[k]
	}
	for _, v := range s {
		n += v
	}
	for i := range 3 {
		n += i
	}
	for c := range "abc" {
		n += c
	}
	for v := range seq {
		n += v
	}
	for v := range ch {
		n += v
	}
	return n
}

func generic[M ~map[string]int](m M) int {
	n := 0
	for _, v := range m { // want `range over type parameter M whose type set contains a map`
		n += v
	}
	return n
}
