// Package synth generates benchmark corpora and outputs by mixing and
// perturbing the committed corpus (ml/testdata/corpus), deterministically.
package synth

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"

	"github.com/openledger/openledger/ml/rng"
)

// Source is the committed corpus split into passages and words.
type Source struct {
	All      []byte
	Passages [][]byte
	Words    [][]byte
}

// Load reads the corpus files from dir (ml/testdata/corpus).
func Load(dir string) (*Source, error) {
	s := &Source{}
	for _, f := range []string{"fortunes", "literature", "riddles"} {
		b, err := os.ReadFile(filepath.Join(dir, f+".txt"))
		if err != nil {
			return nil, err
		}
		s.All = append(s.All, b...)
		for _, p := range strings.Split(string(b), "%\n") {
			if strings.TrimSpace(p) != "" {
				s.Passages = append(s.Passages, []byte(p+"%\n"))
			}
		}
	}
	seen := map[string]bool{}
	for _, w := range bytes.Fields(s.All) {
		if !seen[string(w)] {
			seen[string(w)] = true
			s.Words = append(s.Words, w)
		}
	}
	return s, nil
}

// Perturb rewrites p word by word: each word is replaced by a random
// corpus word with probability 1/6 and dropped with probability 1/20;
// line structure is kept.
func (s *Source) Perturb(r *rng.SplitMix64, p []byte, dst []byte) []byte {
	for _, line := range bytes.SplitAfter(p, []byte("\n")) {
		words := bytes.Split(line, []byte(" "))
		for i, w := range words {
			switch x := r.Intn(60); {
			case x < 10:
				w = s.Words[r.Intn(len(s.Words))]
			case x < 13:
				continue
			}
			if i > 0 {
				dst = append(dst, ' ')
			}
			dst = append(dst, w...)
		}
	}
	return dst
}

// Corpus returns n contributions totalling about size bytes: each is a
// sequence of perturbed passages drawn at random.
func (s *Source) Corpus(seed uint64, size, n int) [][]byte {
	r := rng.New(seed)
	docs := make([][]byte, n)
	per := size / n
	for i := range docs {
		d := make([]byte, 0, per+512)
		for len(d) < per {
			d = s.Perturb(r, s.Passages[r.Intn(len(s.Passages))], d)
		}
		docs[i] = d
	}
	return docs
}

// Output returns text spliced from fragments of docs (verbatim runs of
// 40-200 bytes starting at word boundaries) and perturbed passages of the
// corpus, about size bytes long: what a model that has seen the data might
// write.
func (s *Source) Output(seed uint64, docs [][]byte, size int) []byte {
	r := rng.New(seed)
	var out []byte
	for len(out) < size {
		if r.Intn(2) == 0 {
			d := docs[r.Intn(len(docs))]
			if len(d) < 300 {
				continue
			}
			off := r.Intn(len(d) - 250)
			if i := bytes.IndexByte(d[off:], ' '); i >= 0 {
				off += i
			}
			n := 40 + r.Intn(160)
			out = append(out, d[off:min(off+n, len(d))]...)
		} else {
			out = s.Perturb(r, s.Passages[r.Intn(len(s.Passages))], out)
		}
	}
	return out[:size]
}
