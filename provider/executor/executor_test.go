package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/openledger/openledger/attribution"
	"github.com/openledger/openledger/attribution/record"
	"github.com/openledger/openledger/attribution/spanindex"
	"github.com/openledger/openledger/provider/backend"
	"github.com/openledger/openledger/storage"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
	modelstypes "github.com/openledger/openledger/x/models/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

func newPool(t testing.TB, w *world, cfg Config, src ModelSource, backends ...backend.Backend) *Pool {
	t.Helper()
	if cfg.CacheDir == "" {
		cfg.CacheDir = t.TempDir()
	}
	if src == nil {
		src = w.chain
	}
	if len(backends) == 0 {
		backends = []backend.Backend{backend.NewBuiltin("")}
	}
	if cfg.Span == (attribution.SpanParams{}) {
		cfg.Span = attribution.SpanParams{MinSpanTokens: 3, MaxOccurrences: 64}
	}
	p, err := New(cfg, Deps{Storage: w.st, Models: src, Backends: backends}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func (w *world) job(version uint64) Job {
	return Job{ID: 7, DeploymentID: 1, ModelID: 1, ModelVersion: version, InputCID: w.inputCID, InputSHA256: w.inputSHA,
		MaxTokens: 60, Params: inferencetypes.GenerationParams{TemperatureMilli: 800, TopK: 40, TopPPpm: 950_000, Seed: 1234}}
}

func cat(t *testing.T, st storage.API, c string) []byte {
	t.Helper()
	id, err := storage.ParseCID(c)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := st.Cat(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A job end to end with the built-in engine and the span index: deterministic
// output, counted tokens, a record that decodes, verifies and summarises to the
// receipt's summary; the second run hits the cache.
func TestExecuteEndToEnd(t *testing.T) {
	w := getWorld(t)
	p := newPool(t, w, Config{Workers: 2}, nil)
	ctx := context.Background()
	job := w.job(vSpan)
	res, err := p.Execute(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.Fetches != 2 { // checkpoint and span index
		t.Fatalf("%d fetches, want 2", st.Fetches)
	}
	if want := uint64(len(w.tok.Encode(w.prompt))); res.PromptTokens != want {
		t.Fatalf("prompt tokens %d, want %d", res.PromptTokens, want)
	}
	if res.CompletionTokens == 0 || res.PromptTokens+res.CompletionTokens > job.MaxTokens {
		t.Fatalf("completion %d tokens, prompt %d, max %d", res.CompletionTokens, res.PromptTokens, job.MaxTokens)
	}
	if res.EngineName != "openledger-ml" || res.EngineVersion == "" {
		t.Fatalf("engine %q %q", res.EngineName, res.EngineVersion)
	}
	if got := cat(t, w.st, res.OutputCID); !bytes.Equal(got, res.Output) || len(got) == 0 {
		t.Fatalf("IPFS holds %q, result says %q", got, res.Output)
	}
	recBytes := cat(t, w.st, res.RecordCID)
	rec, err := record.Decode(recBytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := record.Validate(rec); err != nil {
		t.Fatal(err)
	}
	if rec.Method != record.METHOD_SPAN || rec.Model.ModelId != 1 || rec.Model.Version != vSpan || rec.DatasetVersion.DatanetId != 1 {
		t.Fatalf("record %+v", rec)
	}
	again, err := Summarize(rec, 16)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, res.Summary) {
		t.Fatalf("re-summarised %v, receipt has %v", again, res.Summary)
	}
	// `attribution verify` recomputes the record byte for byte from the index.
	ix, err := spanindex.Open(w.index)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	art, err := attribution.FileArtifact(w.index)
	if err != nil {
		t.Fatal(err)
	}
	if err := attribution.VerifySpanRecord(recBytes, attribution.SpanSource{Index: ix, Artifact: art}, w.tok, res.Output); err != nil {
		t.Fatal(err)
	}
	t.Logf("output %q: %d+%d tokens, %d spans, %d credited contributions, summary %v",
		res.Output, res.PromptTokens, res.CompletionTokens, len(rec.Spans), len(rec.Weights), res.Summary)

	// Same seed: the same output CID and record; nothing fetched or loaded again.
	res2, err := p.Execute(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	if res2.OutputCID != res.OutputCID || res2.RecordCID != res.RecordCID {
		t.Fatalf("second run: output %s record %s, first %s %s", res2.OutputCID, res2.RecordCID, res.OutputCID, res.RecordCID)
	}
	if st2 := p.Stats(); st2.Fetches != st.Fetches || st2.Loads != st.Loads || st2.Jobs != 2 {
		t.Fatalf("second run refetched or reloaded: %+v then %+v", st, st2)
	}
	// Another seed samples another completion.
	job.Params.Seed++
	res3, err := p.Execute(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	if res3.OutputCID == res.OutputCID {
		t.Fatal("another seed gave the same output")
	}

	// A restarted pool adopts the cache directory: no refetch.
	p2 := newPool(t, w, Config{CacheDir: p.cfg.CacheDir}, nil)
	res4, err := p2.Execute(ctx, w.job(vSpan))
	if err != nil {
		t.Fatal(err)
	}
	if res4.OutputCID != res.OutputCID || p2.Stats().Fetches != 0 {
		t.Fatalf("restarted pool: output %s (want %s), %d fetches", res4.OutputCID, res.OutputCID, p2.Stats().Fetches)
	}
}

// Concurrent jobs of one version fetch and load it once.
func TestConcurrentSameModelFetchOnce(t *testing.T) {
	w := getWorld(t)
	p := newPool(t, w, Config{Workers: 4}, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			j := w.job(vSpan)
			j.Params.Seed = uint64(i)
			_, err := p.Execute(context.Background(), j)
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if st := p.Stats(); st.Fetches != 2 || st.Loads != 2 {
		t.Fatalf("%+v: want 2 fetches and 2 loads (model, index)", st)
	}
}

// A LoRA version runs its adapter over the resident base: the base is fetched
// and loaded once for both versions.
func TestLoRAOverResidentBase(t *testing.T) {
	w := getWorld(t)
	p := newPool(t, w, Config{}, nil)
	ctx := context.Background()
	job := w.job(vLoRA)
	job.Params = inferencetypes.GenerationParams{} // greedy
	ra, err := p.Execute(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	job.ModelVersion = vNoAttrib // the base alone, same checkpoint
	rb, err := p.Execute(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(ra.Output, rb.Output) {
		t.Fatalf("the adapter changed nothing: %q", ra.Output)
	}
	if p.bases.loads.Load() != 1 {
		t.Fatalf("base loaded %d times", p.bases.loads.Load())
	}
	if st := p.Stats(); st.Fetches != 2 { // base + adapter
		t.Fatalf("%d fetches", st.Fetches)
	}
	// The adapter's record: no attribution artifacts, the version's own dataset version.
	if len(ra.Summary.Pools) != 1 || ra.Summary.Pools[0].DatanetId != 2 || ra.Summary.Pools[0].Ppm != rewardstypes.PpmScale {
		t.Fatalf("summary %v", ra.Summary)
	}
}

func TestDigestMismatch(t *testing.T) {
	w := getWorld(t)
	p := newPool(t, w, Config{}, nil)
	job := w.job(vSpan)
	job.InputSHA256 = strings.Repeat("ab", 32)
	if _, err := p.Execute(context.Background(), job); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("input: %v", err)
	}
	_, err := p.Execute(context.Background(), w.job(vBadSHA))
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("model: %v", err)
	}
	t.Log(err)
	// Nothing with the wrong digest stays in the cache.
	des, _ := os.ReadDir(p.cfg.CacheDir)
	if len(des) != 0 {
		t.Fatalf("cache holds %d files after a mismatch", len(des))
	}
}

func TestInputUnavailable(t *testing.T) {
	w := getWorld(t)
	p := newPool(t, w, Config{}, nil)
	missing := []byte("a prompt nobody added")
	art, err := attribution.ReaderArtifact(bytes.NewReader(missing))
	if err != nil {
		t.Fatal(err)
	}
	job := w.job(vSpan)
	job.InputCID, job.InputSHA256 = art.Cid, art.Sha256
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err = p.Execute(ctx, job)
	if !errors.Is(err, ErrInputUnavailable) {
		t.Fatalf("got %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("not within the context deadline")
	}
	job.InputCID = "not-a-cid"
	if _, err := p.Execute(ctx, job); !errors.Is(err, ErrInvalidJob) {
		t.Fatalf("bad CID: %v", err)
	}
}

func TestTooLong(t *testing.T) {
	w := getWorld(t)
	p := newPool(t, w, Config{}, nil)
	job := w.job(vSpan)
	job.MaxTokens = uint64(len(w.tok.Encode(w.prompt)))
	if _, err := p.Execute(context.Background(), job); !errors.Is(err, ErrTooLong) {
		t.Fatalf("got %v", err)
	}
	long := bytes.Repeat([]byte("Lorem ipsum dolor sit amet, "), 40)
	job.InputCID, job.InputSHA256, _ = w.addBytes(long)
	job.MaxTokens = 10_000
	if _, err := p.Execute(context.Background(), job); !errors.Is(err, ErrTooLong) || !strings.Contains(err.Error(), "context") {
		t.Fatalf("over the context: %v", err)
	}
}

// Without attribution artifacts the summary gives everything to the version's
// dataset-version pools, equally, restricted to the deployment's table when known.
func TestPoolOnlySummary(t *testing.T) {
	w := getWorld(t)
	p := newPool(t, w, Config{}, nil)
	res, err := p.Execute(context.Background(), w.job(vNoAttrib))
	if err != nil {
		t.Fatal(err)
	}
	want := []rewardstypes.PoolWeight{{DatanetId: 1, Version: 1, Ppm: 333_334}, {DatanetId: 1, Version: 2, Ppm: 333_333}, {DatanetId: 3, Version: 1, Ppm: 333_333}}
	if len(res.Summary.Top) != 0 || len(res.Summary.Pools) != 3 {
		t.Fatalf("summary %v", res.Summary)
	}
	for i := range want {
		if res.Summary.Pools[i] != want[i] {
			t.Fatalf("pools %v, want %v", res.Summary.Pools, want)
		}
	}
	var stmt PoolOnlyStatement
	b := cat(t, w.st, res.RecordCID)
	if err := json.Unmarshal(b, &stmt); err != nil || stmt.Format != PoolOnlyFormat || len(stmt.Pools) != 3 {
		t.Fatalf("statement %s: %v", b, err)
	}

	src := withDeployments{w.chain, map[uint64]modelstypes.Deployment{1: {Id: 1, DataShares: []modelstypes.DataShare{{DatanetId: 1, Version: 2, Bps: 6000}, {DatanetId: 9, Version: 1, Bps: 4000}}}}}
	p2 := newPool(t, w, Config{}, src)
	res, err = p2.Execute(context.Background(), w.job(vNoAttrib))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Summary.Pools) != 1 || res.Summary.Pools[0] != (rewardstypes.PoolWeight{DatanetId: 1, Version: 2, Ppm: 1_000_000}) {
		t.Fatalf("with the table: %v", res.Summary)
	}
}

// blockingBackend is a remote backend whose requests wait for release.
type blockingBackend struct {
	inflight atomic.Int32
	release  chan struct{}
}

func (b *blockingBackend) Info() backend.Info { return backend.Info{Name: "blocking"} }

func (b *blockingBackend) Generate(ctx context.Context, req backend.Request) (backend.Response, error) {
	b.inflight.Add(1)
	defer b.inflight.Add(-1)
	select {
	case <-b.release:
	case <-ctx.Done():
		return backend.Response{}, ctx.Err()
	}
	return backend.Response{Output: []byte(" ok"), PromptTokens: 3, CompletionTokens: 1, EngineName: "fake", EngineVersion: "1"}, nil
}

// N+1 concurrent jobs with N workers: N run, one waits; a waiter whose context
// ends gives up.
func TestBoundedPool(t *testing.T) {
	w := getWorld(t)
	bb := &blockingBackend{release: make(chan struct{})}
	const n = 2
	p := newPool(t, w, Config{Workers: n}, nil, bb)
	errs := make(chan error, n+1)
	for i := 0; i < n+1; i++ {
		go func() {
			_, err := p.Execute(context.Background(), w.job(vNoAttrib))
			errs <- err
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for bb.inflight.Load() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if got := bb.inflight.Load(); got != n || p.Busy() != n {
		t.Fatalf("%d in the engine, %d busy; want %d", got, p.Busy(), n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.Execute(ctx, w.job(vNoAttrib)); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "free worker") {
		t.Fatalf("waiter: %v", err)
	}
	close(bb.release)
	for i := 0; i < n+1; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// The per-job timeout cuts off a hung engine: an OpenAI-compatible server that
// accepts the request and never answers.
func TestJobTimeoutHangingBackend(t *testing.T) {
	w := getWorld(t)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	be, err := backend.NewOpenAI(backend.OpenAIConfig{Name: "vllm", BaseURL: srv.URL + "/v1", EngineVersion: "0.6.3"})
	if err != nil {
		t.Fatal(err)
	}
	p := newPool(t, w, Config{JobTimeout: 300 * time.Millisecond}, nil, be)
	start := time.Now()
	_, err = p.Execute(context.Background(), w.job(vNoAttrib))
	if !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), "per-job timeout") {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %s", d)
	}
	// The same with the fake engine that returns the bare context error.
	p = newPool(t, w, Config{JobTimeout: 100 * time.Millisecond}, nil, &blockingBackend{release: make(chan struct{})})
	if _, err := p.Execute(context.Background(), w.job(vNoAttrib)); !errors.Is(err, ErrBackend) {
		t.Fatalf("got %v", err)
	}
}

// A remote backend without a tokenizer: the server's usage decides, and a
// completion that would exceed max_tokens is asked again with the exact room.
func TestRemoteBackendUsage(t *testing.T) {
	w := getWorld(t)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var body struct {
			MaxTokens int    `json:"max_tokens"`
			Model     string `json:"model"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		calls.Add(1)
		if body.Model != "tiny-fortunes" {
			t.Errorf("model %q", body.Model)
		}
		rw.Header().Set("Content-Type", "application/json")
		completion := min(body.MaxTokens, 50)
		io.WriteString(rw, `{"id":"cmpl-1","object":"text_completion","model":"tiny-fortunes","choices":[{"index":0,"text":" done","finish_reason":"length"}],"usage":{"prompt_tokens":20,"completion_tokens":`+
			itoa(completion)+`,"total_tokens":0}}`)
	}))
	defer srv.Close()
	be, err := backend.NewOpenAI(backend.OpenAIConfig{Name: "vllm", BaseURL: srv.URL, EngineVersion: "0.6.3"})
	if err != nil {
		t.Fatal(err)
	}
	p := newPool(t, w, Config{}, nil, be)
	res, err := p.Execute(context.Background(), w.job(vNoAttrib))
	if err != nil {
		t.Fatal(err)
	}
	if res.PromptTokens != 20 || res.CompletionTokens != 40 || calls.Load() != 2 || res.EngineName != "vllm" || res.EngineVersion != "0.6.3" {
		t.Fatalf("%+v after %d calls", res, calls.Load())
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// fakeQuery is the x/models query client with only what ChainModels calls.
type fakeQuery struct {
	modelstypes.QueryClient
	w *world
}

func (q fakeQuery) ModelVersion(ctx context.Context, in *modelstypes.QueryModelVersionRequest, _ ...grpc.CallOption) (*modelstypes.QueryModelVersionResponse, error) {
	v, err := q.w.chain.ModelVersion(ctx, in.ModelId, in.Version)
	return &modelstypes.QueryModelVersionResponse{Version: v}, err
}

func (q fakeQuery) Model(ctx context.Context, in *modelstypes.QueryModelRequest, _ ...grpc.CallOption) (*modelstypes.QueryModelResponse, error) {
	m, err := q.w.chain.Model(ctx, in.ModelId)
	return &modelstypes.QueryModelResponse{Model: m}, err
}

func (q fakeQuery) Deployment(_ context.Context, in *modelstypes.QueryDeploymentRequest, _ ...grpc.CallOption) (*modelstypes.QueryDeploymentResponse, error) {
	return &modelstypes.QueryDeploymentResponse{Deployment: modelstypes.Deployment{Id: in.DeploymentId,
		DataShares: []modelstypes.DataShare{{DatanetId: 3, Version: 1, Bps: 10_000}}}}, nil
}

func TestChainModelsAdapter(t *testing.T) {
	w := getWorld(t)
	p := newPool(t, w, Config{}, ChainModels{Query: fakeQuery{w: w}})
	res, err := p.Execute(context.Background(), w.job(vNoAttrib))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Summary.Pools) != 1 || res.Summary.Pools[0].DatanetId != 3 {
		t.Fatalf("summary %v", res.Summary)
	}
}

func TestFileCacheEvictsLRU(t *testing.T) {
	w := getWorld(t)
	dir := t.TempDir()
	var cids []string
	for i := 0; i < 3; i++ {
		c, _, err := w.addBytes(bytes.Repeat([]byte{byte('a' + i)}, 1000))
		if err != nil {
			t.Fatal(err)
		}
		cids = append(cids, c)
	}
	fc, err := newFileCache(dir, 2500, w.st)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	get := func(c string) {
		_, rel, err := fc.get(ctx, c, "")
		if err != nil {
			t.Fatal(err)
		}
		rel()
	}
	get(cids[0])
	get(cids[1])
	get(cids[0]) // 1 is now the least recently used
	get(cids[2])
	if _, err := os.Stat(fc.path(cids[1])); !os.IsNotExist(err) {
		t.Fatal("the least recently used file was not evicted")
	}
	for _, c := range []string{cids[0], cids[2]} {
		if _, err := os.Stat(fc.path(c)); err != nil {
			t.Fatalf("%s evicted: %v", c, err)
		}
	}
	if fc.fetches.Load() != 3 {
		t.Fatalf("%d fetches", fc.fetches.Load())
	}
	// A file in use is not evicted even past the bound.
	_, rel, err := fc.get(ctx, cids[1], "")
	if err != nil {
		t.Fatal(err)
	}
	get(cids[0])
	get(cids[2])
	if _, err := os.Stat(fc.path(cids[1])); err != nil {
		t.Fatal("a file in use was evicted")
	}
	rel()
}
