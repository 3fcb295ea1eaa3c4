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
	require.Equal(t, types.VERSION_KIND_PRETRAIN, cli.KindOf(&train.Manifest{}))
	require.Equal(t, types.VERSION_KIND_SFT, cli.KindOf(&train.Manifest{Base: &train.Base{Path: "b"}}))
	require.Equal(t, uint64(2_345_679), cli.EvalLossMicro(2.3456789))
	require.Equal(t, uint64(0), cli.EvalLossMicro(-1))
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
