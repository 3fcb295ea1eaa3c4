package attribution

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/openledger/openledger/attribution/record"
	"github.com/openledger/openledger/attribution/spanindex"
	"github.com/openledger/openledger/ml/rng"
	"github.com/openledger/openledger/ml/tokenizer"
)

// The committed corpus, split into passages (fortune entries).
var corpusOnce struct {
	sync.Once
	all      []byte
	passages []string
	tok      *tokenizer.Tokenizer
	err      error
}

func corpus(t testing.TB) ([]byte, []string, *tokenizer.Tokenizer) {
	t.Helper()
	c := &corpusOnce
	c.Do(func() {
		for _, f := range []string{"fortunes", "literature", "riddles"} {
			b, err := os.ReadFile(filepath.Join("..", "ml", "testdata", "corpus", f+".txt"))
			if err != nil {
				c.err = err
				return
			}
			c.all = append(c.all, b...)
			for _, p := range strings.Split(string(b), "%\n") {
				if strings.TrimSpace(p) != "" {
					c.passages = append(c.passages, p)
				}
			}
		}
		c.tok, c.err = tokenizer.Train(context.Background(), c.all, 1024)
	})
	if c.err != nil {
		t.Fatal(c.err)
	}
	return c.all, c.passages, c.tok
}

type planted struct {
	docs  [][]byte // contribution i has id i+1
	owner []int    // passage -> contributor index
}

// plant gives each of n contributors a random share of the passages.
func plant(passages []string, n int, seed uint64) planted {
	r := rng.New(seed)
	p := planted{docs: make([][]byte, n), owner: make([]int, len(passages))}
	for i, s := range passages {
		o := r.Intn(n)
		p.owner[i] = o
		p.docs[o] = append(p.docs[o], s+"%\n"...)
	}
	return p
}

func buildSource(t testing.TB, tok *tokenizer.Tokenizer, docs [][]byte, ids []uint64) SpanSource {
	t.Helper()
	path := filepath.Join(t.TempDir(), "corpus.spanidx")
	var cs []spanindex.Contribution
	for i, d := range docs {
		id := uint64(i + 1)
		if ids != nil {
			id = ids[i]
		}
		cs = append(cs, spanindex.BytesContribution(id, d))
	}
	if _, err := spanindex.Build(context.Background(), path, cs, spanindex.BuildOptions{DatanetID: 7, Version: 1, Tokenizer: tok}); err != nil {
		t.Fatal(err)
	}
	ix, err := spanindex.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	art, err := FileArtifact(path)
	if err != nil {
		t.Fatal(err)
	}
	return SpanSource{Index: ix, Artifact: art}
}

func weightsByID(rec *record.Record) map[uint64]uint32 {
	m := map[uint64]uint32{}
	for _, w := range rec.Weights {
		m[w.ContributionId] = w.Ppm
	}
	return m
}

// TestPlantedContributions is the quality benchmark of span attribution
// on the committed corpus (ADR-002): outputs that reproduce or splice
// passages credit exactly their owners.
func TestPlantedContributions(t *testing.T) {
	all, passages, tok := corpus(t)
	const contributors = 40
	pl := plant(passages, contributors, 11)
	src := buildSource(t, tok, pl.docs, nil)
	params := DefaultSpanParams()

	// Probe passages: unique in the corpus and long enough to be evidence.
	var probe []int
	for i, p := range passages {
		if len(tok.EncodeString(p)) >= 3*params.MinSpanTokens && bytes.Count(all, []byte(p)) == 1 {
			probe = append(probe, i)
		}
	}
	if len(probe) < 100 {
		t.Fatalf("only %d probe passages", len(probe))
	}
	r := rng.New(5)
	type result struct{ tp, fp, fn int }
	var res result
	var unrelatedPPM, ownerPPM uint64
	var fpPPM []int
	var edited result
	var editedU, editedO uint64
	var editedF []int
	outputs := 0
	check := func(out string, owners map[uint64]bool) {
		rec, err := AttributeSpans(src, tok, record.ModelRef{}, []byte(out), params)
		if err != nil {
			t.Fatal(err)
		}
		outputs++
		w := weightsByID(rec)
		for id, ppm := range w {
			if owners[id] {
				res.tp++
				ownerPPM += uint64(ppm)
			} else {
				res.fp++
				unrelatedPPM += uint64(ppm)
				fpPPM = append(fpPPM, int(ppm))
			}
		}
		for id := range owners {
			if w[id] == 0 {
				res.fn++
			}
		}
	}
	half := func(s string, first bool) string {
		ids := tok.EncodeString(s)
		var part []int
		if first {
			part = ids[:len(ids)/2]
		} else {
			part = ids[len(ids)/2:]
		}
		b, _ := tok.Decode(part)
		return string(b)
	}
	// Distinctive pieces only: a half used in a splice must itself occur
	// once in the corpus and be long enough (the second half of many
	// passages is an attribution line such as "-- Mark Twain", which many
	// contributors genuinely share; TestCommonPhrasesDoNotDominate covers
	// shared text).
	distinctive := func(s string) bool {
		return len(tok.EncodeString(s)) >= params.MinSpanTokens+4 && bytes.Count(all, []byte(s)) == 1
	}
	pick := func(first bool) (int, string) {
		for {
			p := probe[r.Intn(len(probe))]
			if h := half(passages[p], first); distinctive(h) {
				return p, h
			}
		}
	}
	id := func(p int) uint64 { return uint64(pl.owner[p] + 1) }
	var long []int // probe passages of 60+ words
	for _, p := range probe {
		if len(strings.Fields(passages[p])) >= 60 {
			long = append(long, p)
		}
	}
	for k := 0; k < 150; k++ {
		a := probe[r.Intn(len(probe))]
		// Verbatim reproduction.
		check(passages[a], map[uint64]bool{id(a): true})
		// Splice of two passages' halves, with novel glue.
		a, ha := pick(false)
		b, hb := pick(true)
		check(ha+" and so, quoth the machine, "+hb, map[uint64]bool{id(a): true, id(b): true})
		// Three-way splice without glue.
		a, ha = pick(true)
		b, hb = pick(false)
		c := probe[r.Intn(len(probe))]
		check(ha+hb+passages[c], map[uint64]bool{id(a): true, id(b): true, id(c): true})
		// A lightly edited copy (one word in eight replaced): measured
		// separately, it is beyond verbatim reproduction.
		if p := long[r.Intn(len(long))]; true {
			words := strings.Split(passages[p], " ")
			for w := 4; w < len(words); w += 8 {
				words[w] = "zebra"
			}
			main := res
			mainU, mainO, mainF := unrelatedPPM, ownerPPM, fpPPM
			res, unrelatedPPM, ownerPPM, fpPPM = edited, 0, 0, nil
			check(strings.Join(words, " "), map[uint64]bool{id(p): true})
			edited, editedU, editedO = res, editedU+unrelatedPPM, editedO+ownerPPM
			editedF = append(editedF, fpPPM...)
			res, unrelatedPPM, ownerPPM, fpPPM = main, mainU, mainO, mainF
			outputs--
		}
	}
	sort.Ints(editedF)
	eprec := float64(edited.tp) / float64(edited.tp+edited.fp)
	erec := float64(edited.tp) / float64(edited.tp+edited.fn)
	eshare := float64(editedU) / float64(editedU+editedO)
	t.Logf("150 edited copies (1 word in 8 replaced): owner credited in %.3f, precision %.3f; unrelated contributors got %.4f of the contributors' ppm (false positives: median %d ppm, max %d)",
		erec, eprec, eshare, editedF[len(editedF)/2], editedF[len(editedF)-1])
	if erec < 0.95 || eshare > 0.05 {
		t.Fatalf("edited copies: recall %.3f, unrelated share %.3f", erec, eshare)
	}
	// The few false credits come from text that is shared after all: a
	// half that is unique as bytes ("...pear.\n\t\t-- Mark Twain, ...")
	// whose maximal span (the attribution line) occurs in other passages.
	precision := float64(res.tp) / float64(res.tp+res.fp)
	recall := float64(res.tp) / float64(res.tp+res.fn)
	unrelated := float64(unrelatedPPM) / float64(unrelatedPPM+ownerPPM)
	t.Logf("%d outputs: precision %.4f recall %.4f (tp %d fp %d fn %d); share of contributor ppm to unrelated contributors %.5f",
		outputs, precision, recall, res.tp, res.fp, res.fn, unrelated)
	if precision < 0.95 || recall < 0.95 {
		t.Fatalf("precision %.3f recall %.3f, want >= 0.95", precision, recall)
	}
	if unrelated > 0.01 {
		t.Fatalf("unrelated contributors got %.3f of the contributors' ppm", unrelated)
	}

	// Text found nowhere: everything to the pool.
	rec, err := AttributeSpans(src, tok, record.ModelRef{}, []byte("Zyxw vutsr qpon mlkji hgfe dcba, 0123456789 qwertyuiop."), params)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Weights) != 0 || rec.Pools[0].Ppm != record.Scale {
		t.Fatalf("novel text credited: %+v", rec.Weights)
	}
}

// TestCommonPhrasesDoNotDominate plants one phrase in every contribution.
func TestCommonPhrasesDoNotDominate(t *testing.T) {
	_, passages, tok := corpus(t)
	const contributors = 30
	pl := plant(passages, contributors, 12)
	const common = "Remember: the contents of this collection are provided as is, with no warranty of any kind.\n"
	for i := range pl.docs {
		pl.docs[i] = append([]byte(common), pl.docs[i]...)
	}
	src := buildSource(t, tok, pl.docs, nil)
	params := DefaultSpanParams()
	// Only the common phrase: contributors share a small part, the pool the rest.
	rec, err := AttributeSpans(src, tok, record.ModelRef{}, []byte(common), params)
	if err != nil {
		t.Fatal(err)
	}
	var toContributors uint32
	for _, w := range rec.Weights {
		toContributors += w.Ppm
	}
	t.Logf("common phrase alone: contributors %d ppm in total, pool %d ppm", toContributors, rec.Pools[0].Ppm)
	if toContributors*contributors > 2*record.Scale {
		t.Fatalf("common phrase gave contributors %d ppm", toContributors)
	}
	// The common phrase followed by one owner's passage: the owner dominates.
	var p int
	for p = range passages {
		if len(passages[p]) > 150 && len(passages[p]) < 300 {
			break
		}
	}
	owner := uint64(pl.owner[p] + 1)
	rec, err = AttributeSpans(src, tok, record.ModelRef{}, []byte(common+"%\n"+passages[p]), params)
	if err != nil {
		t.Fatal(err)
	}
	w := weightsByID(rec)
	var others uint32
	for id, ppm := range w {
		if id != owner {
			others += ppm
		}
	}
	t.Logf("owner %d ppm, all other contributors %d ppm, pool %d ppm", w[owner], others, rec.Pools[0].Ppm)
	if w[owner] < 20*others {
		t.Fatalf("owner %d ppm vs others %d ppm", w[owner], others)
	}
}

// TestDuplicationDoesNotMultiplyCredit: repeating one's contribution inside
// it, or submitting copies as further contributions, never raises the
// credit (ADR-002 dedup rule: a span credits distinct contributions, each
// 1/d^2 of its mass).
func TestDuplicationDoesNotMultiplyCredit(t *testing.T) {
	_, passages, tok := corpus(t)
	pl := plant(passages, 10, 13)
	base := buildSource(t, tok, pl.docs, nil)
	params := DefaultSpanParams()
	victim := 3 // contributor index; id 4
	var probes []string
	for i, o := range pl.owner {
		if o == victim && len(passages[i]) > 120 {
			probes = append(probes, passages[i])
		}
		if len(probes) == 10 {
			break
		}
	}
	// Outputs mix the victim's passage with another contributor's.
	other := ""
	for i, o := range pl.owner {
		if o != victim && len(passages[i]) > 120 {
			other = passages[i]
			break
		}
	}
	// Copies inside the contribution.
	inside := append([][]byte(nil), pl.docs...)
	inside[victim] = bytes.Repeat(pl.docs[victim], 8)
	srcInside := buildSource(t, tok, inside, nil)
	// Copies as extra contributions (ids 1001..1008).
	extra := append([][]byte(nil), pl.docs...)
	ids := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for k := 0; k < 8; k++ {
		extra = append(extra, pl.docs[victim])
		ids = append(ids, uint64(1001+k))
	}
	srcExtra := buildSource(t, tok, extra, ids)
	for _, p := range probes {
		out := []byte(p + other)
		r0, err := AttributeSpans(base, tok, record.ModelRef{}, out, params)
		if err != nil {
			t.Fatal(err)
		}
		r1, err := AttributeSpans(srcInside, tok, record.ModelRef{}, out, params)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := AttributeSpans(srcExtra, tok, record.ModelRef{}, out, params)
		if err != nil {
			t.Fatal(err)
		}
		w0, w1, w2 := weightsByID(r0), weightsByID(r1), weightsByID(r2)
		var dup uint32 = w2[4]
		for k := uint64(1001); k <= 1008; k++ {
			dup += w2[k]
		}
		if w1[4] > w0[4] || dup > w0[4] {
			t.Fatalf("duplication raised credit: once %d ppm, repeated inside %d ppm, as 9 contributions %d ppm", w0[4], w1[4], dup)
		}
	}
}

// TestRecordDeterministicAndVerifiable: the same inputs give byte-identical
// records; Verify accepts them and rejects any change.
func TestRecordDeterministicAndVerifiable(t *testing.T) {
	_, passages, tok := corpus(t)
	pl := plant(passages, 8, 14)
	src := buildSource(t, tok, pl.docs, nil)
	out := []byte(passages[10] + passages[200] + "the end")
	model := record.ModelRef{ModelId: 3, Version: 2}
	r1, err := AttributeSpans(src, tok, model, out, DefaultSpanParams())
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := record.Encode(r1)
	for i := 0; i < 3; i++ {
		r2, _ := AttributeSpans(src, tok, model, out, DefaultSpanParams())
		b2, _ := record.Encode(r2)
		if !bytes.Equal(b1, b2) {
			t.Fatal("records differ")
		}
	}
	if err := VerifySpanRecord(b1, src, tok, out); err != nil {
		t.Fatal(err)
	}
	if err := VerifySpanRecord(b1, src, tok, append(out, '!')); err == nil {
		t.Fatal("changed output verified")
	}
	r3, _ := AttributeSpans(src, tok, model, out, DefaultSpanParams())
	r3.Weights[0].Ppm--
	r3.Pools[0].Ppm++
	b3, _ := record.Encode(r3)
	if err := VerifySpanRecord(b3, src, tok, out); err == nil {
		t.Fatal("tampered record verified")
	}
	// Bad inputs.
	if _, err := AttributeSpans(src, tok, model, nil, DefaultSpanParams()); err == nil {
		t.Fatal("empty output accepted")
	}
	if _, err := AttributeSpans(src, tok, model, bytes.Repeat([]byte("x y "), 3*MaxOutputTokens), DefaultSpanParams()); err == nil {
		t.Fatal("over-long output accepted")
	}
	if _, err := AttributeSpans(src, tokenizer.NewByte(), model, out, DefaultSpanParams()); err == nil {
		t.Fatal("tokenizer mismatch accepted")
	}
	var sb strings.Builder
	if err := Explain(&sb, r1, tok, out, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sb.String(), "contribution") {
		t.Fatalf("explain output:\n%s", sb.String())
	}
	_ = fmt.Sprint
	_ = sort.Ints
}

// A span occurring more than MaxOccurrences times is common: its tokens go
// to the pool and the span lists no contributions.
func TestCommonSpanGoesToPool(t *testing.T) {
	_, _, tok := corpus(t)
	phrase := "the quick brown fox jumps over the lazy dog and runs away. "
	docs := [][]byte{[]byte(strings.Repeat(phrase, 100)), []byte("something else entirely, nothing shared here")}
	src := buildSource(t, tok, docs, nil)
	p := DefaultSpanParams()
	out := []byte(" quick brown fox jumps over the lazy dog and runs away.") // inside every repetition
	rec, err := AttributeSpans(src, tok, record.ModelRef{}, out, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Weights) != 0 || rec.Pools[0].Ppm != record.Scale || len(rec.Spans) == 0 || !rec.Spans[0].Common {
		t.Fatalf("common span: spans %+v weights %+v pools %+v", rec.Spans, rec.Weights, rec.Pools)
	}
	// With a higher cap the same span credits its one contribution fully.
	p.MaxOccurrences = 1000
	rec, err = AttributeSpans(src, tok, record.ModelRef{}, out, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Weights) != 1 || rec.Weights[0].ContributionId != 1 || rec.Weights[0].Ppm != record.Scale {
		t.Fatalf("weights %+v", rec.Weights)
	}
}
