// Package verifiertest builds what the verifier's and committee duty's tests
// share: a real offline IPFS node on a temp repo, a tiny model trained on the
// committed corpus and a span index of a dataset version (three
// contributions), both added to IPFS, the model versions published by a chain
// faked at the process boundary (x/models), a prompt from the corpus on IPFS,
// and provider pools over them.
package verifiertest

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
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

// Model versions of the fake chain.
const (
	VSpan     = 1 // full checkpoint with a span index
	VNoAttrib = 2 // the same checkpoint, no attribution artifacts (pool-only)
	VLoRA     = 3 // a LoRA adapter over version 1 (pool-only)
)

// SpanParams are the provider's and the verifier's span parameters (short
// spans, so the tiny model's outputs are attributed to contributions).
var SpanParams = attribution.SpanParams{MinSpanTokens: 3, MaxOccurrences: 64}

// World is the shared fixture.
type World struct {
	Dir      string
	St       storage.API
	Models   *Models
	Prompt   []byte
	InputCID string
	InputSHA string
}

// Build trains the model and fills a new IPFS repo under a temp directory
// (remove World.Dir when done).
func Build() (*World, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "verifier-test-")
	if err != nil {
		return nil, err
	}
	w := &World{Dir: dir}
	repo := filepath.Join(dir, "ipfs")
	cfg := storage.LoopbackConfig()
	if err := storage.Init(repo, &cfg); err != nil {
		return nil, err
	}
	if w.St, _, err = storageapi.Open(ctx, repo); err != nil {
		return nil, err
	}
	corpusDir := corpusDir()
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
	ft := spec
	ft.Inputs = []train.Input{{Path: filepath.Join(corpusDir, "riddles.txt")}}
	ft.Base = &train.Base{Path: basePath}
	ft.LoRA = &model.AdapterConfig{Rank: 4, Alpha: 8, Targets: model.TargetNames()}
	ft.Hyper.LR, ft.Hyper.MinLR, ft.Hyper.Steps = 1e-2, 1e-3, 10
	loraDir := filepath.Join(dir, "lora")
	if _, err := train.Run(ctx, ft, train.Options{OutDir: loraDir, Workers: 2}); err != nil {
		return nil, fmt.Errorf("training the adapter: %w", err)
	}

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
		r, err := w.St.Add(ctx, files.NewBytesFile(b), storage.AddOptions{PinReason: "test " + filepath.Base(path), SHA256: true})
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
	loraCID, loraSHA, loraSize, err := add(filepath.Join(loraDir, train.AdapterFile))
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
	w.Prompt = []byte(line + "\n")
	if w.InputCID, w.InputSHA, err = w.AddBytes(w.Prompt); err != nil {
		return nil, err
	}
	full := func(v uint64) modelstypes.ModelVersion {
		return modelstypes.ModelVersion{ModelId: 1, Version: v, Kind: modelstypes.VERSION_KIND_PRETRAIN,
			DatasetVersions: []modelstypes.DatasetVersionRef{{DatanetId: 1, Version: 1}},
			ArtifactCid:     baseCID, ArtifactSha256: baseSHA, ArtifactSize: baseSize,
			EngineName: checkpoint.EngineName, EngineVersion: checkpoint.EngineVersion, Status: modelstypes.VERSION_STATUS_PUBLISHED}
	}
	v1 := full(VSpan)
	v1.SpanIndexCid = indexCID
	v3 := modelstypes.ModelVersion{ModelId: 1, Version: VLoRA, Kind: modelstypes.VERSION_KIND_LORA,
		Parent: &modelstypes.VersionRef{ModelId: 1, Version: VSpan}, DatasetVersions: []modelstypes.DatasetVersionRef{{DatanetId: 2, Version: 1}},
		ArtifactCid: loraCID, ArtifactSha256: loraSHA, ArtifactSize: loraSize,
		EngineName: checkpoint.EngineName, EngineVersion: checkpoint.EngineVersion, Status: modelstypes.VERSION_STATUS_PUBLISHED}
	w.Models = &Models{
		models:   map[uint64]modelstypes.Model{1: {Id: 1, Name: "tiny-fortunes", LatestVersion: 3}},
		versions: map[uint64]modelstypes.ModelVersion{VSpan: v1, VNoAttrib: full(VNoAttrib), VLoRA: v3},
	}
	return w, nil
}

// corpusDir is ml/testdata/corpus of this module.
func corpusDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "ml", "testdata", "corpus")
}

// AddBytes adds content to the world's node and returns its CID and sha256.
func (w *World) AddBytes(b []byte) (string, string, error) {
	r, err := w.St.Add(context.Background(), files.NewBytesFile(bytes.Clone(b)), storage.AddOptions{PinReason: "test", SHA256: true})
	return r.RootStr, r.SHA256, err
}

// NewPool is an executor pool on the world's IPFS node with the built-in
// engine and its own cache (a provider's or a committee member's).
func (w *World) NewPool(t testing.TB) *executor.Pool {
	t.Helper()
	return w.NewPoolOn(t, w.St, t.TempDir())
}

// NewPoolOn is NewPool on another IPFS node and cache directory.
func (w *World) NewPoolOn(t testing.TB, st storage.API, cacheDir string) *executor.Pool {
	t.Helper()
	p, err := executor.New(executor.Config{CacheDir: cacheDir, Span: SpanParams},
		executor.Deps{Storage: st, Models: w.Models, Backends: []backend.Backend{backend.NewBuiltin("")}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// Job is job 7 on model 1's version, PENDING.
func (w *World) Job(version uint64) inferencetypes.Job {
	return inferencetypes.Job{Id: 7, DeploymentId: 1, ModelId: 1, ModelVersion: version, InputCid: w.InputCID, InputSha256: w.InputSHA,
		MaxTokens: 90, Params: inferencetypes.GenerationParams{TemperatureMilli: 1000, Seed: 1234}, Status: inferencetypes.JOB_STATUS_PENDING}
}

// ExecJob is the executor's form of a chain job.
func ExecJob(j inferencetypes.Job) executor.Job {
	return executor.Job{ID: j.Id, DeploymentID: j.DeploymentId, ModelID: j.ModelId, ModelVersion: j.ModelVersion,
		InputCID: j.InputCid, InputSHA256: j.InputSha256, MaxTokens: j.MaxTokens, Params: j.Params}
}

// ReceiptOf is the receipt the provider daemon posts for a result.
func ReceiptOf(j inferencetypes.Job, r executor.Result) inferencetypes.Receipt {
	return inferencetypes.Receipt{JobId: j.Id, Provider: "open1provider", OutputCid: r.OutputCID, OutputSha256: hex.EncodeToString(r.OutputSHA256[:]),
		PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens, EngineName: r.EngineName, EngineVersion: r.EngineVersion,
		ModelId: j.ModelId, ModelVersion: j.ModelVersion, RecordCid: r.RecordCID, Summary: r.Summary}
}

// Honest runs a job on a provider's pool and returns the receipt the daemon
// would post.
func (w *World) Honest(t testing.TB, j inferencetypes.Job) (inferencetypes.Receipt, executor.Result) {
	t.Helper()
	res, err := w.NewPool(t).Execute(context.Background(), ExecJob(j))
	if err != nil {
		t.Fatal(err)
	}
	return ReceiptOf(j, res), res
}

// Models is x/models at the process boundary.
type Models struct {
	models   map[uint64]modelstypes.Model
	versions map[uint64]modelstypes.ModelVersion
}

// ModelVersion implements executor.ModelSource.
func (c *Models) ModelVersion(_ context.Context, modelID, version uint64) (modelstypes.ModelVersion, error) {
	v, ok := c.versions[version]
	if modelID != 1 || !ok {
		return v, fmt.Errorf("model %d version %d: not found", modelID, version)
	}
	return v, nil
}

// Deployment implements executor.DeploymentSource: deployment 1 serves the
// span version, deployment 2 the LoRA version; both share their royalty with
// both dataset versions.
func (c *Models) Deployment(_ context.Context, id uint64) (modelstypes.Deployment, error) {
	version := map[uint64]uint64{1: VSpan, 2: VLoRA}[id]
	if version == 0 {
		return modelstypes.Deployment{}, fmt.Errorf("deployment %d: not found", id)
	}
	return modelstypes.Deployment{Id: id, ModelId: 1, Version: version, Status: modelstypes.DEPLOYMENT_STATUS_ACTIVE,
		DataShares: []modelstypes.DataShare{{DatanetId: 1, Version: 1, Bps: 5000}, {DatanetId: 2, Version: 1, Bps: 5000}}}, nil
}

// Model implements executor.ModelSource.
func (c *Models) Model(_ context.Context, id uint64) (modelstypes.Model, error) {
	m, ok := c.models[id]
	if !ok {
		return m, fmt.Errorf("model %d: not found", id)
	}
	return m, nil
}

// Chain is x/inference at the process boundary: jobs and receipts; sessions,
// settlements and providers; the chain id.
type Chain struct {
	Jobs        map[uint64]inferencetypes.Job
	Receipts    map[uint64]inferencetypes.Receipt
	Sessions    map[uint64]inferencetypes.Session
	Settlements map[uint64]inferencetypes.SessionSettlement
	Network     string
}

func lookup[K comparable, V any](m map[K]V, k K, what string) (V, error) {
	v, ok := m[k]
	if !ok {
		return v, fmt.Errorf("%s %v: not found", what, k)
	}
	return v, nil
}

// Job implements verifier.Chain.
func (c *Chain) Job(_ context.Context, id uint64) (inferencetypes.Job, error) {
	return lookup(c.Jobs, id, "job")
}

// Receipt implements verifier.Chain.
func (c *Chain) Receipt(_ context.Context, id uint64) (inferencetypes.Receipt, error) {
	return lookup(c.Receipts, id, "receipt of job")
}

// Settlement implements verifier.Chain.
func (c *Chain) Settlement(_ context.Context, id uint64) (inferencetypes.SessionSettlement, error) {
	return lookup(c.Settlements, id, "settlement")
}

// Session implements verifier.Chain.
func (c *Chain) Session(_ context.Context, id uint64) (inferencetypes.Session, error) {
	return lookup(c.Sessions, id, "session")
}

// ChainID implements verifier.Chain.
func (c *Chain) ChainID(context.Context) (string, error) {
	if c.Network == "" {
		return "", fmt.Errorf("no chain id")
	}
	return c.Network, nil
}
