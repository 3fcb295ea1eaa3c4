package spanindex

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/openledger/openledger/ml/tokenizer"
)

func buildTest(t testing.TB, tok *tokenizer.Tokenizer, docs [][]byte) (string, *Index) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "test.spanidx")
	var cs []Contribution
	for i, d := range docs {
		cs = append(cs, BytesContribution(uint64(100+i), d))
	}
	if _, err := Build(context.Background(), path, cs, BuildOptions{DatanetID: 1, Version: 2, Tokenizer: tok, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	ix, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return path, ix
}

// naiveSpans computes maximal spans by brute force over the documents.
func naiveSpans(tok *tokenizer.Tokenizer, docs [][]byte, q []int, minLen int) []Span {
	var toks [][]int
	for _, d := range docs {
		toks = append(toks, tok.Encode(d))
	}
	occ := func(p []int) (int, []int) {
		n := 0
		var cs []int
		for ci, d := range toks {
			found := false
			for s := 0; s+len(p) <= len(d); s++ {
				if slices.Equal(d[s:s+len(p)], p) {
					n++
					found = true
				}
			}
			if found {
				cs = append(cs, ci)
			}
		}
		return n, cs
	}
	ls := make([]int, len(q))
	for i := range q {
		l := 0
		for l < len(q)-i {
			if n, _ := occ(q[i : i+l+1]); n == 0 {
				break
			}
			l++
		}
		ls[i] = l
	}
	var out []Span
	for i, l := range ls {
		if l < minLen || (i > 0 && ls[i-1] > l) {
			continue
		}
		n, cs := occ(q[i : i+l])
		out = append(out, Span{Start: i, Len: l, Occurrences: n, Contributions: cs})
	}
	return out
}

func TestSpansMatchNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tok := tokenizer.NewByte()
	for iter := 0; iter < 40; iter++ {
		alpha := "abc d\n"
		var docs [][]byte
		for c := 0; c < 1+r.IntN(6); c++ {
			d := make([]byte, r.IntN(60))
			for i := range d {
				d[i] = alpha[r.IntN(len(alpha))]
			}
			docs = append(docs, d)
		}
		_, ix := buildTest(t, tok, docs)
		if err := ix.Verify(); err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 10; k++ {
			qb := make([]byte, 1+r.IntN(30))
			for i := range qb {
				qb[i] = alpha[r.IntN(len(alpha))]
			}
			q := tok.Encode(qb)
			minLen := 1 + r.IntN(4)
			got, err := ix.Spans(q, QueryOptions{MinLen: minLen, MaxOccurrences: 1000})
			if err != nil {
				t.Fatal(err)
			}
			want := naiveSpans(tok, docs, q, minLen)
			if len(got) != len(want) {
				t.Fatalf("docs %q q %q: got %+v want %+v", docs, qb, got, want)
			}
			for i := range got {
				if got[i].Start != want[i].Start || got[i].Len != want[i].Len || got[i].Occurrences != want[i].Occurrences || !slices.Equal(got[i].Contributions, want[i].Contributions) {
					t.Fatalf("docs %q q %q: span %d got %+v want %+v", docs, qb, i, got[i], want[i])
				}
			}
		}
	}
}

func TestBuildDeterministicAndStreaming(t *testing.T) {
	tok := tokenizer.NewByte()
	// Larger than a block so the streaming cut is exercised.
	big := bytes.Repeat([]byte("hello world, the quick brown fox\njumps over  \n\n the lazy dog. "), 40000)
	docs := [][]byte{big, []byte("short one"), {}}
	p1, ix := buildTest(t, tok, docs)
	p2, _ := buildTest(t, tok, docs)
	b1, _ := os.ReadFile(p1)
	b2, _ := os.ReadFile(p2)
	if !bytes.Equal(b1, b2) {
		t.Fatal("two builds differ")
	}
	if got, want := ix.Header.Tokens(), uint64(len(big)+9); got != want {
		t.Fatalf("tokens %d want %d", got, want)
	}
	if got := ix.Tokens(0, 20); !slices.Equal(got, tok.Encode(big[:20])) {
		t.Fatalf("text %v", got)
	}
	if err := ix.Verify(); err != nil {
		t.Fatal(err)
	}
}

// The memory-mapped path (corpora larger than MaxMemory) gives the same
// file as the in-memory one.
func TestMappedBuildMatchesHeapBuild(t *testing.T) {
	tok := tokenizer.NewByte()
	var cs []Contribution
	for i := 0; i < 5; i++ {
		cs = append(cs, BytesContribution(uint64(i), bytes.Repeat([]byte(fmt.Sprintf("doc %d says hello to the world. ", i%3)), 500)))
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if _, err := Build(context.Background(), a, cs, BuildOptions{Tokenizer: tok}); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(context.Background(), b, cs, BuildOptions{Tokenizer: tok, MaxMemory: 1}); err != nil {
		t.Fatal(err)
	}
	ba, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ba, bb) {
		t.Fatal("mapped and heap builds differ")
	}
}

func TestBPEStreamingMatchesWholeEncode(t *testing.T) {
	data, err := os.ReadFile("../../ml/testdata/corpus/literature.txt")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Train(context.Background(), data[:20000], 400)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat(data, 25) // > 1 MiB: several blocks
	_, ix := buildTest(t, tok, [][]byte{big})
	want := tok.Encode(big)
	if got := ix.Tokens(0, len(want)); !slices.Equal(got, want) {
		t.Fatal("streamed tokenisation differs from Encode of the whole text")
	}
	if err := ix.CheckTokenizer(tok); err != nil {
		t.Fatal(err)
	}
	if err := ix.CheckTokenizer(tokenizer.NewByte()); err == nil {
		t.Fatal("tokenizer mismatch not detected")
	}
}

func TestCorruptIndex(t *testing.T) {
	tok := tokenizer.NewByte()
	path, _ := buildTest(t, tok, [][]byte{[]byte("some text here"), []byte("more text")})
	good, _ := os.ReadFile(path)
	cases := map[string][]byte{
		"empty":       {},
		"truncated":   good[:len(good)-3],
		"header only": good[:HeaderSize],
		"bad magic":   append([]byte("XXXXXXXX"), good[8:]...),
		"extended":    append(append([]byte{}, good...), 0),
	}
	flip := append([]byte{}, good...)
	flip[40] ^= 1
	cases["header bit flip"] = flip
	flip2 := append([]byte{}, good...)
	flip2[HeaderSize+3] ^= 1
	cases["table bit flip"] = flip2
	for name, b := range cases {
		p := filepath.Join(t.TempDir(), "x")
		os.WriteFile(p, b, 0o644)
		if _, err := Open(p); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", name, err)
		}
	}
	// A flipped bit in the suffix array passes Open but fails Verify.
	flip3 := append([]byte{}, good...)
	flip3[len(flip3)-padding-1] ^= 0x10
	ix, err := Parse(flip3)
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Verify(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("verify: %v", err)
	}
}

func TestQueryErrors(t *testing.T) {
	_, ix := buildTest(t, tokenizer.NewByte(), [][]byte{[]byte("abc")})
	opt := QueryOptions{MinLen: 2, MaxOccurrences: 10}
	if _, err := ix.Spans(nil, opt); !errors.Is(err, ErrEmptyQuery) {
		t.Fatal(err)
	}
	if _, err := ix.Spans(make([]int, MaxQueryTokens+1), opt); err == nil {
		t.Fatal("long query accepted")
	}
	if _, err := ix.Spans([]int{300}, opt); err == nil {
		t.Fatal("out-of-vocabulary token accepted")
	}
}

func FuzzParse(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "seed")
	cs := []Contribution{BytesContribution(1, []byte("abracadabra")), BytesContribution(2, []byte("cadabra abra"))}
	if _, err := Build(context.Background(), path, cs, BuildOptions{Tokenizer: tokenizer.NewByte()}); err != nil {
		f.Fatal(err)
	}
	seed, _ := os.ReadFile(path)
	f.Add(seed)
	f.Add(seed[:HeaderSize])
	f.Fuzz(func(t *testing.T, b []byte) {
		try := func(b []byte) {
			ix, err := Parse(b)
			if err != nil {
				return
			}
			_ = ix.Verify()
			_, _ = ix.Spans([]int{'a', 'b', 'r', 'a'}, QueryOptions{MinLen: 1, MaxOccurrences: 100})
		}
		try(b)
		// Re-seal the checksums so mutations reach the structural checks.
		if len(b) >= HeaderSize {
			c := append([]byte{}, b...)
			if off, n := binary.LittleEndian.Uint64(c[96:]), binary.LittleEndian.Uint64(c[104:]); off <= uint64(len(c)) && n <= uint64(len(c))-off {
				s := sha256.Sum256(c[off : off+n])
				copy(c[144:176], s[:])
			}
			s := sha256.Sum256(c[:256])
			copy(c[256:288], s[:])
			try(c)
		}
	})
}

func TestPackedRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for w := uint32(1); w <= 32; w++ {
		n := r.IntN(500)
		vals := make([]uint32, n)
		var out []byte
		pw := &packWriter{w: uint(w), emit: func(b []byte) error { out = append(out, b...); return nil }}
		for i := range vals {
			vals[i] = uint32(r.Uint64() & (1<<w - 1))
			pw.put(vals[i])
		}
		pw.finish()
		if uint64(len(out)) != packedLen(uint64(n), w) {
			t.Fatalf("width %d: %d bytes, want %d", w, len(out), packedLen(uint64(n), w))
		}
		p := newPacked(out, w)
		for i, v := range vals {
			if p.get(i) != v {
				t.Fatalf("width %d entry %d: %d want %d", w, i, p.get(i), v)
			}
		}
	}
}
