package spanindex

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"sort"

	"github.com/openledger/openledger/ml/tokenizer"
)

// Index is an opened span index. Its methods are safe for concurrent use;
// Close must not race with them.
type Index struct {
	Header   Header
	data     []byte
	m        *mapping
	text, sa packed
	ids      []uint64 // contribution ids, version order
	starts   []uint64 // first text position of each contribution
	sizes    []uint64 // source bytes of each contribution
	n        int
}

// Open memory-maps the index file at path and validates its header and
// contribution table (the packed arrays are checked by Verify).
func Open(path string) (*Index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("spanindex: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("spanindex: %w", err)
	}
	if st.Size() < HeaderSize {
		return nil, corruptf("%s is %d bytes, shorter than the %d-byte header (truncated?)", path, st.Size(), HeaderSize)
	}
	if st.Size() > 1<<40 {
		return nil, corruptf("%s is implausibly large (%d bytes)", path, st.Size())
	}
	m, err := mmapFile(f, int(st.Size()), false)
	if err != nil {
		return nil, err
	}
	ix, err := parse(m.data)
	if err != nil {
		m.unmap()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ix.m = m
	return ix, nil
}

// Parse opens an index held in memory (b is retained).
func Parse(b []byte) (*Index, error) { return parse(b) }

func parse(b []byte) (*Index, error) {
	h, err := parseHeader(b, uint64(len(b)))
	if err != nil {
		return nil, err
	}
	table := b[h.ContribOff : h.ContribOff+h.ContribLen]
	if sum := sha256.Sum256(table); !bytes.Equal(sum[:], h.ContribSHA256[:]) {
		return nil, corruptf("contribution table checksum mismatch")
	}
	C := int(h.Contributions)
	ix := &Index{Header: *h, data: b, n: int(h.Positions),
		ids: make([]uint64, C), starts: make([]uint64, C), sizes: make([]uint64, C)}
	le := binary.LittleEndian
	for i := 0; i < C; i++ {
		e := table[i*contribEntry:]
		ix.ids[i], ix.starts[i], ix.sizes[i] = le.Uint64(e), le.Uint64(e[8:]), le.Uint64(e[16:])
		switch {
		case i == 0 && ix.starts[0] != 0:
			return nil, corruptf("first contribution starts at %d, want 0", ix.starts[0])
		case i > 0 && ix.starts[i] <= ix.starts[i-1]:
			return nil, corruptf("contribution %d starts at %d, not after %d", i, ix.starts[i], ix.starts[i-1])
		case ix.starts[i] >= h.Positions:
			return nil, corruptf("contribution %d starts at %d beyond the text (%d)", i, ix.starts[i], h.Positions)
		}
	}
	ix.text = newPacked(b[h.TextOff:h.TextOff+h.TextLen], h.TextBits)
	ix.sa = newPacked(b[h.SAOff:h.SAOff+h.SALen], h.SABits)
	return ix, nil
}

// Close unmaps the file.
func (ix *Index) Close() error {
	if ix.m == nil {
		return nil
	}
	err := ix.m.unmap()
	ix.m = nil
	ix.data = nil
	return err
}

// Verify checks the packed arrays' checksums and the separator layout; it
// reads the whole file.
func (ix *Index) Verify() error {
	h := &ix.Header
	if sum := sha256.Sum256(ix.data[h.TextOff : h.TextOff+h.TextLen]); !bytes.Equal(sum[:], h.TextSHA256[:]) {
		return corruptf("text checksum mismatch")
	}
	if sum := sha256.Sum256(ix.data[h.SAOff : h.SAOff+h.SALen]); !bytes.Equal(sum[:], h.SASHA256[:]) {
		return corruptf("suffix-array checksum mismatch")
	}
	for i := range ix.starts {
		end := ix.n
		if i+1 < len(ix.starts) {
			end = int(ix.starts[i+1])
		}
		if ix.text.get(end-1) != h.VocabSize {
			return corruptf("contribution %d is not followed by a separator", i)
		}
	}
	return nil
}

// CheckTokenizer reports an error unless tok is the tokenizer the index
// was built with.
func (ix *Index) CheckTokenizer(tok *tokenizer.Tokenizer) error {
	d := hex.EncodeToString(ix.Header.TokenizerDigest[:])
	if tok.Digest() != d || uint32(tok.VocabSize()) != ix.Header.VocabSize {
		return fmt.Errorf("spanindex: index/tokenizer mismatch: the index was built with tokenizer %s (vocabulary %d), got %s (vocabulary %d)",
			short(d), ix.Header.VocabSize, short(tok.Digest()), tok.VocabSize())
	}
	return nil
}

func short(hexs string) string {
	if len(hexs) > 16 {
		return hexs[:16]
	}
	return hexs
}

// NumContributions returns the number of contributions.
func (ix *Index) NumContributions() int { return len(ix.ids) }

// ContributionID returns the id of contribution i (version order).
func (ix *Index) ContributionID(i int) uint64 { return ix.ids[i] }

// ContributionBytes returns the source size of contribution i.
func (ix *Index) ContributionBytes(i int) uint64 { return ix.sizes[i] }

// Positions returns the text length (tokens + separators).
func (ix *Index) Positions() int { return ix.n }

// contributionAt returns the contribution holding text position p.
func (ix *Index) contributionAt(p int) int {
	return sort.Search(len(ix.starts), func(i int) bool { return ix.starts[i] > uint64(p) }) - 1
}

// Tokens returns the text symbols [from, to) (separators included, as V).
func (ix *Index) Tokens(from, to int) []int {
	from, to = max(from, 0), min(to, ix.n)
	var out []int
	for p := from; p < to; p++ {
		out = append(out, int(ix.text.get(p)))
	}
	return out
}
