// Package tokenizer implements the engine's byte-level tokenizers.
//
// A Tokenizer maps any byte sequence to token ids and back without loss.
// Ids 0..255 are the raw bytes; each id 256+i is the concatenation of the two
// tokens of merge i. The byte-level tokenizer is the special case with no
// merges (vocabulary 256); a byte-level BPE tokenizer is trained from a corpus
// with a deterministic merge order (see Train).
//
// Before merges are applied the input is split into short chunks (a run of
// letters or digits with at most one leading space, a run of other bytes of
// one class, each at most MaxChunk bytes); merges never cross a chunk
// boundary. Chunks concatenate back to the input, so Decode(Encode(b)) == b
// for every b.
package tokenizer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// Kinds of tokenizer.
const (
	KindByte = "byte"
	KindBPE  = "bpe"
	KindGPT2 = "gpt2" // imported from GPT-2's vocab.json and merges.txt (gpt2.go)
)

// MaxChunk bounds the length of a pre-tokenisation chunk, which bounds the
// work per chunk during encoding.
const MaxChunk = 64

// MaxVocab bounds the vocabulary size accepted from files and training.
const MaxVocab = 1 << 20

// Tokenizer is an immutable byte-level (BPE) tokenizer. It is safe for
// concurrent use.
type Tokenizer struct {
	kind   string
	merges [][2]int
	ranks  map[[2]int]int
	pieces [][]byte // bytes of every internal token id
	g      *gpt2IDs // GPT-2 id mapping; nil for the engine's own kinds
}

// NewByte returns the byte-level tokenizer (vocabulary 256).
func NewByte() *Tokenizer {
	t, _ := newTokenizer(KindByte, nil)
	return t
}

// NewBPE builds a BPE tokenizer from its merge list; merge i creates id 256+i.
func NewBPE(merges [][2]int) (*Tokenizer, error) {
	return newTokenizer(KindBPE, merges)
}

func newTokenizer(kind string, merges [][2]int) (*Tokenizer, error) {
	maxPiece := MaxChunk
	switch kind {
	case KindByte:
		if len(merges) != 0 {
			return nil, errors.New("tokenizer: a byte tokenizer has no merges")
		}
	case KindBPE:
	case KindGPT2:
		maxPiece = gpt2MaxChunk
	default:
		return nil, fmt.Errorf("tokenizer: unknown kind %q (want %q or %q)", kind, KindByte, KindBPE)
	}
	if 256+len(merges) > MaxVocab {
		return nil, fmt.Errorf("tokenizer: %d merges exceed the vocabulary limit %d", len(merges), MaxVocab)
	}
	t := &Tokenizer{kind: kind, merges: make([][2]int, len(merges)), ranks: make(map[[2]int]int, len(merges))}
	t.pieces = make([][]byte, 256, 256+len(merges))
	for i := 0; i < 256; i++ {
		t.pieces[i] = []byte{byte(i)}
	}
	for i, m := range merges {
		id := 256 + i
		for _, part := range m {
			if part < 0 || part >= id {
				return nil, fmt.Errorf("tokenizer: merge %d refers to token %d, which is not defined before it", i, part)
			}
		}
		if _, dup := t.ranks[m]; dup {
			return nil, fmt.Errorf("tokenizer: merge %d (%d,%d) is a duplicate", i, m[0], m[1])
		}
		piece := append(append([]byte{}, t.pieces[m[0]]...), t.pieces[m[1]]...)
		if len(piece) > maxPiece {
			return nil, fmt.Errorf("tokenizer: merge %d builds a %d-byte token, longer than a chunk (%d)", i, len(piece), maxPiece)
		}
		t.merges[i] = m
		t.ranks[m] = i
		t.pieces = append(t.pieces, piece)
	}
	return t, nil
}

// Kind returns "byte" or "bpe".
func (t *Tokenizer) Kind() string { return t.kind }

// VocabSize returns the number of token ids.
func (t *Tokenizer) VocabSize() int {
	if t.g != nil {
		return len(t.g.toInt)
	}
	return len(t.pieces)
}

// Merges returns a copy of the merge list.
func (t *Tokenizer) Merges() [][2]int { return append([][2]int(nil), t.merges...) }

// Piece returns the bytes of token id, or nil if id is out of range.
func (t *Tokenizer) Piece(id int) []byte {
	if t.g != nil {
		return t.g.piece(t, id)
	}
	if id < 0 || id >= len(t.pieces) {
		return nil
	}
	return t.pieces[id]
}

// Encode returns the token ids of b.
func (t *Tokenizer) Encode(b []byte) []int {
	out := make([]int, 0, len(b)/2+1)
	split := ChunkLen
	if t.g != nil {
		split = gpt2ChunkLen
	}
	for len(b) > 0 {
		n := split(b)
		out = t.encodeChunk(b[:n], out)
		b = b[n:]
	}
	if t.g != nil {
		for i, id := range out {
			out[i] = t.g.ext[id]
		}
	}
	return out
}

// EncodeString is Encode for a string.
func (t *Tokenizer) EncodeString(s string) []int { return t.Encode([]byte(s)) }

func (t *Tokenizer) encodeChunk(c []byte, out []int) []int {
	start := len(out)
	for _, x := range c {
		out = append(out, int(x))
	}
	if len(t.merges) == 0 {
		return out
	}
	seq := out[start:]
	for len(seq) > 1 {
		best, bestRank := -1, len(t.merges)
		for i := 0; i+1 < len(seq); i++ {
			if r, ok := t.ranks[[2]int{seq[i], seq[i+1]}]; ok && r < bestRank {
				best, bestRank = i, r
			}
		}
		if best < 0 {
			break
		}
		id := 256 + bestRank
		if t.g != nil {
			id = t.g.canon[bestRank]
		}
		seq = mergeAll(seq, t.merges[bestRank], id)
	}
	return out[:start+len(seq)]
}

// mergeAll replaces every non-overlapping occurrence of pair (left to right)
// by id, in place, and returns the shortened slice.
func mergeAll(seq []int, pair [2]int, id int) []int {
	w := 0
	for r := 0; r < len(seq); {
		if r+1 < len(seq) && seq[r] == pair[0] && seq[r+1] == pair[1] {
			seq[w] = id
			r += 2
		} else {
			seq[w] = seq[r]
			r++
		}
		w++
	}
	return seq[:w]
}

// Decode returns the bytes of ids; an id outside the vocabulary is an error.
func (t *Tokenizer) Decode(ids []int) ([]byte, error) {
	var buf bytes.Buffer
	for i, id := range ids {
		p := t.Piece(id)
		if p == nil {
			return nil, fmt.Errorf("tokenizer: token %d at position %d is outside the vocabulary (size %d)", id, i, t.VocabSize())
		}
		buf.Write(p)
	}
	return buf.Bytes(), nil
}

// byte classes for chunking
const (
	clsLetter = iota
	clsDigit
	clsSpace
	clsNewline
	clsOther
)

func class(b byte) int {
	switch {
	case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= 0x80:
		return clsLetter
	case b >= '0' && b <= '9':
		return clsDigit
	case b == ' ' || b == '\t':
		return clsSpace
	case b == '\n' || b == '\r':
		return clsNewline
	default:
		return clsOther
	}
}

// ChunkLen returns the length of the first pre-tokenisation chunk of b
// (len(b) > 0). The span index scans blocks with it without allocating.
func ChunkLen(b []byte) int {
	i := 0
	if b[0] == ' ' && len(b) > 1 {
		if c := class(b[1]); c == clsLetter || c == clsDigit {
			i = 1
		}
	}
	c := class(b[i])
	i++
	for i < len(b) && i < MaxChunk && class(b[i]) == c {
		i++
	}
	return i
}

// Chunks splits b into its pre-tokenisation chunks (exported for tests and
// for tools that index text by chunk).
func Chunks(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n := ChunkLen(b)
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// fileFormat is the JSON form of a tokenizer.
type fileFormat struct {
	Kind   string   `json:"kind"`
	Vocab  int      `json:"vocab_size"`
	Merges [][2]int `json:"merges"`
	// GPT-2 kind only: the external id of every internal id, and the
	// special tokens (external id -> text) no merge produces.
	IDs      []int          `json:"ids,omitempty"`
	Specials map[int]string `json:"specials,omitempty"`
}

// MarshalJSON returns the canonical JSON form of t.
func (t *Tokenizer) MarshalJSON() ([]byte, error) {
	m := t.merges
	if m == nil {
		m = [][2]int{}
	}
	f := fileFormat{Kind: t.kind, Vocab: t.VocabSize(), Merges: m}
	if t.g != nil {
		f.IDs = t.g.ext
		f.Specials = map[int]string{}
		for id, s := range t.g.specials {
			f.Specials[id] = string(s)
		}
	}
	return json.Marshal(f)
}

// Parse decodes a tokenizer from its JSON form, validating it.
func Parse(data []byte) (*Tokenizer, error) {
	var f fileFormat
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("tokenizer: invalid JSON: %w", err)
	}
	if f.Kind == KindGPT2 {
		return newGPT2(f.Merges, f.IDs, f.Specials, f.Vocab)
	}
	if f.IDs != nil || f.Specials != nil {
		return nil, errors.New("tokenizer: ids and specials are only valid for the gpt2 kind")
	}
	t, err := newTokenizer(f.Kind, f.Merges)
	if err != nil {
		return nil, err
	}
	if f.Vocab != t.VocabSize() {
		return nil, fmt.Errorf("tokenizer: vocab_size %d does not match 256 + %d merges", f.Vocab, len(f.Merges))
	}
	return t, nil
}

// Digest returns the hex sha256 of the canonical JSON form.
func (t *Tokenizer) Digest() string {
	b, _ := t.MarshalJSON()
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
