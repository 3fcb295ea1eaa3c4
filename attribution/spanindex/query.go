package spanindex

import (
	"errors"
	"fmt"
	"slices"
)

// Limits of a query.
const (
	// MaxQueryTokens bounds the output length accepted by Spans.
	MaxQueryTokens = 1 << 14
)

// Span is a maximal span of the output that occurs in the corpus: no
// longer span starting at Start occurs, and it is not a suffix of the span
// starting one token earlier.
type Span struct {
	Start, Len  int // output token range [Start, Start+Len)
	Occurrences int // number of occurrences in the corpus
	// Contributions are the distinct contributions (indices in version
	// order, ascending) holding an occurrence; nil when Occurrences exceeds
	// the query's MaxOccurrences (the span is then too common to credit).
	Contributions []int
}

// QueryOptions parameterise Spans.
type QueryOptions struct {
	MinLen         int // minimum span length in tokens (>= 1)
	MaxOccurrences int // spans occurring more often are not resolved to contributions (>= 1)
}

// Validate checks the options.
func (o QueryOptions) Validate() error {
	if o.MinLen < 1 || o.MinLen > MaxQueryTokens {
		return fmt.Errorf("spanindex: minimum span length %d out of range [1, %d]", o.MinLen, MaxQueryTokens)
	}
	if o.MaxOccurrences < 1 || o.MaxOccurrences > 1<<20 {
		return fmt.Errorf("spanindex: max occurrences %d out of range [1, %d]", o.MaxOccurrences, 1<<20)
	}
	return nil
}

// ErrEmptyQuery is returned for an empty output.
var ErrEmptyQuery = errors.New("spanindex: empty output (nothing to attribute)")

// Spans returns the maximal spans of q of at least opt.MinLen tokens that
// occur in the corpus, in order of Start.
func (ix *Index) Spans(q []int, opt QueryOptions) ([]Span, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	if len(q) == 0 {
		return nil, ErrEmptyQuery
	}
	if len(q) > MaxQueryTokens {
		return nil, fmt.Errorf("spanindex: output has %d tokens, more than the limit %d", len(q), MaxQueryTokens)
	}
	V := int(ix.Header.VocabSize)
	for i, t := range q {
		if t < 0 || t >= V {
			return nil, fmt.Errorf("spanindex: output token %d at %d is outside the vocabulary [0, %d)", t, i, V)
		}
	}
	ls := make([]int, len(q))
	for i := range q {
		l, err := ix.longestMatch(q[i:])
		if err != nil {
			return nil, err
		}
		ls[i] = l
	}
	var spans []Span
	for i, l := range ls {
		if l < opt.MinLen || (i > 0 && ls[i-1] > l) {
			continue
		}
		lo, hi, err := ix.prefixRange(q[i : i+l])
		if err != nil {
			return nil, err
		}
		s := Span{Start: i, Len: l, Occurrences: hi - lo}
		if s.Occurrences <= opt.MaxOccurrences {
			cs := make([]int, 0, s.Occurrences)
			for k := lo; k < hi; k++ {
				p, err := ix.suffix(k)
				if err != nil {
					return nil, err
				}
				cs = append(cs, ix.contributionAt(p))
			}
			slices.Sort(cs)
			s.Contributions = slices.Compact(cs)
		}
		spans = append(spans, s)
	}
	return spans, nil
}

// suffix returns SA[k], checking it (a corrupt file must not crash).
func (ix *Index) suffix(k int) (int, error) {
	p := int(ix.sa.get(k))
	if p >= ix.n {
		return 0, corruptf("suffix-array entry %d is %d, beyond the text (%d)", k, p, ix.n)
	}
	return p, nil
}

// compare compares q with the suffix at p, assuming the first d symbols are
// equal. It returns their common prefix length and the sign of q - suffix,
// with 0 when q is a prefix of the suffix.
func (ix *Index) compare(p int, q []int, d int) (int, int) {
	for ; d < len(q); d++ {
		if p+d >= ix.n {
			return d, 1
		}
		s := int(ix.text.get(p + d))
		if s != q[d] {
			if q[d] < s {
				return d, -1
			}
			return d, 1
		}
	}
	return d, 0
}

// longestMatch returns the length of the longest prefix of q that occurs in
// the corpus (binary search with the common-prefix bounds of both ends).
func (ix *Index) longestMatch(q []int) (int, error) {
	lo, hi := 0, ix.n
	llcp, hlcp := 0, 0
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		p, err := ix.suffix(mid)
		if err != nil {
			return 0, err
		}
		l, c := ix.compare(p, q, min(llcp, hlcp))
		if c > 0 {
			lo, llcp = mid+1, l
		} else {
			hi, hlcp = mid, l
		}
	}
	return max(llcp, hlcp), nil
}

// prefixRange returns the suffix-array range [lo, hi) of suffixes that
// start with q.
func (ix *Index) prefixRange(q []int) (int, int, error) {
	bound := func(upper bool) (int, error) {
		lo, hi := 0, ix.n
		llcp, hlcp := 0, 0
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			p, err := ix.suffix(mid)
			if err != nil {
				return 0, err
			}
			l, c := ix.compare(p, q, min(llcp, hlcp))
			if c > 0 || (upper && c == 0) {
				lo, llcp = mid+1, l
			} else {
				hi, hlcp = mid, l
			}
		}
		return lo, nil
	}
	lo, err := bound(false)
	if err != nil {
		return 0, 0, err
	}
	hi, err := bound(true)
	return lo, hi, err
}
