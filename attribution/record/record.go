// Package record holds the canonical attribution record (protobuf,
// proto/openledger/attribution/v1/record.proto), the apportionment of
// integer credits into parts per million with the written remainder rule,
// and the bounded summary the chain stores.
//
// Apportionment (ADR-002): given non-negative integer credits c_i of the
// parties (contributions, then dataset-version pools) with total T > 0,
// party i gets floor(c_i * 1e6 / T) ppm; the 1e6 - sum(floors) ppm left
// over (fewer than the number of parties) go one each to the parties with
// the largest remainders (c_i * 1e6 mod T), ties to the earlier party in
// canonical order: contributions by ascending (datanet id, version,
// contribution id), then pools by ascending (datanet id, version). When
// T = 0 every ppm goes to the first pool.
package record

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sort"
)

// Scale is the total of every record's weights (parts per million).
const Scale = 1_000_000

// FormatVersion is the record format this package writes.
const FormatVersion = 1

// MaxRecordBytes bounds the size of a record accepted by Decode.
const MaxRecordBytes = 16 << 20

// Party identifies a credited party: a contribution, or (Pool) the pool of
// a dataset version.
type Party struct {
	DatanetID, Version, ContributionID uint64
	Pool                               bool
}

func (p Party) less(q Party) bool {
	if p.Pool != q.Pool {
		return !p.Pool
	}
	if p.DatanetID != q.DatanetID {
		return p.DatanetID < q.DatanetID
	}
	if p.Version != q.Version {
		return p.Version < q.Version
	}
	return p.ContributionID < q.ContributionID
}

// Credit is a party's integer credit.
type Credit struct {
	Party  Party
	Credit uint64
}

// Share is a party's apportioned share.
type Share struct {
	Party Party
	PPM   uint32
}

// Apportion turns credits into parts per million summing exactly to Scale
// by the remainder rule above. Parties must be distinct and include at
// least one pool. The result is in canonical party order.
func Apportion(credits []Credit) ([]Share, error) {
	cs := slices.Clone(credits)
	sort.Slice(cs, func(i, j int) bool { return cs[i].Party.less(cs[j].Party) })
	hasPool := false
	var total uint64
	for i, c := range cs {
		if i > 0 && cs[i-1].Party == c.Party {
			return nil, fmt.Errorf("record: party %+v listed twice", c.Party)
		}
		if c.Party.Pool {
			hasPool = true
		}
		var carry uint64
		total, carry = bits.Add64(total, c.Credit, 0)
		if carry != 0 {
			return nil, errors.New("record: credits overflow 64 bits")
		}
	}
	if !hasPool {
		return nil, errors.New("record: apportionment needs a dataset-version pool")
	}
	out := make([]Share, len(cs))
	for i, c := range cs {
		out[i].Party = c.Party
	}
	if total == 0 {
		for i := range out {
			if out[i].Party.Pool {
				out[i].PPM = Scale
				break
			}
		}
		return out, nil
	}
	rems := make([]uint64, len(cs))
	var sum uint64
	for i, c := range cs {
		hi, lo := bits.Mul64(c.Credit, Scale)
		q, r := bits.Div64(hi, lo, total)
		out[i].PPM = uint32(q)
		rems[i] = r
		sum += q
	}
	left := int(Scale - sum)
	order := make([]int, len(cs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return rems[order[a]] > rems[order[b]] })
	for k := 0; k < left; k++ {
		out[order[k]].PPM++
	}
	return out, nil
}

// SetShares fills rec.Weights (contributions with a non-zero share) and
// rec.Pools (every pool) from shares in canonical order.
func SetShares(rec *Record, shares []Share) {
	rec.Weights, rec.Pools = nil, nil
	for _, s := range shares {
		if s.Party.Pool {
			rec.Pools = append(rec.Pools, PoolWeight{DatanetId: s.Party.DatanetID, Version: s.Party.Version, Ppm: s.PPM})
		} else if s.PPM > 0 {
			rec.Weights = append(rec.Weights, ContributionWeight{DatanetId: s.Party.DatanetID, Version: s.Party.Version, ContributionId: s.Party.ContributionID, Ppm: s.PPM})
		}
	}
}

// Encode returns the canonical bytes of rec after validating it.
func Encode(rec *Record) ([]byte, error) {
	if err := Validate(rec); err != nil {
		return nil, err
	}
	return rec.Marshal()
}

// Decode parses and validates a record; it accepts only canonical bytes
// (re-encoding gives the input back).
func Decode(b []byte) (*Record, error) {
	if len(b) > MaxRecordBytes {
		return nil, fmt.Errorf("record: %d bytes exceed the limit %d", len(b), MaxRecordBytes)
	}
	var rec Record
	if err := rec.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("record: invalid protobuf: %w", err)
	}
	if err := Validate(&rec); err != nil {
		return nil, err
	}
	c, err := rec.Marshal()
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	if string(c) != string(b) {
		return nil, errors.New("record: not in canonical form (re-encoding differs)")
	}
	return &rec, nil
}

// Digest returns the hex sha256 of rec's canonical bytes.
func Digest(rec *Record) (string, error) {
	b, err := Encode(rec)
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), nil
}

// Validate checks a record's invariants: version, method and its
// parameters, canonical order, and weights summing to Scale.
func Validate(rec *Record) error {
	if rec.FormatVersion != FormatVersion {
		return fmt.Errorf("record: format version %d, this build reads %d", rec.FormatVersion, FormatVersion)
	}
	switch rec.Method {
	case METHOD_SPAN:
		if rec.SpanParams == nil || rec.InfluenceParams != nil {
			return errors.New("record: a span record needs span_params and no influence_params")
		}
		if rec.SpanParams.MinSpanTokens == 0 || rec.SpanParams.MaxOccurrences == 0 {
			return errors.New("record: span parameters must be positive")
		}
	case METHOD_INFLUENCE:
		if rec.InfluenceParams == nil || rec.SpanParams != nil || len(rec.Spans) != 0 {
			return errors.New("record: an influence record needs influence_params and no span fields")
		}
		if rec.InfluenceParams.SketchDim == 0 || len(rec.InfluenceParams.Checkpoints) == 0 {
			return errors.New("record: influence parameters need a sketch dimension and checkpoints")
		}
	default:
		return fmt.Errorf("record: unknown method %d", rec.Method)
	}
	if len(rec.OutputSha256) != 64 {
		return errors.New("record: output_sha256 must be 64 hex digits")
	}
	if rec.OutputTokens == 0 {
		return errors.New("record: empty output")
	}
	for i, s := range rec.Spans {
		if s.Length == 0 || uint64(s.Start)+uint64(s.Length) > uint64(rec.OutputTokens) {
			return fmt.Errorf("record: span %d [%d,+%d) outside the output (%d tokens)", i, s.Start, s.Length, rec.OutputTokens)
		}
		if i > 0 && s.Start <= rec.Spans[i-1].Start {
			return fmt.Errorf("record: spans not in order of start at %d", i)
		}
		if !slices.IsSorted(s.ContributionIds) || len(slices.Compact(slices.Clone(s.ContributionIds))) != len(s.ContributionIds) {
			return fmt.Errorf("record: span %d contribution ids not strictly ascending", i)
		}
		if s.Common && len(s.ContributionIds) != 0 {
			return fmt.Errorf("record: common span %d lists contributions", i)
		}
	}
	var sum uint64
	var prev *Party
	for i, w := range rec.Weights {
		p := Party{DatanetID: w.DatanetId, Version: w.Version, ContributionID: w.ContributionId}
		if w.Ppm == 0 {
			return fmt.Errorf("record: weight %d is zero (zero weights are omitted)", i)
		}
		if prev != nil && !prev.less(p) {
			return fmt.Errorf("record: weights not in strictly ascending order at %d", i)
		}
		prev = &p
		sum += uint64(w.Ppm)
	}
	if len(rec.Pools) == 0 {
		return errors.New("record: no dataset-version pool")
	}
	prev = nil
	for i, w := range rec.Pools {
		p := Party{DatanetID: w.DatanetId, Version: w.Version, Pool: true}
		if prev != nil && !prev.less(p) {
			return fmt.Errorf("record: pools not in strictly ascending order at %d", i)
		}
		prev = &p
		sum += uint64(w.Ppm)
	}
	if sum != Scale {
		return fmt.Errorf("record: weights sum to %d, want %d", sum, Scale)
	}
	return nil
}

// Summarize returns the bounded summary of rec: the k contributions with
// the largest shares (ties: ascending datanet id, version, contribution
// id), every other contribution's share added to its dataset version's
// pool. Top entries keep their ppm; the total stays Scale.
func Summarize(rec *Record, k int) (*Summary, error) {
	d, err := Digest(rec)
	if err != nil {
		return nil, err
	}
	if k < 0 {
		return nil, errors.New("record: negative K")
	}
	ws := slices.Clone(rec.Weights)
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].Ppm > ws[j].Ppm }) // stable: canonical order breaks ties
	s := &Summary{RecordSha256: d, Pools: slices.Clone(rec.Pools)}
	for i, w := range ws {
		if i < k {
			s.Top = append(s.Top, w)
			continue
		}
		j := sort.Search(len(s.Pools), func(j int) bool {
			p := s.Pools[j]
			return p.DatanetId > w.DatanetId || (p.DatanetId == w.DatanetId && p.Version >= w.Version)
		})
		if j == len(s.Pools) || s.Pools[j].DatanetId != w.DatanetId || s.Pools[j].Version != w.Version {
			s.Pools = slices.Insert(s.Pools, j, PoolWeight{DatanetId: w.DatanetId, Version: w.Version})
		}
		s.Pools[j].Ppm += w.Ppm
	}
	return s, nil
}

// EncodeBatch returns the canonical bytes of a batch, validating each
// record.
func EncodeBatch(b *RecordBatch) ([]byte, error) {
	if b.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("record: batch format version %d, want %d", b.FormatVersion, FormatVersion)
	}
	for i := range b.Records {
		if err := Validate(&b.Records[i]); err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
	}
	return b.Marshal()
}

// DecodeBatch parses and validates a canonical batch.
func DecodeBatch(data []byte) (*RecordBatch, error) {
	if len(data) > MaxRecordBytes {
		return nil, fmt.Errorf("record: %d bytes exceed the limit %d", len(data), MaxRecordBytes)
	}
	var b RecordBatch
	if err := b.Unmarshal(data); err != nil {
		return nil, fmt.Errorf("record: invalid protobuf: %w", err)
	}
	c, err := EncodeBatch(&b)
	if err != nil {
		return nil, err
	}
	if string(c) != string(data) {
		return nil, errors.New("record: batch not in canonical form")
	}
	return &b, nil
}
