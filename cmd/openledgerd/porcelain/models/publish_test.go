package models_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	cli "github.com/openledger/openledger/cmd/openledgerd/porcelain/models"
	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/train"
	"github.com/openledger/openledger/x/models/types"
)

func TestParseKind(t *testing.T) {
	for in, want := range map[string]types.VersionKind{
		"pretrain": types.VERSION_KIND_PRETRAIN, "SFT": types.VERSION_KIND_SFT, "lora": types.VERSION_KIND_LORA,
		"dpo": types.VERSION_KIND_DPO, "VERSION_KIND_RLHF": types.VERSION_KIND_RLHF,
	} {
		got, err := cli.ParseKind(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "unspecified", "ppo"} {
		_, err := cli.ParseKind(bad)
		require.Error(t, err, bad)
	}
}

func TestKindOfAndLoss(t *testing.T) {
	base := &train.Base{Path: "b", SHA256: "ab"}
	adapter := &model.AdapterConfig{Rank: 4, Alpha: 8}
	for _, c := range []struct {
		name string
		m    train.Manifest
		want types.VersionKind
	}{
		{"text from scratch", train.Manifest{}, types.VERSION_KIND_PRETRAIN},
		{"text on a base", train.Manifest{Base: base}, types.VERSION_KIND_SFT},
		{"sft", train.Manifest{Base: base, Kind: train.KindSFT}, types.VERSION_KIND_SFT},
		{"dpo, full weights", train.Manifest{Base: base, Kind: train.KindDPO}, types.VERSION_KIND_DPO},
		{"dpo adapter", train.Manifest{Base: base, Kind: train.KindDPO, LoRA: adapter}, types.VERSION_KIND_LORA},
		{"sft adapter", train.Manifest{Base: base, Kind: train.KindSFT, LoRA: adapter}, types.VERSION_KIND_LORA},
		{"text adapter", train.Manifest{Base: base, LoRA: adapter}, types.VERSION_KIND_LORA},
	} {
		require.Equal(t, c.want, cli.KindOf(&c.m), c.name)
	}
	require.Equal(t, uint64(2_345_679), cli.EvalLossMicro(2.3456789))
	require.Equal(t, uint64(0), cli.EvalLossMicro(-1))
}

// TestMetricsOf checks the manifest → chain Metrics mapping of ml/README.md:
// × 10^6 and × 10^4, rounded to the nearest integer (halves away from zero).
func TestMetricsOf(t *testing.T) {
	m := train.Manifest{
		EvalLoss: 2.8, TokensSeen: 1234, Kind: train.KindDPO, Base: &train.Base{Path: "b", SHA256: "ab"},
		ParentEval: &train.ParentEval{BaseEvalLoss: 2.7970004, EvalLoss: 2.7999995},
		Preference: &train.PreferenceReport{Before: train.PreferenceEval{Accuracy: 0.5}, After: train.PreferenceEval{Accuracy: 0.87654}},
	}
	got := cli.MetricsOf(&m)
	require.Equal(t, uint64(2_800_000), got.EvalLossMicro)
	require.Equal(t, uint64(2_800_000), got.ParentEvalLossMicro) // 2799999.5 rounds up
	require.Equal(t, uint32(8765), got.PreferenceAccuracyBps)    // 8765.4 rounds down
	require.Equal(t, uint64(1234), got.TokensTrained)

	m.ParentEval.EvalLoss, m.Preference.After.Accuracy = 3.0770004, 0.99995
	got = cli.MetricsOf(&m)
	require.Equal(t, uint64(3_077_000), got.ParentEvalLossMicro)
	require.Equal(t, uint32(10_000), got.PreferenceAccuracyBps) // 9999.5 rounds up, at most 10,000

	// No parent evaluation or preference report: the chain reads 0 as "not reported".
	m.ParentEval, m.Preference = nil, nil
	got = cli.MetricsOf(&m)
	require.Zero(t, got.ParentEvalLossMicro)
	require.Zero(t, got.PreferenceAccuracyBps)

	for in, want := range map[float64]uint32{0: 0, -0.5: 0, 1: 10_000, 1.5: 10_000, 0.00005: 1, 0.00004: 0} {
		require.Equal(t, want, cli.AccuracyBps(in), in)
	}
}

// TestLoadRun trains a real tiny run with the ml engine and checks that LoadRun
// accepts it and refuses an edited manifest or a swapped checkpoint.
func TestLoadRun(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny model")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "d.txt")
	require.NoError(t, os.WriteFile(data, []byte(strings.Repeat("A stitch in time saves nine.\n", 8)), 0o600))
	out := filepath.Join(dir, "run")
	spec := train.Spec{Inputs: []train.Input{{Path: data}}, Tokenizer: train.TokenizerSpec{Kind: "byte", VocabSize: 256}, Seed: 1}
	spec.Hyper = train.DefaultHyper()
	spec.Hyper.Steps, spec.Hyper.BatchSize, spec.Hyper.SeqLen, spec.Hyper.WarmupSteps = 2, 2, 16, 1
	cfg, err := model.Preset("tiny", 256)
	require.NoError(t, err)
	spec.Model = cfg
	_, err = train.Run(t.Context(), spec, train.Options{OutDir: out, Workers: 1})
	require.NoError(t, err)

	manifest := filepath.Join(out, train.ManifestFile)
	m, raw, digest, ckpt, err := cli.LoadRun(manifest)
	require.NoError(t, err)
	require.Len(t, digest, 64)
	require.Equal(t, filepath.Join(out, train.ModelFile), ckpt)
	require.NotEmpty(t, raw)
	require.Positive(t, m.Checkpoint.Bytes)

	// An edited manifest is not canonical any more.
	require.NoError(t, os.WriteFile(manifest, append(raw, '\n'), 0o600))
	_, _, _, _, err = cli.LoadRun(manifest)
	require.ErrorContains(t, err, "canonical")
	require.NoError(t, os.WriteFile(manifest, raw, 0o600))

	// A checkpoint that is not the one the manifest records is refused.
	require.NoError(t, os.WriteFile(ckpt, []byte("not the weights"), 0o600))
	_, _, _, _, err = cli.LoadRun(manifest)
	require.ErrorContains(t, err, "manifest says")
}
