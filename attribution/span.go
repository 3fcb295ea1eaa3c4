// Package attribution computes Proof of Attribution records that anyone
// can recompute byte for byte (ADR-002, docs/architecture/
// adr-002-proof-of-attribution.md).
//
//   - Span attribution (generative models): the maximal spans of an output
//     that occur in a dataset version's span index (package spanindex)
//     credit the contributions holding them.
//   - Influence attribution (small models, LoRA fine-tunes): TracIn over
//     seeded random projections of per-example LoRA gradients (package
//     influence).
//
// Both produce a record.Record whose integer weights in parts per million
// sum exactly to 1,000,000.
package attribution

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/openledger/openledger/attribution/record"
	"github.com/openledger/openledger/attribution/spanindex"
	"github.com/openledger/openledger/ml/tokenizer"
)

// MaxOutputTokens bounds the output length that is attributed.
const MaxOutputTokens = 4096

// TokenScale is the fixed-point credit of one output token (2^32).
const TokenScale = 1 << 32

// SpanParams are the parameters of span attribution.
type SpanParams struct {
	MinSpanTokens  int // minimum credited span length, in tokens
	MaxOccurrences int // spans occurring more often are common: their tokens go to the pool
}

// DefaultSpanParams are the parameters used unless the caller chooses.
func DefaultSpanParams() SpanParams { return SpanParams{MinSpanTokens: 8, MaxOccurrences: 64} }

// Validate checks the parameters.
func (p SpanParams) Validate() error {
	if p.MinSpanTokens < 1 || p.MinSpanTokens > MaxOutputTokens {
		return fmt.Errorf("attribution: minimum span %d tokens out of range [1, %d]", p.MinSpanTokens, MaxOutputTokens)
	}
	if p.MaxOccurrences < 1 || p.MaxOccurrences > 4096 {
		return fmt.Errorf("attribution: max occurrences %d out of range [1, 4096]", p.MaxOccurrences)
	}
	return nil
}

// SpanSource is an opened span index and its artifact reference.
type SpanSource struct {
	Index    *spanindex.Index
	Artifact record.Artifact
	// Tokenizer is the index's tokenizer (optional; callers may pass it
	// separately).
	Tokenizer *tokenizer.Tokenizer
}

// ErrEmptyOutput is returned for an empty output.
var ErrEmptyOutput = errors.New("attribution: empty output (nothing to attribute)")

// OutputTokens tokenises an output for attribution, enforcing the limits.
func OutputTokens(tok *tokenizer.Tokenizer, output []byte) ([]int, error) {
	if len(output) == 0 {
		return nil, ErrEmptyOutput
	}
	if len(output) > MaxOutputTokens*tokenizer.MaxChunk {
		return nil, fmt.Errorf("attribution: output of %d bytes is longer than the limit of %d tokens", len(output), MaxOutputTokens)
	}
	q := tok.Encode(output)
	if len(q) > MaxOutputTokens {
		return nil, fmt.Errorf("attribution: output has %d tokens, more than the limit %d", len(q), MaxOutputTokens)
	}
	return q, nil
}

// AttributeSpans computes the span attribution record of output, produced
// by model, against the dataset version indexed by src. tok must be the
// index's tokenizer.
func AttributeSpans(src SpanSource, tok *tokenizer.Tokenizer, model record.ModelRef, output []byte, p SpanParams) (*record.Record, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	ix := src.Index
	if err := ix.CheckTokenizer(tok); err != nil {
		return nil, err
	}
	q, err := OutputTokens(tok, output)
	if err != nil {
		return nil, err
	}
	spans, err := ix.Spans(q, spanindex.QueryOptions{MinLen: p.MinSpanTokens, MaxOccurrences: p.MaxOccurrences})
	if err != nil {
		return nil, err
	}
	credited := CoverTokens(len(q), spans)

	h := ix.Header
	dv := record.DatasetVersionRef{DatanetId: h.DatanetID, Version: h.Version}
	sum := sha256.Sum256(output)
	model.TokenizerSha256 = tok.Digest()
	rec := &record.Record{
		FormatVersion:  record.FormatVersion,
		Method:         record.METHOD_SPAN,
		Model:          model,
		OutputSha256:   hex.EncodeToString(sum[:]),
		OutputTokens:   uint32(len(q)),
		DatasetVersion: dv,
		Index:          src.Artifact,
		SpanParams:     &record.SpanParams{MinSpanTokens: uint32(p.MinSpanTokens), MaxOccurrences: uint32(p.MaxOccurrences)},
	}
	perContrib := make([]uint64, ix.NumContributions())
	var pool uint64
	for i, s := range spans {
		rs := record.Span{Start: uint32(s.Start), Length: uint32(s.Len), Occurrences: uint64(s.Occurrences),
			CreditedTokens: uint32(credited[i]), Common: s.Contributions == nil}
		for _, c := range s.Contributions {
			rs.ContributionIds = append(rs.ContributionIds, ix.ContributionID(c))
		}
		rs.ContributionIds = sortedUnique(rs.ContributionIds)
		rec.Spans = append(rec.Spans, rs)

		mass := uint64(credited[i]) * TokenScale
		if s.Contributions == nil || mass == 0 {
			pool += mass
			continue
		}
		d := uint64(len(s.Contributions))
		each := mass / (d * d)
		for _, c := range s.Contributions {
			perContrib[c] += each
		}
		pool += mass - d*each
	}
	shares, err := apportionByIndex(ix, perContrib, pool)
	if err != nil {
		return nil, err
	}
	record.SetShares(rec, shares)
	if err := record.Validate(rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// CoverTokens assigns every output token to the longest span covering it
// (ties: the earlier span) and returns, per span, the number of tokens it
// carries. Tokens covered by no span carry no credit.
func CoverTokens(n int, spans []spanindex.Span) []int {
	owner := make([]int, n)
	for t := range owner {
		owner[t] = -1
	}
	for i, s := range spans {
		for t := s.Start; t < s.Start+s.Len; t++ {
			if o := owner[t]; o < 0 || spans[o].Len < s.Len {
				owner[t] = i
			}
		}
	}
	out := make([]int, len(spans))
	for _, o := range owner {
		if o >= 0 {
			out[o]++
		}
	}
	return out
}

// apportionByIndex apportions per-contribution credits (indexed in version
// order) plus the dataset version's pool. Credits of contributions sharing
// an id (not expected) are merged.
func apportionByIndex(ix *spanindex.Index, perContrib []uint64, pool uint64) ([]record.Share, error) {
	h := ix.Header
	byID := map[uint64]uint64{}
	var ids []uint64
	for c, v := range perContrib {
		if v == 0 {
			continue
		}
		id := ix.ContributionID(c)
		if _, ok := byID[id]; !ok {
			ids = append(ids, id)
		}
		byID[id] += v
	}
	credits := make([]record.Credit, 0, len(ids)+1)
	for _, id := range ids {
		credits = append(credits, record.Credit{Party: record.Party{DatanetID: h.DatanetID, Version: h.Version, ContributionID: id}, Credit: byID[id]})
	}
	credits = append(credits, record.Credit{Party: record.Party{DatanetID: h.DatanetID, Version: h.Version, Pool: true}, Credit: pool})
	return record.Apportion(credits)
}

func sortedUnique(ids []uint64) []uint64 {
	slices.Sort(ids)
	return slices.Compact(ids)
}
