package tokenizer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func corpus(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "corpus", "fortunes.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestByteTokenizerRoundTrip(t *testing.T) {
	tok := NewByte()
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	ids := tok.Encode(all)
	if len(ids) != 256 {
		t.Fatalf("byte tokenizer produced %d ids for 256 bytes", len(ids))
	}
	for i, id := range ids {
		if id != i {
			t.Fatalf("id %d = %d", i, id)
		}
	}
	back, err := tok.Decode(ids)
	if err != nil || !bytes.Equal(back, all) {
		t.Fatalf("round trip failed: %v", err)
	}
}

func TestTrainSmallExample(t *testing.T) {
	// "ab" occurs 3 times inside chunks, so it is the first merge; the
	// second is ("ab" id 256, 'c').
	tok, err := Train(context.Background(), []byte("abc abc abc xy"), 258)
	if err != nil {
		t.Fatal(err)
	}
	m := tok.Merges()
	if len(m) != 2 {
		t.Fatalf("merges = %v", m)
	}
	// chunks: "abc", " abc", " abc", " xy": pairs ab×3, bc×3, ' 'a×2 ...
	// tie between (a,b) and (b,c) at 3 → smaller pair (97,98) wins.
	if m[0] != [2]int{'a', 'b'} || m[1] != [2]int{256, 'c'} {
		t.Fatalf("unexpected merge order %v", m)
	}
	ids := tok.EncodeString("abc")
	if len(ids) != 1 || ids[0] != 257 {
		t.Fatalf("encode(abc) = %v", ids)
	}
}

func TestTrainDeterministicAndCompresses(t *testing.T) {
	data := corpus(t)
	a, err := Train(context.Background(), data, 512)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Train(context.Background(), data, 512)
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest() != b.Digest() {
		t.Fatal("two trainings on the same data gave different tokenizers")
	}
	if a.VocabSize() != 512 {
		t.Fatalf("vocab = %d", a.VocabSize())
	}
	ids := a.Encode(data)
	if ratio := float64(len(data)) / float64(len(ids)); ratio < 2.0 {
		t.Fatalf("BPE with 256 merges compresses the corpus only %.2fx", ratio)
	}
	back, err := a.Decode(ids)
	if err != nil || !bytes.Equal(back, data) {
		t.Fatal("corpus round trip failed")
	}
	js, _ := a.MarshalJSON()
	c, err := Parse(js)
	if err != nil {
		t.Fatal(err)
	}
	if c.Digest() != a.Digest() {
		t.Fatal("JSON round trip changed the tokenizer")
	}
}

func TestTrainAndParseErrors(t *testing.T) {
	if _, err := Train(context.Background(), nil, 300); err == nil {
		t.Fatal("empty data accepted")
	}
	if _, err := Train(context.Background(), []byte("x"), 100); err == nil {
		t.Fatal("vocab < 256 accepted")
	}
	bad := []string{
		``, `{}`, `{"kind":"bpe","vocab_size":257,"merges":[[1,300]]}`,
		`{"kind":"bpe","vocab_size":258,"merges":[[1,2],[1,2]]}`,
		`{"kind":"wat","vocab_size":256,"merges":[]}`,
		`{"kind":"byte","vocab_size":300,"merges":[]}`,
		`{"kind":"bpe","vocab_size":256,"merges":[],"extra":1}`,
		`{"kind":"bpe","vocab_size":257,"merges":[[-1,2]]}`,
	}
	for _, s := range bad {
		if _, err := Parse([]byte(s)); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
	if _, err := NewByte().Decode([]int{256}); err == nil || !strings.Contains(err.Error(), "outside the vocabulary") {
		t.Fatalf("decode of id 256: %v", err)
	}
}

func FuzzRoundTrip(f *testing.F) {
	tok, err := Train(context.Background(), corpus(f), 400)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("Hello, world!  -- Mark Twain\n%\n"))
	f.Add([]byte{0, 255, 128, ' ', ' ', 'a'})
	f.Add([]byte(strings.Repeat(" ", 200)))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, tk := range []*Tokenizer{tok, NewByte()} {
			ids := tk.Encode(b)
			back, err := tk.Decode(ids)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back, b) {
				t.Fatalf("round trip changed %q into %q", b, back)
			}
		}
	})
}

func FuzzParse(f *testing.F) {
	js, _ := NewByte().MarshalJSON()
	f.Add(js)
	f.Add([]byte(`{"kind":"bpe","vocab_size":258,"merges":[[97,98],[256,99]]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tk, err := Parse(b)
		if err != nil {
			return
		}
		ids := tk.Encode([]byte("abc abd"))
		if back, err := tk.Decode(ids); err != nil || string(back) != "abc abd" {
			t.Fatalf("parsed tokenizer does not round-trip: %v", err)
		}
	})
}
