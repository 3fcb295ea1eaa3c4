package train

import (
	"bytes"
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/rng"
)

// SFT lowers the held-out response loss, and trains on response tokens
// only: the manifest's eval_loss is the response-token loss.
func TestSFTLowersResponseLoss(t *testing.T) {
	dir := t.TempDir()
	data := writeJSONL(t, dir, "sft.jsonl", sftRecords(64, 1))
	spec := fineTuneSpec(t, KindSFT, data, 30)
	res := mustRun(t, spec, Options{OutDir: filepath.Join(dir, "out")})
	m := res.Manifest
	if m.Kind != KindSFT || m.TrainRecords != 48 || m.EvalRecords != 16 || m.Base == nil {
		t.Fatalf("manifest: kind %q, records %d/%d", m.Kind, m.TrainRecords, m.EvalRecords)
	}
	base, err := checkpoint.LoadModel(spec.Base.Path)
	if err != nil {
		t.Fatal(err)
	}
	r := &run{spec: spec, tok: base.Tok, params: base.Params, inputs: m.Inputs, workers: []*worker{{}}}
	files := [][]byte{mustRead(t, data)}
	if err := r.prepareRecords(files); err != nil {
		t.Fatal(err)
	}
	before, _, err := recordEvalLoss(base.Params, nil, KindSFT, r.evalRecs, spec.Hyper.SeqLen, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !(m.EvalLoss < 0.7*before) {
		t.Fatalf("held-out response loss %.4f after SFT, %.4f before: not lowered by 30%%", m.EvalLoss, before)
	}
	if first, last := res.Losses[0], res.Losses[len(res.Losses)-1]; !(last < first) {
		t.Fatalf("training response loss did not decrease: %.4f -> %.4f", first, last)
	}
	// The same run with LoRA trains only an adapter and also learns.
	spec.LoRA = &model.AdapterConfig{Rank: 4, Alpha: 8, Targets: model.TargetNames()}
	spec.Hyper.LR, spec.Hyper.MinLR = 1e-2, 1e-3
	lr := mustRun(t, spec, Options{OutDir: filepath.Join(dir, "lora")})
	if lr.Adapter == nil || !(lr.Manifest.EvalLoss < before) {
		t.Fatalf("LoRA SFT: adapter %v, held-out loss %.4f vs %.4f", lr.Adapter != nil, lr.Manifest.EvalLoss, before)
	}
}

// An SFT example scores exactly the response tokens: the prompt's rows are
// Ignore, and truncation keeps the response whole while the prompt fits.
func TestSFTMasksThePrompt(t *testing.T) {
	ex := makeSeq([]int{1, 2, 3, 4}, []int{5, 6})
	wantIn := []int{1, 2, 3, 4, 5}
	wantTg := []int{model.Ignore, model.Ignore, model.Ignore, 5, 6}
	if !equalInts(ex.inputs, wantIn) || !equalInts(ex.targets, wantTg) || ex.scored != 2 {
		t.Fatalf("makeSeq: %v %v %d", ex.inputs, ex.targets, ex.scored)
	}
	p, c, cut := fit([]int{1, 2, 3, 4, 5, 6}, [][]int{{7, 8}, {9}}, 4)
	if !cut || !equalInts(p, []int{4, 5, 6}) || !equalInts(c[0], []int{7, 8}) || !equalInts(c[1], []int{9}) {
		t.Fatalf("fit: %v %v", p, c)
	}
	p, c, _ = fit([]int{1, 2}, [][]int{{3, 4, 5, 6, 7}}, 3)
	if !equalInts(p, []int{2}) || !equalInts(c[0], []int{3, 4, 5}) {
		t.Fatalf("fit of a long response: %v %v", p, c)
	}
}

// dpoFixture is a run over one preference pair on a tiny noisy model, with
// a reference different from the policy so the sigmoid factor is not 1/2.
func dpoFixture(t *testing.T, withAdapter bool) (*run, *worker) {
	cfg := model.Config{VocabSize: 13, ContextLen: 12, DModel: 8, NLayers: 2, NHeads: 2, DFF: 12, Positions: model.PositionsLearned, LNEps: 1e-5}
	p, err := model.New(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	r0 := rng.New(4)
	for i := range p.Data {
		p.Data[i] += float32(0.4 * (r0.Float64() - 0.5))
	}
	ex := recExample{chosen: makeSeq([]int{1, 2, 3}, []int{4, 5, 6}), rejected: makeSeq([]int{1, 2, 3}, []int{7, 8})}
	ex.refC, ex.refR = -9.5, -6.25
	r := &run{spec: Spec{Kind: KindDPO, Beta: 0.7, Seed: 1, Hyper: Hyper{SeqLen: 10, BatchSize: 1}}, params: p, trainRecs: []recExample{ex}}
	rank := 0
	w := &worker{}
	if withAdapter {
		a, err := model.NewAdapter(cfg, model.AdapterConfig{Rank: 2, Alpha: 4, Targets: model.TargetNames()})
		if err != nil {
			t.Fatal(err)
		}
		for i := range a.Data {
			a.Data[i] = float32(r0.Float64() - 0.5)
		}
		r.adapter, rank, w.ga = a, 2, a.ZeroLike()
	} else {
		w.g = model.NewParams(cfg)
	}
	w.scA, w.scB = newScratch(cfg, rank), newScratch(cfg, rank)
	return r, w
}

// dpoLossOf recomputes the fixture's DPO loss from scratch.
func dpoLossOf(t *testing.T, r *run) float64 {
	ex := r.trainRecs[0]
	ls, err := scoreSeqs(r.params, r.adapter, []seqExample{ex.chosen, ex.rejected}, r.spec.Hyper.SeqLen, 1)
	if err != nil {
		t.Fatal(err)
	}
	l, _, _ := dpoLoss(r.spec.Beta, ls[0], ls[1], ex.refC, ex.refR)
	return l
}

// The DPO gradient the trainer computes matches central finite differences
// of the DPO loss, for full weights and for a LoRA adapter.
//
// The engine computes in float32 (no float64 mode), so this is the engine's
// own gradient-check tolerance (ml/model): with eps = 1e-2 the central
// difference's truncation error is O(eps²) ≈ 1e-4 relative, and float32
// rounding of losses of order 1-10 contributes ≈ 1e-6/eps ≈ 1e-4 absolute;
// 2e-3 absolute + 3% relative leaves room for both while a wrong sign,
// a missing β or σ factor, or a masked-row leak (errors ≥ 30%) fail.
func TestDPOGradientMatchesFiniteDifferences(t *testing.T) {
	for _, lora := range []bool{false, true} {
		r, w := dpoFixture(t, lora)
		loss, rows, err := r.recordGrad(w, 0, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		if rows != 5+4 || math.Abs(loss-dpoLossOf(t, r)) > 1e-12 {
			t.Fatalf("recordGrad: loss %v (recomputed %v), rows %d", loss, dpoLossOf(t, r), rows)
		}
		_, z, dz := dpoLoss(r.spec.Beta, 0, 0, 0, 0)
		if z != 0 || dz != -0.5 {
			t.Fatalf("dpoLoss at equal policy and reference: z %v, dL/dz %v", z, dz)
		}
		data, grad, specs := r.params.Data, w.buf(), r.params.Specs()
		if lora {
			data, specs = r.adapter.Data, r.adapter.Specs()
		}
		checked := 0
		for _, s := range specs {
			for _, i := range []int{s.Off, s.Off + s.Len/2, s.Off + s.Len - 1} {
				orig := data[i]
				const eps = 1e-2
				data[i] = orig + eps
				lp := dpoLossOf(t, r)
				data[i] = orig - eps
				lm := dpoLossOf(t, r)
				data[i] = orig
				fd, an := (lp-lm)/(2*eps), float64(grad[i])
				if math.Abs(fd-an) > 2e-3+3e-2*math.Max(math.Abs(fd), math.Abs(an)) {
					t.Errorf("lora=%v %s[%d]: analytic %.6g, finite difference %.6g", lora, s.Name, i-s.Off, an, fd)
				}
				if an != 0 {
					checked++
				}
			}
		}
		if checked < len(specs) {
			t.Fatalf("only %d non-zero gradients checked", checked)
		}
	}
}

// DPO on synthetic pairs (chosen repeats the word, rejected reverses it)
// raises the held-out chosen-over-rejected margin and preference accuracy
// over the base, and reports DPO loss and accuracies before and after.
func TestDPOImprovesHeldOutPreference(t *testing.T) {
	dir := t.TempDir()
	data := writeJSONL(t, dir, "prefs.jsonl", prefRecords(96, 2))
	spec := fineTuneSpec(t, KindDPO, data, 30)
	res := mustRun(t, spec, Options{OutDir: filepath.Join(dir, "out")})
	p := res.Manifest.Preference
	if p == nil || p.Beta != spec.Beta || p.Before.Pairs != 24 || p.After.Pairs != 24 {
		t.Fatalf("preference report: %+v", p)
	}
	b, a := p.Before, p.After
	t.Logf("before %+v", b)
	t.Logf("after  %+v", a)
	if b.DPOLoss != model.Log(2) || b.RewardMargin != 0 || b.RewardAccuracy != 0 {
		t.Fatalf("the base is its own reference: want dpo loss ln 2 and zero reward margins, got %+v", b)
	}
	if !(a.Margin > b.Margin+1) || !(a.Accuracy > b.Accuracy) || !(a.Accuracy >= 0.9) {
		t.Fatalf("held-out margin %.3f -> %.3f nats, accuracy %.3f -> %.3f: not measurably better", b.Margin, a.Margin, b.Accuracy, a.Accuracy)
	}
	if !(a.DPOLoss < b.DPOLoss) || !(a.RewardAccuracy >= 0.9) || !(a.RewardMargin > 0) {
		t.Fatalf("held-out DPO loss %.4f -> %.4f, reward accuracy %.3f", b.DPOLoss, a.DPOLoss, a.RewardAccuracy)
	}
}

// Same records, spec and seed: identical checkpoint and manifest bytes,
// with any worker count and across an interruption (full and LoRA).
func TestDPOIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	data := writeJSONL(t, dir, "prefs.jsonl", prefRecords(40, 3))
	for _, lora := range []bool{false, true} {
		spec := fineTuneSpec(t, KindDPO, data, 4)
		if lora {
			spec.LoRA = &model.AdapterConfig{Rank: 2, Alpha: 4, Targets: model.DefaultTargets}
		}
		aDir := t.TempDir()
		a := mustRun(t, spec, Options{OutDir: aDir, Workers: 1})
		b := mustRun(t, spec, Options{OutDir: t.TempDir(), Workers: 3})
		if a.Manifest.Checkpoint.SHA256 != b.Manifest.Checkpoint.SHA256 || a.ManifestSHA256 != b.ManifestSHA256 {
			t.Fatalf("lora=%v: runs differ:\n%s\n%s", lora, a.ManifestJSON, b.ManifestJSON)
		}
		out := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		opt := Options{OutDir: out, Progress: func(p Progress) {
			if p.Step == 2 {
				cancel()
			}
		}}
		if _, err := Run(ctx, spec, opt); err == nil {
			t.Fatal("cancelled run succeeded")
		}
		c := mustRun(t, spec, Options{OutDir: out, Resume: true})
		if c.ManifestSHA256 != a.ManifestSHA256 {
			t.Fatalf("lora=%v: resumed run differs", lora)
		}
		file := ModelFile
		if lora {
			file = AdapterFile
		}
		if !bytes.Equal(mustRead(t, filepath.Join(out, file)), mustRead(t, filepath.Join(aDir, file))) {
			t.Fatal("checkpoint bytes differ")
		}
	}
}

// A fine-tune evaluates itself and its parent on the parent's held-out set
// by the parent's eval_loss definition: the re-computed parent loss equals
// the parent manifest's eval_loss, for a text parent and for an SFT parent.
func TestParentHeldOutEval(t *testing.T) {
	dir := t.TempDir()
	sft := writeJSONL(t, dir, "sft.jsonl", sftRecords(32, 5))
	prefs := writeJSONL(t, dir, "prefs.jsonl", prefRecords(32, 6))
	baseMan, err := ReadManifest(filepath.Join(feedbackBase(t), ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	spec := fineTuneSpec(t, KindSFT, sft, 6)
	spec.Parent = &ParentRun{Manifest: filepath.Join(feedbackBase(t), ManifestFile)}
	sftDir := filepath.Join(dir, "sft")
	s := mustRun(t, spec, Options{OutDir: sftDir})
	pe := s.Manifest.ParentEval
	if pe == nil || pe.BaseEvalLoss != baseMan.EvalLoss || pe.EvalTokens == 0 || pe.EvalLoss == pe.BaseEvalLoss ||
		pe.ManifestSHA256 != checkpoint.Digest(mustRead(t, filepath.Join(feedbackBase(t), ManifestFile))) {
		t.Fatalf("parent eval %+v, parent manifest eval_loss %v", pe, baseMan.EvalLoss)
	}
	// HeldOutLoss of the SFT run on its own held-out set is its eval_loss.
	m, err := checkpoint.LoadModel(filepath.Join(sftDir, ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	own, _, err := HeldOutLoss(s.Manifest, nil, m.Tok, m.Params, nil, 3)
	if err != nil || own != s.Manifest.EvalLoss {
		t.Fatalf("HeldOutLoss %v, manifest eval_loss %v: %v", own, s.Manifest.EvalLoss, err)
	}
	// DPO on top of the SFT version, compared on the SFT run's held-out responses.
	d := fineTuneSpec(t, KindDPO, prefs, 4)
	d.Base = &Base{Path: filepath.Join(sftDir, ModelFile)}
	d.Parent = &ParentRun{Manifest: filepath.Join(sftDir, ManifestFile)}
	dp := mustRun(t, d, Options{OutDir: filepath.Join(dir, "dpo")}).Manifest.ParentEval
	if dp == nil || dp.BaseEvalLoss != s.Manifest.EvalLoss {
		t.Fatalf("DPO parent eval %+v, SFT eval_loss %v", dp, s.Manifest.EvalLoss)
	}
	// A parent manifest that is not the base's run is refused.
	d.Parent = &ParentRun{Manifest: filepath.Join(feedbackBase(t), ManifestFile)}
	if _, err := Run(context.Background(), d, Options{OutDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "not the base") {
		t.Fatalf("mismatched parent: %v", err)
	}
	// Parent data that is not what the parent trained on is refused.
	spec.Parent.Data = []string{sft, sft}
	if _, err := Run(context.Background(), spec, Options{OutDir: t.TempDir()}); err == nil {
		t.Fatal("wrong parent data accepted")
	}
}
