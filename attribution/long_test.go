//go:build long

package attribution

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/openledger/openledger/attribution/internal/synth"
	"github.com/openledger/openledger/attribution/record"
	"github.com/openledger/openledger/attribution/spanindex"
	"github.com/openledger/openledger/ml/rng"
)

// TestLong100MB builds the index of a 100 MB corpus over memory-mapped
// files (MaxMemory below its size), checks it, and attributes outputs
// that copy fragments of known contributions:
//
//	go test -tags long ./attribution -run Long100MB -timeout 30m
func TestLong100MB(t *testing.T) {
	_, _, tok := corpus(t)
	s, err := synth.Load(filepath.Join("..", "ml", "testdata", "corpus"))
	if err != nil {
		t.Fatal(err)
	}
	docs := s.Corpus(7, 100<<20, 5000)
	cs := make([]spanindex.Contribution, len(docs))
	for i, d := range docs {
		cs[i] = spanindex.BytesContribution(uint64(i+1), d)
	}
	path := filepath.Join(t.TempDir(), "100mb.spanidx")
	st, err := spanindex.Build(context.Background(), path, cs, spanindex.BuildOptions{DatanetID: 1, Version: 1, Tokenizer: tok, MaxMemory: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built: %d tokens, %.2f bytes/token, tokenize %v, suffix array %v, write %v",
		st.Header.Tokens(), st.BytesPerToken(), st.Tokenize, st.SuffixArray, st.Write)
	ix, err := spanindex.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if err := ix.Verify(); err != nil {
		t.Fatal(err)
	}
	art, err := FileArtifact(path)
	if err != nil {
		t.Fatal(err)
	}
	src := SpanSource{Index: ix, Artifact: art}
	r := rng.New(1)
	hits := 0
	const probes = 50
	for k := 0; k < probes; k++ {
		// A 400-byte verbatim fragment of one contribution.
		c := r.Intn(len(docs))
		d := docs[c]
		off := r.Intn(len(d) - 500)
		rec, err := AttributeSpans(src, tok, record.ModelRef{}, d[off:off+400], DefaultSpanParams())
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range rec.Weights {
			if w.ContributionId == uint64(c+1) {
				hits++
				break
			}
		}
	}
	t.Logf("source contribution credited for %d of %d fragments", hits, probes)
	if hits < probes*95/100 {
		t.Fatalf("source credited for %d of %d fragments", hits, probes)
	}
}
