package executor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ipfs/boxo/files"

	"github.com/openledger/openledger/attribution/spanindex"
	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/tokenizer"
	"github.com/openledger/openledger/ml/train"
	"github.com/openledger/openledger/storage"
	storageapi "github.com/openledger/openledger/storage/api"
	modelstypes "github.com/openledger/openledger/x/models/types"
)

// world is what every test shares: a real offline IPFS node on a temp repo, a
// tiny model trained on the committed corpus, a LoRA adapter over it, a span
// index of a dataset version, all added to IPFS, and a chain (fake at the
// process boundary) publishing them.
type world struct {
	dir      string
	st       storage.API
	tok      *tokenizer.Tokenizer
	base     *checkpoint.Model
	chain    *fakeChain
	index    string // local path of the span index
	prompt   []byte
	inputCID string
	inputSHA string
}

var (
	worldOnce sync.Once
	theWorld  *world
	worldErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if theWorld != nil {
		os.RemoveAll(theWorld.dir)
	}
	os.Exit(code)
}

func getWorld(t testing.TB) *world {
	t.Helper()
	worldOnce.Do(func() { theWorld, worldErr = buildWorld() })
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return theWorld
}

const corpusDir = "../../ml/testdata/corpus"

// Model versions of the fake chain.
const (
	vSpan     = 1 // full checkpoint with a span index
	vLoRA     = 2 // LoRA adapter over version 1
	vNoAttrib = 3 // the same checkpoint, no attribution artifacts, two dataset versions
	vBadSHA   = 4 // the checkpoint with a wrong on-chain sha256
)

func buildWorld() (*world, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "executor-test-")
	if err != nil {
		return nil, err
	}
	w := &world{dir: dir}
	repo := filepath.Join(dir, "ipfs")
	cfg := storage.LoopbackConfig()
	if err := storage.Init(repo, &cfg); err != nil {
		return nil, err
	}
	// The node stays open for the whole test binary (closed by process exit).
	if w.st, _, err = storageapi.Open(ctx, repo); err != nil {
		return nil, err
	}

	// A tiny model: BPE tokenizer and a 2-layer transformer, a few steps.
	h := train.DefaultHyper()
	h.Steps, h.BatchSize, h.SeqLen, h.WarmupSteps, h.EvalWindows = 30, 4, 32, 3, 4
	mcfg := model.Config{ContextLen: 128, DModel: 32, NLayers: 2, NHeads: 2, DFF: 64, Positions: model.PositionsLearned, LNEps: 1e-5}
	spec := train.Spec{Inputs: []train.Input{{Path: filepath.Join(corpusDir, "fortunes.txt")}},
		Tokenizer: train.TokenizerSpec{Kind: "bpe", VocabSize: 300}, Model: mcfg, Hyper: h, Seed: 42}
	baseDir := filepath.Join(dir, "base")
	res, err := train.Run(ctx, spec, train.Options{OutDir: baseDir, Workers: 2})
	if err != nil {
		return nil, fmt.Errorf("training the base: %w", err)
	}
	w.tok = res.Tokenizer
	basePath := filepath.Join(baseDir, train.ModelFile)
	if w.base, err = checkpoint.LoadModel(basePath); err != nil {
		return nil, err
	}

	ft := spec
	ft.Inputs = []train.Input{{Path: filepath.Join(corpusDir, "riddles.txt")}}
	ft.Base = &train.Base{Path: basePath}
	ft.LoRA = &model.AdapterConfig{Rank: 4, Alpha: 8, Targets: model.TargetNames()}
	ft.Hyper.LR, ft.Hyper.MinLR, ft.Hyper.Steps = 1e-2, 1e-3, 10
	loraDir := filepath.Join(dir, "lora")
	if _, err := train.Run(ctx, ft, train.Options{OutDir: loraDir, Workers: 2}); err != nil {
		return nil, fmt.Errorf("training the adapter: %w", err)
	}

	// The span index of dataset version 1/1: fortunes.txt cut into three contributions.
	corpus, err := os.ReadFile(filepath.Join(corpusDir, "fortunes.txt"))
	if err != nil {
		return nil, err
	}
	third := len(corpus) / 3
	contribs := []spanindex.Contribution{
		spanindex.BytesContribution(11, corpus[:third]),
		spanindex.BytesContribution(12, corpus[third:2*third]),
		spanindex.BytesContribution(13, corpus[2*third:]),
	}
	w.index = filepath.Join(dir, "index.olspan")
	if _, err := spanindex.Build(ctx, w.index, contribs, spanindex.BuildOptions{DatanetID: 1, Version: 1, Tokenizer: w.tok, Workers: 1}); err != nil {
		return nil, fmt.Errorf("building the span index: %w", err)
	}

	add := func(path string) (string, string, uint64, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", "", 0, err
		}
		r, err := w.st.Add(ctx, files.NewBytesFile(b), storage.AddOptions{PinReason: "test " + filepath.Base(path), SHA256: true})
		return r.RootStr, r.SHA256, uint64(len(b)), err
	}
	baseCID, baseSHA, baseSize, err := add(basePath)
	if err != nil {
		return nil, err
	}
	loraCID, loraSHA, loraSize, err := add(filepath.Join(loraDir, train.AdapterFile))
	if err != nil {
		return nil, err
	}
	indexCID, _, _, err := add(w.index)
	if err != nil {
		return nil, err
	}

	// A prompt taken from the corpus, so that spans of the output can match.
	var line string
	for _, l := range strings.Split(string(corpus[200:]), "\n")[1:] {
		if len(l) > 30 {
			line = l
			break
		}
	}
	w.prompt = []byte(line + "\n")
	if w.inputCID, w.inputSHA, err = w.addBytes(w.prompt); err != nil {
		return nil, err
	}

	dv11 := []modelstypes.DatasetVersionRef{{DatanetId: 1, Version: 1}}
	full := func(v uint64) modelstypes.ModelVersion {
		return modelstypes.ModelVersion{ModelId: 1, Version: v, Kind: modelstypes.VERSION_KIND_PRETRAIN, DatasetVersions: dv11,
			ArtifactCid: baseCID, ArtifactSha256: baseSHA, ArtifactSize: baseSize,
			EngineName: checkpoint.EngineName, EngineVersion: checkpoint.EngineVersion, Status: modelstypes.VERSION_STATUS_PUBLISHED}
	}
	v1 := full(vSpan)
	v1.SpanIndexCid = indexCID
	v2 := modelstypes.ModelVersion{ModelId: 1, Version: vLoRA, Kind: modelstypes.VERSION_KIND_LORA,
		Parent: &modelstypes.VersionRef{ModelId: 1, Version: vSpan}, DatasetVersions: []modelstypes.DatasetVersionRef{{DatanetId: 2, Version: 1}},
		ArtifactCid: loraCID, ArtifactSha256: loraSHA, ArtifactSize: loraSize,
		EngineName: checkpoint.EngineName, EngineVersion: checkpoint.EngineVersion, Status: modelstypes.VERSION_STATUS_PUBLISHED}
	v3 := full(vNoAttrib)
	v3.DatasetVersions = []modelstypes.DatasetVersionRef{{DatanetId: 1, Version: 1}, {DatanetId: 1, Version: 2}, {DatanetId: 3, Version: 1}}
	v4 := full(vBadSHA)
	sum := sha256.Sum256([]byte("not the model"))
	v4.ArtifactSha256 = hex.EncodeToString(sum[:])
	w.chain = &fakeChain{
		models:   map[uint64]modelstypes.Model{1: {Id: 1, Name: "tiny-fortunes", LatestVersion: 4}},
		versions: map[uint64]modelstypes.ModelVersion{vSpan: v1, vLoRA: v2, vNoAttrib: v3, vBadSHA: v4},
	}
	return w, nil
}

func (w *world) addBytes(b []byte) (string, string, error) {
	r, err := w.st.Add(context.Background(), files.NewBytesFile(bytes.Clone(b)), storage.AddOptions{PinReason: "test input", SHA256: true})
	return r.RootStr, r.SHA256, err
}

// fakeChain is the chain at the process boundary: model 1 and its versions.
type fakeChain struct {
	mu       sync.Mutex
	models   map[uint64]modelstypes.Model
	versions map[uint64]modelstypes.ModelVersion
	calls    int
}

func (c *fakeChain) ModelVersion(_ context.Context, modelID, version uint64) (modelstypes.ModelVersion, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	v, ok := c.versions[version]
	if modelID != 1 || !ok {
		return v, fmt.Errorf("model %d version %d: not found", modelID, version)
	}
	return v, nil
}

func (c *fakeChain) Model(_ context.Context, id uint64) (modelstypes.Model, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	m, ok := c.models[id]
	if !ok {
		return m, fmt.Errorf("model %d: not found", id)
	}
	return m, nil
}

// withDeployments is a fakeChain that also answers deployments.
type withDeployments struct {
	*fakeChain
	deps map[uint64]modelstypes.Deployment
}

func (c withDeployments) Deployment(_ context.Context, id uint64) (modelstypes.Deployment, error) {
	d, ok := c.deps[id]
	if !ok {
		return d, fmt.Errorf("deployment %d: not found", id)
	}
	return d, nil
}
