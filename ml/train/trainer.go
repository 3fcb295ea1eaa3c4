package train

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/rng"
	"github.com/openledger/openledger/ml/tokenizer"
)

// Output file names inside the output directory.
const (
	ModelFile    = "model.safetensors"
	AdapterFile  = "adapter.safetensors"
	StateFile    = "trainer-state.safetensors"
	ManifestFile = "manifest.json"
)

// Options control how (not what) a run computes; none of them changes the
// result.
type Options struct {
	OutDir    string
	Workers   int  // goroutines computing example gradients (default: NumCPU)
	SaveEvery int  // write a resumable state every N steps (0: only at the end or on cancel)
	Resume    bool // continue from OutDir's trainer state
	Progress  func(Progress)
}

// Progress is reported after every step.
type Progress struct {
	Step, Steps  int
	Loss, LR     float64
	TokensSeen   int64
	TokensPerSec float64
	Elapsed      time.Duration
}

// Result is a finished run.
type Result struct {
	Manifest       *Manifest
	ManifestJSON   []byte
	ManifestSHA256 string
	Losses         []float64 // training loss per step
	Params         *model.Params
	Adapter        *model.Adapter // nil unless LoRA
	Tokenizer      *tokenizer.Tokenizer
}

type run struct {
	spec      Spec
	opt       Options
	inputs    []Input
	tok       *tokenizer.Tokenizer
	params    *model.Params
	adapter   *model.Adapter
	baseSHA   string
	trainToks []int
	evalToks  []int
	theta     []float32
	specs     []model.TensorSpec
	adam      *adamW
	losses    []float64
	seen      int64
	workers   []*worker
	gsum      []float32
	// SFT and DPO runs
	trainRecs, evalRecs []recExample
	truncated, skipped  int
	prefBefore          PreferenceEval
	parentMan           *Manifest
	parent              *ParentEval
}

type worker struct {
	ws *model.Workspace
	g  *model.Params
	ga *model.Adapter
	// SFT and DPO runs: workspaces by padded length (B: DPO's rejected side)
	scA, scB *scratch
	// loss and rows of the example just computed
	loss float64
	rows int
	err  error
}

// Run trains according to spec and writes the checkpoint (model or
// adapter), the trainer state and the manifest into opt.OutDir.
func Run(ctx context.Context, spec Spec, opt Options) (*Result, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	if opt.OutDir == "" {
		return nil, errors.New("train: no output directory")
	}
	if err := os.MkdirAll(opt.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	r := &run{spec: spec, opt: opt}
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	start := 0
	if opt.Resume {
		s, err := r.loadState()
		if err != nil {
			return nil, err
		}
		start = s
	}
	if err := r.loop(ctx, start); err != nil {
		return nil, err
	}
	return r.finish()
}

func (r *run) setup(ctx context.Context) error {
	inputs, files, err := readInputFiles(r.spec.Inputs)
	if err != nil {
		return err
	}
	r.inputs = inputs
	trainBytes, evalBytes := splitHeldOut(bytes.Join(files, nil), r.spec.Hyper.EvalFraction)
	h := r.spec.Hyper
	if r.spec.Base != nil {
		m, err := checkpoint.LoadModel(r.spec.Base.Path)
		if err != nil {
			return err
		}
		if r.spec.Base.SHA256 != "" && r.spec.Base.SHA256 != m.SHA256 {
			return fmt.Errorf("train: base checkpoint %s has sha256 %s, expected %s", r.spec.Base.Path, m.SHA256, r.spec.Base.SHA256)
		}
		r.tok, r.params, r.baseSHA = m.Tok, m.Params, m.SHA256
	} else {
		if r.tok, err = r.newTokenizer(ctx, trainBytes); err != nil {
			return err
		}
		cfg := r.spec.Model
		cfg.VocabSize = r.tok.VocabSize()
		if r.params, err = model.New(cfg, r.spec.Seed); err != nil {
			return err
		}
	}
	cfg := r.params.Cfg
	if h.SeqLen > cfg.ContextLen {
		return fmt.Errorf("train: sequence length %d exceeds the model context %d", h.SeqLen, cfg.ContextLen)
	}
	rank := 0
	if r.spec.LoRA != nil {
		if r.adapter, err = model.NewAdapter(cfg, *r.spec.LoRA); err != nil {
			return err
		}
		r.adapter.Init(r.spec.Seed)
		r.theta, r.specs, rank = r.adapter.Data, r.adapter.Specs(), r.spec.LoRA.Rank
	} else {
		r.theta, r.specs = r.params.Data, r.params.Specs()
	}
	if r.spec.Kind == KindText {
		r.trainToks = r.tok.Encode(trainBytes)
		r.evalToks = r.tok.Encode(evalBytes)
		if len(r.trainToks) < h.SeqLen+1 {
			return fmt.Errorf("train: the training split has %d tokens, fewer than sequence length + 1 (%d)", len(r.trainToks), h.SeqLen+1)
		}
		if len(r.evalToks) < 2 {
			return fmt.Errorf("train: the held-out split has %d tokens; need at least 2 (more data or a larger eval fraction)", len(r.evalToks))
		}
	}
	nw := r.opt.Workers
	if nw <= 0 {
		nw = runtime.NumCPU()
	}
	nw = min(nw, h.BatchSize)
	for i := 0; i < nw; i++ {
		w := &worker{}
		if r.spec.Kind == KindText {
			w.ws = model.NewWorkspace(cfg, h.SeqLen, rank)
		} else {
			w.scA, w.scB = newScratch(cfg, rank), newScratch(cfg, rank)
		}
		if r.adapter != nil {
			w.ga = r.adapter.ZeroLike()
		} else {
			w.g = model.NewParams(cfg)
		}
		r.workers = append(r.workers, w)
	}
	r.gsum = make([]float32, len(r.theta))
	r.adam = newAdamW(len(r.theta), r.specs)
	if err := r.loadParent(); err != nil {
		return err
	}
	if r.spec.Kind != KindText {
		return r.prepareRecords(files)
	}
	return nil
}

func (r *run) newTokenizer(ctx context.Context, trainBytes []byte) (*tokenizer.Tokenizer, error) {
	ts := r.spec.Tokenizer
	switch ts.Kind {
	case tokenizer.KindByte:
		return tokenizer.NewByte(), nil
	case TokenizerFile:
		b, err := os.ReadFile(ts.Path)
		if err != nil {
			return nil, fmt.Errorf("train: tokenizer: %w", err)
		}
		tok, err := tokenizer.Parse(b)
		if err != nil {
			return nil, err
		}
		if ts.SHA256 != "" && ts.SHA256 != tok.Digest() {
			return nil, fmt.Errorf("train: tokenizer %s has digest %s, expected %s", ts.Path, tok.Digest(), ts.SHA256)
		}
		return tok, nil
	default:
		return tokenizer.Train(ctx, trainBytes, ts.VocabSize)
	}
}

// example returns the token window of example b at step s.
func (r *run) example(s, b int) []int {
	T := r.spec.Hyper.SeqLen
	off := rng.Derive(r.spec.Seed, 1, uint64(s), uint64(b)).Intn(len(r.trainToks) - T)
	return r.trainToks[off : off+T+1]
}

// batchGrad fills r.gsum with the batch-mean gradient and returns the mean
// loss and the rows (tokens) processed.
func (r *run) batchGrad(s int) (float64, int64, error) {
	if r.spec.Kind != KindText {
		return r.recordBatchGrad(s)
	}
	h := r.spec.Hyper
	gscale := float32(1 / float64(h.BatchSize*h.SeqLen))
	total, rows, err := r.accumulate(func(w *worker, b int) (float64, int, error) {
		return model.Grad(r.params, r.adapter, w.ws, r.example(s, b), w.g, w.ga, gscale)
	})
	return total / float64(h.BatchSize*h.SeqLen), rows, err
}

// accumulate computes the batch's examples with the workers, each example's
// gradient into one worker's cleared buffer, and adds the buffers into
// r.gsum and the losses into the total in example order.
func (r *run) accumulate(example func(w *worker, b int) (float64, int, error)) (float64, int64, error) {
	h := r.spec.Hyper
	clear(r.gsum)
	var total float64
	var rows int64
	for b0 := 0; b0 < h.BatchSize; b0 += len(r.workers) {
		n := min(len(r.workers), h.BatchSize-b0)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			w := r.workers[i]
			wg.Add(1)
			go func(b int) {
				defer wg.Done()
				clear(w.buf())
				w.loss, w.rows, w.err = example(w, b)
			}(b0 + i)
		}
		wg.Wait()
		for i := 0; i < n; i++ {
			w := r.workers[i]
			if w.err != nil {
				return 0, 0, w.err
			}
			for j, v := range w.buf() {
				r.gsum[j] += v
			}
			total += w.loss
			rows += int64(w.rows)
		}
	}
	return total, rows, nil
}

func (r *run) loop(ctx context.Context, start int) error {
	h := r.spec.Hyper
	t0 := time.Now()
	seen0 := r.seen
	for s := start; s < h.Steps; s++ {
		if err := ctx.Err(); err != nil {
			if serr := r.saveState(s); serr != nil {
				return errors.Join(err, serr)
			}
			return err
		}
		loss, rows, err := r.batchGrad(s)
		if err != nil {
			return err
		}
		norm := GlobalNorm(r.gsum)
		gscale := 1.0
		if norm > h.GradClip {
			gscale = h.GradClip / norm
		}
		lr := LearningRate(s, h.Steps, h.WarmupSteps, h.LR, h.MinLR)
		r.adam.update(r.theta, r.gsum, gscale, lr, h)
		r.losses = append(r.losses, loss)
		r.seen += rows
		if r.opt.Progress != nil {
			el := time.Since(t0)
			r.opt.Progress(Progress{Step: s + 1, Steps: h.Steps, Loss: loss, LR: lr, TokensSeen: r.seen,
				TokensPerSec: float64(r.seen-seen0) / el.Seconds(), Elapsed: el})
		}
		if r.opt.SaveEvery > 0 && (s+1)%r.opt.SaveEvery == 0 && s+1 < h.Steps {
			if err := r.saveState(s + 1); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *run) finish() (*Result, error) {
	h := r.spec.Hyper
	evalLoss, err := r.evalLoss()
	if err != nil {
		return nil, err
	}
	var pref *PreferenceReport
	if r.spec.Kind == KindDPO {
		after, err := r.preferenceEval(r.adapter)
		if err != nil {
			return nil, err
		}
		pref = &PreferenceReport{Beta: r.spec.Beta, Before: r.prefBefore, After: after}
	}
	parent, err := r.parentEval()
	if err != nil {
		return nil, err
	}
	var file, sum string
	var size int64
	if r.adapter != nil {
		file = AdapterFile
		b, err := checkpoint.MarshalAdapter(r.adapter, r.baseSHA)
		if err != nil {
			return nil, err
		}
		sum, size = checkpoint.Digest(b), int64(len(b))
		err = checkpoint.WriteFileAtomic(filepath.Join(r.opt.OutDir, file), b)
		if err != nil {
			return nil, err
		}
	} else {
		file = ModelFile
		b, err := checkpoint.MarshalModel(r.params, r.tok)
		if err != nil {
			return nil, err
		}
		sum, size = checkpoint.Digest(b), int64(len(b))
		if err := checkpoint.WriteFileAtomic(filepath.Join(r.opt.OutDir, file), b); err != nil {
			return nil, err
		}
	}
	if err := r.saveState(h.Steps); err != nil {
		return nil, err
	}
	m := r.manifest(evalLoss, Artifact{File: file, SHA256: sum, Bytes: size})
	m.Preference, m.ParentEval = pref, parent
	js, digest, err := m.Canonical()
	if err != nil {
		return nil, err
	}
	if err := checkpoint.WriteFileAtomic(filepath.Join(r.opt.OutDir, ManifestFile), js); err != nil {
		return nil, err
	}
	return &Result{Manifest: m, ManifestJSON: js, ManifestSHA256: digest, Losses: r.losses,
		Params: r.params, Adapter: r.adapter, Tokenizer: r.tok}, nil
}

// buf returns the worker's gradient buffer.
func (w *worker) buf() []float32 {
	if w.ga != nil {
		return w.ga.Data
	}
	return w.g.Data
}

// evalLoss is the run's held-out loss: next-token loss on the text's tail,
// or the held-out records' continuation-token loss (SFT responses, DPO
// chosen continuations).
func (r *run) evalLoss() (float64, error) {
	h := r.spec.Hyper
	if r.spec.Kind == KindText {
		l, _, err := Evaluate(r.params, r.adapter, r.evalToks, h.SeqLen, h.EvalWindows, len(r.workers))
		return l, err
	}
	l, _, err := recordEvalLoss(r.params, r.adapter, r.spec.Kind, r.evalRecs, h.SeqLen, len(r.workers))
	return l, err
}
