package verifier

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ipfs/boxo/files"

	"github.com/openledger/openledger/attribution"
	"github.com/openledger/openledger/attribution/spanindex"
	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/train"
	"github.com/openledger/openledger/provider/backend"
	"github.com/openledger/openledger/provider/executor"
	"github.com/openledger/openledger/storage"
	storageapi "github.com/openledger/openledger/storage/api"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
	modelstypes "github.com/openledger/openledger/x/models/types"
)

// world: a real offline IPFS node on a temp repo; a tiny model trained on the
// committed corpus and a span index of a dataset version (three
// contributions), both added to IPFS; model versions published by a chain
// faked at the process boundary; a prompt from the corpus on IPFS.
type world struct {
	dir      string
	st       storage.API
	models   *fakeModels
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
	vNoAttrib = 2 // the same checkpoint, no attribution artifacts (pool-only)
)

func buildWorld() (*world, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "verifier-test-")
	if err != nil {
		return nil, err
	}
	w := &world{dir: dir}
	repo := filepath.Join(dir, "ipfs")
	cfg := storage.LoopbackConfig()
	if err := storage.Init(repo, &cfg); err != nil {
		return nil, err
	}
	if w.st, _, err = storageapi.Open(ctx, repo); err != nil {
		return nil, err
	}
	h := train.DefaultHyper()
	h.Steps, h.BatchSize, h.SeqLen, h.WarmupSteps, h.EvalWindows = 60, 4, 32, 3, 4
	mcfg := model.Config{ContextLen: 128, DModel: 32, NLayers: 2, NHeads: 2, DFF: 64, Positions: model.PositionsLearned, LNEps: 1e-5}
	spec := train.Spec{Inputs: []train.Input{{Path: filepath.Join(corpusDir, "fortunes.txt")}},
		Tokenizer: train.TokenizerSpec{Kind: "bpe", VocabSize: 300}, Model: mcfg, Hyper: h, Seed: 42}
	res, err := train.Run(ctx, spec, train.Options{OutDir: filepath.Join(dir, "base"), Workers: 2})
	if err != nil {
		return nil, fmt.Errorf("training the base: %w", err)
	}
	basePath := filepath.Join(dir, "base", train.ModelFile)

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
	index := filepath.Join(dir, "index.olspan")
	if _, err := spanindex.Build(ctx, index, contribs, spanindex.BuildOptions{DatanetID: 1, Version: 1, Tokenizer: res.Tokenizer, Workers: 1}); err != nil {
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
	indexCID, _, _, err := add(index)
	if err != nil {
		return nil, err
	}
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
	full := func(v uint64) modelstypes.ModelVersion {
		return modelstypes.ModelVersion{ModelId: 1, Version: v, Kind: modelstypes.VERSION_KIND_PRETRAIN,
			DatasetVersions: []modelstypes.DatasetVersionRef{{DatanetId: 1, Version: 1}},
			ArtifactCid:     baseCID, ArtifactSha256: baseSHA, ArtifactSize: baseSize,
			EngineName: checkpoint.EngineName, EngineVersion: checkpoint.EngineVersion, Status: modelstypes.VERSION_STATUS_PUBLISHED}
	}
	v1 := full(vSpan)
	v1.SpanIndexCid = indexCID
	w.models = &fakeModels{
		models:   map[uint64]modelstypes.Model{1: {Id: 1, Name: "tiny-fortunes", LatestVersion: 2}},
		versions: map[uint64]modelstypes.ModelVersion{vSpan: v1, vNoAttrib: full(vNoAttrib)},
	}
	return w, nil
}

func (w *world) addBytes(b []byte) (string, string, error) {
	r, err := w.st.Add(context.Background(), files.NewBytesFile(bytes.Clone(b)), storage.AddOptions{PinReason: "test", SHA256: true})
	return r.RootStr, r.SHA256, err
}

// spanParams are the provider's and the verifier's span parameters (short
// spans, so the tiny model's outputs are attributed to contributions).
var spanParams = attribution.SpanParams{MinSpanTokens: 3, MaxOccurrences: 64}

// newPool is an executor pool on the world's IPFS node with the built-in
// engine (a provider's, or a verifier's with its own cache).
func newPool(t testing.TB, w *world) *executor.Pool {
	t.Helper()
	return newPoolOn(t, w, w.st, t.TempDir())
}

// newPoolOn is newPool on another IPFS node and cache directory.
func newPoolOn(t testing.TB, w *world, st storage.API, cacheDir string) *executor.Pool {
	t.Helper()
	p, err := executor.New(executor.Config{CacheDir: cacheDir, Span: spanParams},
		executor.Deps{Storage: st, Models: w.models, Backends: []backend.Backend{backend.NewBuiltin("")}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// chainJob is job 7 on model 1's version.
func (w *world) chainJob(version uint64) inferencetypes.Job {
	return inferencetypes.Job{Id: 7, DeploymentId: 1, ModelId: 1, ModelVersion: version, InputCid: w.inputCID, InputSha256: w.inputSHA,
		MaxTokens: 90, Params: inferencetypes.GenerationParams{TemperatureMilli: 1000, Seed: 1234}, Status: inferencetypes.JOB_STATUS_PENDING}
}

func execJob(j inferencetypes.Job) executor.Job {
	return executor.Job{ID: j.Id, DeploymentID: j.DeploymentId, ModelID: j.ModelId, ModelVersion: j.ModelVersion,
		InputCID: j.InputCid, InputSHA256: j.InputSha256, MaxTokens: j.MaxTokens, Params: j.Params}
}

// receiptOf is the receipt the provider daemon posts for a result.
func receiptOf(j inferencetypes.Job, r executor.Result) inferencetypes.Receipt {
	return inferencetypes.Receipt{JobId: j.Id, Provider: "open1provider", OutputCid: r.OutputCID, OutputSha256: hex.EncodeToString(r.OutputSHA256[:]),
		PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens, EngineName: r.EngineName, EngineVersion: r.EngineVersion,
		ModelId: j.ModelId, ModelVersion: j.ModelVersion, RecordCid: r.RecordCID, Summary: r.Summary}
}

// fakeModels is x/models at the process boundary.
type fakeModels struct {
	models   map[uint64]modelstypes.Model
	versions map[uint64]modelstypes.ModelVersion
}

func (c *fakeModels) ModelVersion(_ context.Context, modelID, version uint64) (modelstypes.ModelVersion, error) {
	v, ok := c.versions[version]
	if modelID != 1 || !ok {
		return v, fmt.Errorf("model %d version %d: not found", modelID, version)
	}
	return v, nil
}

func (c *fakeModels) Model(_ context.Context, id uint64) (modelstypes.Model, error) {
	m, ok := c.models[id]
	if !ok {
		return m, fmt.Errorf("model %d: not found", id)
	}
	return m, nil
}

// fakeChain is x/inference at the process boundary: one job and its receipt.
type fakeChain struct {
	job     inferencetypes.Job
	receipt inferencetypes.Receipt
}

func (c fakeChain) Job(_ context.Context, id uint64) (inferencetypes.Job, error) {
	if id != c.job.Id {
		return inferencetypes.Job{}, fmt.Errorf("job %d: not found", id)
	}
	return c.job, nil
}

func (c fakeChain) Receipt(_ context.Context, id uint64) (inferencetypes.Receipt, error) {
	if id != c.receipt.JobId {
		return inferencetypes.Receipt{}, fmt.Errorf("receipt of job %d: not found", id)
	}
	return c.receipt, nil
}
