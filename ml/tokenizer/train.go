package tokenizer

import (
	"context"
	"errors"
	"fmt"
	"sort"
)

// Train learns a byte-level BPE tokenizer with vocabSize ids from data.
//
// The merge order is deterministic: at every step the most frequent adjacent
// pair (counted over chunk occurrences) is merged, ties broken by the
// smallest (left, right) id pair. Training stops early when no pair occurs at
// least twice or when a merge would build a token longer than MaxChunk. The
// context is checked between merges.
func Train(ctx context.Context, data []byte, vocabSize int) (*Tokenizer, error) {
	if vocabSize < 256 {
		return nil, fmt.Errorf("tokenizer: vocabulary size %d is below 256", vocabSize)
	}
	if vocabSize > MaxVocab {
		return nil, fmt.Errorf("tokenizer: vocabulary size %d exceeds %d", vocabSize, MaxVocab)
	}
	if len(data) == 0 {
		return nil, errors.New("tokenizer: cannot train on empty data")
	}
	counts := map[string]int{}
	for _, c := range Chunks(data) {
		counts[string(c)]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	type word struct {
		ids   []int
		count int
	}
	words := make([]word, len(keys))
	for i, k := range keys {
		ids := make([]int, len(k))
		for j := 0; j < len(k); j++ {
			ids[j] = int(k[j])
		}
		words[i] = word{ids: ids, count: counts[k]}
	}
	lengths := make([]int, 256, vocabSize)
	for i := range lengths {
		lengths[i] = 1
	}
	var merges [][2]int
	pairs := map[[2]int]int{}
	for 256+len(merges) < vocabSize {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		clear(pairs)
		for _, w := range words {
			for i := 0; i+1 < len(w.ids); i++ {
				pairs[[2]int{w.ids[i], w.ids[i+1]}] += w.count
			}
		}
		best, bestCount := [2]int{}, 1
		for p, c := range pairs {
			if lengths[p[0]]+lengths[p[1]] > MaxChunk {
				continue
			}
			if c > bestCount || (c == bestCount && bestCount > 1 && pairLess(p, best)) {
				best, bestCount = p, c
			}
		}
		if bestCount < 2 {
			break
		}
		id := 256 + len(merges)
		merges = append(merges, best)
		lengths = append(lengths, lengths[best[0]]+lengths[best[1]])
		for i := range words {
			words[i].ids = mergeAll(words[i].ids, best, id)
		}
	}
	return NewBPE(merges)
}

func pairLess(a, b [2]int) bool {
	if a[0] != b[0] {
		return a[0] < b[0]
	}
	return a[1] < b[1]
}
