package tokenizer

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// gpt2Fixture writes a small vocab.json/merges.txt in GPT-2's format: the
// 256 byte tokens in GPT-2's order (printable bytes first), four merges and
// <|endoftext|> last.
func gpt2Fixture(t testing.TB) *Tokenizer {
	b2u := bytesToUnicode()
	vocab := map[string]int{}
	id := 0
	var order []int
	for b := 0; b < 256; b++ {
		if b2u[b] == rune(b) {
			order = append(order, b)
		}
	}
	for b := 0; b < 256; b++ {
		if b2u[b] != rune(b) {
			order = append(order, b)
		}
	}
	for _, b := range order {
		vocab[string(b2u[b])] = id
		id++
	}
	merges := "#version: 0.2\nĠ t\nh e\nĠt he\ni n\n"
	for _, s := range []string{"Ġt", "he", "Ġthe", "in"} {
		vocab[s] = id
		id++
	}
	vocab["<|endoftext|>"] = id
	vj, _ := json.Marshal(vocab)
	tok, err := LoadGPT2Files(vj, []byte(merges))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestGPT2PreTokenization(t *testing.T) {
	cases := map[string][]string{
		"Hello world":      {"Hello", " world"},
		"it's  fine\n\nok": {"it", "'s", " ", " fine", "\n", "\n", "ok"},
		"a \nb":            {"a", " ", "\n", "b"},
		"x = 42.5!?":       {"x", " =", " 42", ".", "5", "!?"},
		"trailing   ":      {"trailing", "   "},
		" 's":              {" '", "s"},
		"naïve café 東京 ½":  {"naïve", " café", " 東京", " ½"},
		"don't'Re":         {"don", "'t", "'", "Re"},
		"\tindent":         {"\t", "indent"},
	}
	for in, want := range cases {
		var got []string
		b := []byte(in)
		for len(b) > 0 {
			n := gpt2ChunkLen(b)
			got = append(got, string(b[:n]))
			b = b[n:]
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func TestGPT2Tokenizer(t *testing.T) {
	tok := gpt2Fixture(t)
	if tok.VocabSize() != 256+4+1 {
		t.Fatalf("vocab %d", tok.VocabSize())
	}
	// "!" is GPT-2 id 0; " the" is one token (id 258 in this fixture).
	if ids := tok.EncodeString("!"); len(ids) != 1 || ids[0] != 0 {
		t.Fatalf("encode(!) = %v", ids)
	}
	ids := tok.EncodeString("in the thin")
	back, err := tok.Decode(ids)
	if err != nil || string(back) != "in the thin" {
		t.Fatalf("round trip: %q %v", back, err)
	}
	want := []int{259, 258, 257} // "in", " the", ...
	if ids[0] != want[0] || ids[1] != want[1] {
		t.Fatalf("encode = %v", ids)
	}
	if p, _ := tok.Decode([]int{260}); string(p) != "<|endoftext|>" {
		t.Fatalf("special token decodes to %q", p)
	}
	js, err := tok.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(js)
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest() != tok.Digest() || !equalInts(again.EncodeString("in the thin"), ids) {
		t.Fatal("JSON round trip changed the GPT-2 tokenizer")
	}
	bad := []string{
		`{}`, `{"!": 0}`,
	}
	for _, v := range bad {
		if _, err := LoadGPT2Files([]byte(v), nil); err == nil {
			t.Errorf("vocab %s accepted", v)
		}
	}
	vj := []byte(`{"a":0}`)
	if _, err := LoadGPT2Files(vj, []byte("x y z\n")); err == nil {
		t.Error("bad merges accepted")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func FuzzGPT2RoundTrip(f *testing.F) {
	tok := gpt2Fixture(f)
	f.Add([]byte("it's the end\n\n  of\tthe world 42"))
	f.Add([]byte{0xff, ' ', 0xe6, 0x9d})
	f.Fuzz(func(t *testing.T, b []byte) {
		back, err := tok.Decode(tok.Encode(b))
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("round trip of %q gave %q (%v)", b, back, err)
		}
	})
}
