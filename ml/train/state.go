package train

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/safetensors"
)

// The trainer state holds the trainable vector, the AdamW moments and the
// step, so a run resumed from it continues bit-for-bit as if it had not
// stopped.

const stateFormat = "openledger-ml-trainer-state/1"

// specDigest identifies what a run computes, independent of file paths.
func (r *run) specDigest() string {
	type in struct {
		SHA256 string `json:"sha256"`
		CID    string `json:"cid,omitempty"`
	}
	ins := make([]in, len(r.inputs))
	for i, x := range r.inputs {
		ins[i] = in{x.SHA256, x.CID}
	}
	b, _ := json.Marshal(struct {
		Inputs    []in                 `json:"inputs"`
		Tokenizer string               `json:"tokenizer"`
		Config    model.Config         `json:"config"`
		Base      string               `json:"base"`
		LoRA      *model.AdapterConfig `json:"lora"`
		Hyper     Hyper                `json:"hyper"`
		Seed      uint64               `json:"seed"`
		Engine    string               `json:"engine"`
		Kind      string               `json:"kind,omitempty"`
		Beta      float64              `json:"beta,omitempty"`
	}{ins, r.tok.Digest(), r.params.Cfg, r.baseSHA, r.spec.LoRA, r.spec.Hyper, r.spec.Seed, checkpoint.EngineVersion, r.spec.Kind, r.spec.Beta})
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func (r *run) saveState(step int) error {
	losses, _ := json.Marshal(r.losses)
	meta := map[string]string{
		"format":      stateFormat,
		"step":        strconv.Itoa(step),
		"adam_step":   strconv.Itoa(r.adam.step),
		"tokens_seen": strconv.FormatInt(r.seen, 10),
		"spec_sha256": r.specDigest(),
		"losses":      string(losses),
	}
	n := len(r.theta)
	b, err := safetensors.Marshal(meta, []*safetensors.Tensor{
		{Name: "theta", Shape: []int{n}, Data: r.theta},
		{Name: "adam.m", Shape: []int{n}, Data: r.adam.m},
		{Name: "adam.v", Shape: []int{n}, Data: r.adam.v},
	})
	if err != nil {
		return err
	}
	return checkpoint.WriteFileAtomic(filepath.Join(r.opt.OutDir, StateFile), b)
}

func (r *run) loadState() (int, error) {
	path := filepath.Join(r.opt.OutDir, StateFile)
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("train: resume: %w", err)
	}
	if f.Metadata["format"] != stateFormat {
		return 0, fmt.Errorf("train: resume: %s is not a trainer state", path)
	}
	if f.Metadata["spec_sha256"] != r.specDigest() {
		return 0, fmt.Errorf("train: resume: %s belongs to a different run (data, config, hyper-parameters or seed differ)", path)
	}
	step, err1 := strconv.Atoi(f.Metadata["step"])
	astep, err2 := strconv.Atoi(f.Metadata["adam_step"])
	seen, err3 := strconv.ParseInt(f.Metadata["tokens_seen"], 10, 64)
	var losses []float64
	err4 := json.Unmarshal([]byte(f.Metadata["losses"]), &losses)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || step < 0 || step > r.spec.Hyper.Steps || len(losses) != step {
		return 0, fmt.Errorf("train: resume: %s has corrupt step metadata", path)
	}
	n := len(r.theta)
	for name, dst := range map[string][]float32{"theta": r.theta, "adam.m": r.adam.m, "adam.v": r.adam.v} {
		t := f.Tensors[name]
		if t == nil || len(t.Data) != n {
			return 0, fmt.Errorf("train: resume: %s: tensor %q missing or of the wrong size", path, name)
		}
		copy(dst, t.Data)
	}
	r.adam.step, r.seen, r.losses = astep, seen, losses
	return step, nil
}
