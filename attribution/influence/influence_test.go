package influence

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openledger/openledger/attribution/record"
	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/rng"
	"github.com/openledger/openledger/ml/tokenizer"
	"github.com/openledger/openledger/ml/train"
)

const contributors = 6

// fixture: a tiny base model pretrained on the corpus, and a LoRA
// fine-tune on a dataset version of six contributors (each owning random
// passages of the corpus), saved at two checkpoints.
type fixture struct {
	dir      string
	docs     [][]byte
	base     *checkpoint.Model
	basePath string
	ckPaths  []string
	err      error
}

var fx struct {
	sync.Once
	f fixture
}

func setup(t testing.TB) *fixture {
	t.Helper()
	fx.Do(func() { fx.f = build() })
	if fx.f.err != nil {
		t.Fatal(fx.f.err)
	}
	return &fx.f
}

func build() (f fixture) {
	ctx := context.Background()
	dir := os.Getenv("INFLUENCE_FIXTURE_DIR")
	var err error
	if dir == "" {
		if dir, err = os.MkdirTemp("", "influence-test-"); err != nil {
			f.err = err
			return
		}
	} else {
		os.MkdirAll(dir, 0o755)
	}
	f.dir = dir
	var passages []string
	var all []byte
	for _, name := range []string{"fortunes", "literature", "riddles"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "ml", "testdata", "corpus", name+".txt"))
		if err != nil {
			f.err = err
			return
		}
		all = append(all, b...)
		for _, p := range strings.Split(string(b), "%\n") {
			if strings.TrimSpace(p) != "" {
				passages = append(passages, p+"%\n")
			}
		}
	}
	r := rng.New(21)
	f.docs = make([][]byte, contributors)
	var ft []byte
	for _, p := range passages {
		if o := r.Intn(6 * contributors); o < contributors {
			f.docs[o] = append(f.docs[o], p...)
		}
	}
	for _, d := range f.docs {
		ft = append(ft, d...)
	}
	corpusPath := filepath.Join(dir, "corpus.txt")
	os.WriteFile(corpusPath, all, 0o644)
	ownPath := filepath.Join(dir, "dataset-version.txt")
	os.WriteFile(ownPath, ft, 0o644)

	cfg, _ := model.Preset("tiny", 512)
	h := train.DefaultHyper()
	h.Steps, h.BatchSize, h.SeqLen = 60, 8, 64
	t0 := time.Now()
	if _, err := os.Stat(filepath.Join(dir, "base", train.ModelFile)); err == nil && os.Getenv("INFLUENCE_FIXTURE_DIR") != "" {
		f.basePath = filepath.Join(dir, "base", train.ModelFile)
		f.base, f.err = checkpoint.LoadModel(f.basePath)
		for _, steps := range []int{30, 60} {
			f.ckPaths = append(f.ckPaths, filepath.Join(dir, fmt.Sprintf("lora%d", steps), train.AdapterFile))
		}
		return f
	}
	res, err := train.Run(ctx, train.Spec{Inputs: []train.Input{{Path: corpusPath}}, Tokenizer: train.TokenizerSpec{Kind: "bpe", VocabSize: 512},
		Model: cfg, Hyper: h, Seed: 1}, train.Options{OutDir: filepath.Join(dir, "base")})
	if err != nil {
		f.err = err
		return
	}
	_ = res
	f.basePath = filepath.Join(dir, "base", train.ModelFile)
	if f.base, err = checkpoint.LoadModel(f.basePath); err != nil {
		f.err = err
		return
	}
	t1 := time.Now()
	for _, steps := range []int{30, 60} {
		lh := train.DefaultHyper()
		lh.Steps, lh.BatchSize, lh.SeqLen, lh.WarmupSteps = steps, 8, 64, 3
		out := filepath.Join(dir, fmt.Sprintf("lora%d", steps))
		_, err := train.Run(ctx, train.Spec{Inputs: []train.Input{{Path: ownPath}}, Base: &train.Base{Path: f.basePath},
			LoRA: &model.AdapterConfig{Rank: 4, Alpha: 8, Targets: model.DefaultTargets}, Hyper: lh, Seed: 2}, train.Options{OutDir: out})
		if err != nil {
			f.err = err
			return
		}
		f.ckPaths = append(f.ckPaths, filepath.Join(out, train.AdapterFile))
	}
	fmt.Printf("fixture: base %v, lora %v\n", t1.Sub(t0), time.Since(t1))
	return f
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fx.f.dir != "" && os.Getenv("INFLUENCE_FIXTURE_DIR") == "" {
		os.RemoveAll(fx.f.dir)
	}
	os.Exit(code)
}

func source(t testing.TB, f *fixture, docs [][]byte, ids []uint64) Source {
	t.Helper()
	var cks []Checkpoint
	var arts []record.Artifact
	for _, p := range f.ckPaths {
		ck, err := LoadCheckpoint(p, f.base, 1000)
		if err != nil {
			t.Fatal(err)
		}
		cks = append(cks, ck)
		arts = append(arts, record.Artifact{Sha256: ck.SHA256})
	}
	var cs []Contribution
	for i, d := range docs {
		id := uint64(i + 1)
		if ids != nil {
			id = ids[i]
		}
		cs = append(cs, Contribution{ID: id, Data: d})
	}
	t0 := time.Now()
	b, err := Build(context.Background(), BuildInput{DatanetID: 3, Version: 1, Base: f.base, Checkpoints: cks, Contributions: cs,
		Params: DefaultParams(f.base.Params.Cfg)})
	if err != nil {
		t.Fatal(err)
	}
	sk, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sketches: %d examples, %d bytes, built in %v", sk.NumExamples(), len(b), time.Since(t0))
	return Source{Sketches: sk, SketchArtifact: record.Artifact{Sha256: hexDigest(b), SizeBytes: uint64(len(b))}, Base: f.base, Checkpoints: cks, CheckpointArtifacts: arts}
}

// Probes drawn from a contributor's data (random substrings, not aligned
// to the training windows) rank that contributor first in at least 90% of
// cases.
func TestInfluenceRanksOwnerFirst(t *testing.T) {
	f := setup(t)
	src := source(t, f, f.docs, nil)
	r := rng.New(9)
	const probes = 30
	first := 0
	t0 := time.Now()
	for k := 0; k < probes; k++ {
		c := r.Intn(contributors)
		d := f.docs[c]
		off := r.Intn(len(d) - 300)
		out := d[off : off+200+r.Intn(100)]
		rec, err := Attribute(context.Background(), src, record.ModelRef{}, out)
		if err != nil {
			t.Fatal(err)
		}
		var best record.ContributionWeight
		for _, w := range rec.Weights {
			if w.Ppm > best.Ppm {
				best = w
			}
		}
		if best.ContributionId == uint64(c+1) {
			first++
		}
	}
	t.Logf("owner ranked first for %d of %d probes (%v per query)", first, probes, time.Since(t0)/probes)
	if first*10 < probes*9 {
		t.Fatalf("ranked first in %d of %d probes, want >= 90%%", first, probes)
	}
}

func TestInfluenceDeterministicVerifyAndDedup(t *testing.T) {
	f := setup(t)
	docs := [][]byte{f.docs[0][:1500], f.docs[1][:1500], f.docs[2][:1500]}
	src := source(t, f, docs, nil)
	out := f.docs[0][700:1000]

	rec, err := Attribute(context.Background(), src, record.ModelRef{ModelId: 1}, out)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := record.Encode(rec)
	if err := Verify(context.Background(), b, src, out); err != nil {
		t.Fatal(err)
	}
	rec2, _ := Attribute(context.Background(), src, record.ModelRef{ModelId: 1}, out)
	b2, _ := record.Encode(rec2)
	if string(b) != string(b2) {
		t.Fatal("records differ")
	}
	if err := Verify(context.Background(), b, src, append([]byte("x"), out...)); err == nil {
		t.Fatal("changed output verified")
	}
	// Duplicating contributor 1's data as 4 more contributions does not
	// raise its total share.
	dup := append([][]byte(nil), docs...)
	ids := []uint64{1, 2, 3}
	for k := 0; k < 2; k++ {
		dup = append(dup, docs[0])
		ids = append(ids, uint64(100+k))
	}
	srcDup := source(t, f, dup, ids)
	recDup, err := Attribute(context.Background(), srcDup, record.ModelRef{ModelId: 1}, out)
	if err != nil {
		t.Fatal(err)
	}
	var once, total uint32
	for _, w := range rec.Weights {
		if w.ContributionId == 1 {
			once = w.Ppm
		}
	}
	for _, w := range recDup.Weights {
		if w.ContributionId == 1 || w.ContributionId >= 100 {
			total += w.Ppm
		}
	}
	t.Logf("contribution 1: %d ppm alone, %d ppm over 3 copies", once, total)
	if total > once {
		t.Fatalf("duplication raised the share from %d to %d ppm", once, total)
	}
	// Bad input.
	if _, err := Attribute(context.Background(), src, record.ModelRef{}, nil); err == nil {
		t.Fatal("empty output accepted")
	}
	bad := append([]byte(nil), mustBytes(t, src)...)
	if _, err := Parse(bad[:len(bad)-1]); err == nil {
		t.Fatal("truncated sketch file accepted")
	}
}

func mustBytes(t testing.TB, src Source) []byte {
	f := setup(t)
	b, err := Build(context.Background(), BuildInput{Base: f.base, Checkpoints: src.Checkpoints,
		Contributions: []Contribution{{ID: 1, Data: f.docs[0][:300]}}, Params: DefaultParams(f.base.Params.Cfg)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzParseSketches(f *testing.F) {
	f.Add([]byte("OLSKETCH"))
	// A valid file from a random tiny model (no training needed).
	tok := tokenizer.NewByte()
	cfg, _ := model.Preset("tiny", tok.VocabSize())
	p, _ := model.New(cfg, 1)
	a, _ := model.NewAdapter(cfg, model.AdapterConfig{Rank: 2, Alpha: 4, Targets: model.DefaultTargets})
	a.Init(1)
	b, err := Build(context.Background(), BuildInput{Base: &checkpoint.Model{Params: p, Tok: tok},
		Checkpoints:   []Checkpoint{{Adapter: a, Weight: 1}},
		Contributions: []Contribution{{ID: 1, Data: []byte("hello sketches")}, {ID: 2, Data: []byte("hello again")}},
		Params:        Params{SketchDim: 64, Seed: 1, SeqLen: 8, Stride: 4}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		try := func(b []byte) {
			if s, err := Parse(b); err == nil && s.NumExamples() < 0 {
				t.Fatal("negative example count")
			}
		}
		try(b)
		if len(b) >= 32 { // re-seal the checksum so mutations reach the structural checks
			c := append([]byte{}, b...)
			sum := sha256.Sum256(c[:len(c)-32])
			copy(c[len(c)-32:], sum[:])
			try(c)
		}
	})
}
