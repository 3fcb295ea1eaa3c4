package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// GPT-2 compatibility: a tokenizer imported from the vocab.json and
// merges.txt files that come with GPT-2 weights. Internally it is the same
// byte-level BPE as the engine's own tokenizers (ids 0..255 are bytes, merge
// i creates id 256+i); a mapping translates those internal ids to GPT-2's
// ids, and the input is split with GPT-2's pre-tokenisation rule
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// implemented by hand (Go's regexp has no look-ahead). Differences from the
// reference: chunks longer than 256 bytes are split, and bytes that are not
// valid UTF-8 count as punctuation. Special tokens (<|endoftext|>) decode to
// their text and are never produced by Encode.

const gpt2MaxChunk = 256

type gpt2IDs struct {
	ext      []int          // internal id -> GPT-2 id
	canon    []int          // merge i -> internal id used for its result
	toInt    []int          // GPT-2 id -> internal id, -1 for specials and gaps
	specials map[int][]byte // GPT-2 id -> text
}

func (g *gpt2IDs) piece(t *Tokenizer, id int) []byte {
	if id < 0 || id >= len(g.toInt) {
		return nil
	}
	if in := g.toInt[id]; in >= 0 {
		return t.pieces[in]
	}
	return g.specials[id]
}

func newGPT2(merges [][2]int, ext []int, specials map[int]string, vocab int) (*Tokenizer, error) {
	if vocab < 1 || vocab > MaxVocab {
		return nil, fmt.Errorf("tokenizer: gpt2 vocab_size %d out of range", vocab)
	}
	t, err := newTokenizer(KindGPT2, merges)
	if err != nil {
		return nil, err
	}
	if len(ext) != len(t.pieces) {
		return nil, fmt.Errorf("tokenizer: gpt2 ids has %d entries, want %d", len(ext), len(t.pieces))
	}
	g := &gpt2IDs{ext: append([]int(nil), ext...), canon: make([]int, len(merges)), toInt: make([]int, vocab), specials: map[int][]byte{}}
	for i := range g.toInt {
		g.toInt[i] = -1
	}
	for in, id := range ext {
		if id < 0 || id >= vocab {
			return nil, fmt.Errorf("tokenizer: gpt2 id %d outside the vocabulary %d", id, vocab)
		}
		if first := g.toInt[id]; first >= 0 {
			if !bytes.Equal(t.pieces[first], t.pieces[in]) {
				return nil, fmt.Errorf("tokenizer: gpt2 id %d names two different byte strings", id)
			}
			continue
		}
		g.toInt[id] = in
	}
	for i := range merges {
		g.canon[i] = g.toInt[ext[256+i]]
	}
	for id, s := range specials {
		if id < 0 || id >= vocab || g.toInt[id] >= 0 {
			return nil, fmt.Errorf("tokenizer: special token id %d is out of range or already a regular token", id)
		}
		g.specials[id] = []byte(s)
	}
	t.g = g
	return t, nil
}

// bytesToUnicode is GPT-2's reversible map from bytes to printable runes.
func bytesToUnicode() [256]rune {
	var m [256]rune
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			m[b] = rune(b)
		} else {
			m[b] = rune(256 + n)
			n++
		}
	}
	return m
}

// LoadGPT2Files builds a tokenizer from GPT-2's vocab.json (token -> id) and
// merges.txt (one "left right" pair per line after a #version header).
func LoadGPT2Files(vocabJSON, mergesTxt []byte) (*Tokenizer, error) {
	var vocab map[string]int
	if err := json.Unmarshal(vocabJSON, &vocab); err != nil {
		return nil, fmt.Errorf("tokenizer: vocab.json: %w", err)
	}
	if len(vocab) == 0 || len(vocab) > MaxVocab {
		return nil, fmt.Errorf("tokenizer: vocab.json has %d entries", len(vocab))
	}
	b2u := bytesToUnicode()
	u2b := map[rune]byte{}
	for b, r := range b2u {
		u2b[r] = byte(b)
	}
	size := 0
	for _, id := range vocab {
		if id < 0 || id >= MaxVocab {
			return nil, fmt.Errorf("tokenizer: vocab.json id %d out of range", id)
		}
		size = max(size, id+1)
	}
	var ext []int
	strInt := map[string]int{} // token string -> canonical internal id
	for b := 0; b < 256; b++ {
		s := string(b2u[b])
		id, ok := vocab[s]
		if !ok {
			return nil, fmt.Errorf("tokenizer: vocab.json lacks the byte token %q", s)
		}
		ext = append(ext, id)
		strInt[s] = b
	}
	var merges [][2]int
	sc := bufio.NewScanner(bytes.NewReader(mergesTxt))
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	for line := 0; sc.Scan(); line++ {
		text := strings.TrimRight(sc.Text(), "\r")
		if text == "" || (line == 0 && strings.HasPrefix(text, "#version")) {
			continue
		}
		parts := strings.Split(text, " ")
		if len(parts) != 2 {
			return nil, fmt.Errorf("tokenizer: merges.txt line %d is not a pair: %q", line+1, text)
		}
		a, okA := strInt[parts[0]]
		b, okB := strInt[parts[1]]
		if !okA || !okB {
			return nil, fmt.Errorf("tokenizer: merges.txt line %d uses a token no earlier merge built: %q", line+1, text)
		}
		joined := parts[0] + parts[1]
		id, ok := vocab[joined]
		if !ok {
			return nil, fmt.Errorf("tokenizer: merges.txt line %d builds %q, which vocab.json lacks", line+1, joined)
		}
		in := 256 + len(merges)
		merges = append(merges, [2]int{a, b})
		ext = append(ext, id)
		if _, seen := strInt[joined]; !seen {
			strInt[joined] = in
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tokenizer: merges.txt: %w", err)
	}
	mapped := map[int]bool{}
	for _, id := range ext {
		mapped[id] = true
	}
	specials := map[int]string{}
	for s, id := range vocab {
		if mapped[id] {
			continue
		}
		var raw []byte
		for _, r := range s {
			b, ok := u2b[r]
			if !ok {
				return nil, fmt.Errorf("tokenizer: vocab.json token %q is not in GPT-2's byte alphabet", s)
			}
			raw = append(raw, b)
		}
		specials[id] = string(raw)
	}
	if len(specials) > 1024 {
		return nil, errors.New("tokenizer: vocab.json has more than 1024 tokens no merge builds")
	}
	return newGPT2(merges, ext, specials, size)
}

const (
	gLetter = iota
	gNumber
	gSpace
	gOther
)

func gpt2Class(r rune) int {
	switch {
	case unicode.IsLetter(r):
		return gLetter
	case unicode.IsNumber(r):
		return gNumber
	case unicode.IsSpace(r):
		return gSpace
	default:
		return gOther
	}
}

// gpt2ChunkLen returns the length of the first GPT-2 pre-token of b
// (len(b) > 0), at most gpt2MaxChunk.
func gpt2ChunkLen(b []byte) int {
	return min(gpt2Match(b), gpt2MaxChunk)
}

func gpt2Match(b []byte) int {
	if b[0] == '\'' {
		for _, c := range [...]string{"s", "t", "re", "ve", "m", "ll", "d"} {
			if bytes.HasPrefix(b[1:], []byte(c)) {
				return 1 + len(c)
			}
		}
	}
	start := 0
	if b[0] == ' ' && len(b) > 1 {
		r, _ := utf8.DecodeRune(b[1:])
		if gpt2Class(r) != gSpace {
			start = 1
		}
	}
	r, size := utf8.DecodeRune(b[start:])
	cls := gpt2Class(r)
	if cls != gSpace {
		n := start + size
		for n < len(b) {
			r, size := utf8.DecodeRune(b[n:])
			if gpt2Class(r) != cls {
				break
			}
			n += size
		}
		return n
	}
	// \s+(?!\S) then \s+: a whitespace run, leaving its last character to
	// the next token when a non-space follows and the run is longer than one.
	n, last := 0, 0
	for n < len(b) {
		r, size := utf8.DecodeRune(b[n:])
		if gpt2Class(r) != gSpace {
			break
		}
		n, last = n+size, size
	}
	if n < len(b) && n > last {
		return n - last
	}
	return n
}
