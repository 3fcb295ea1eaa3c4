// Package checkpoint saves and loads models and LoRA adapters as safetensors
// files with a JSON metadata header, and loads weights written in the
// Hugging Face GPT-2 layout.
//
// A model file holds every parameter tensor under the engine's names
// (model.Params.Specs) plus metadata: format, engine name and version, the
// model config and the tokenizer (both canonical JSON). An adapter file holds
// only the LoRA tensors plus its own config, the base config and, when known,
// the sha256 of the base checkpoint. Files are written deterministically:
// equal weights give equal bytes.
package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/safetensors"
	"github.com/openledger/openledger/ml/tokenizer"

	"github.com/openledger/openledger/internal/atomicfile"
)

// Engine identity recorded in checkpoints and manifests. EngineVersion is
// bumped whenever a change alters any numeric result.
const (
	EngineName    = "openledger-ml"
	EngineVersion = "1"

	FormatModel   = "openledger-ml-model/1"
	FormatAdapter = "openledger-ml-lora/1"
)

// Metadata keys.
const (
	KeyFormat        = "format"
	KeyEngine        = "engine"
	KeyEngineVersion = "engine_version"
	KeyConfig        = "config"
	KeyTokenizer     = "tokenizer"
	KeyAdapter       = "adapter"
	KeyBaseConfig    = "base_config"
	KeyBaseSHA256    = "base_sha256"
)

// Model is a loaded model: parameters, tokenizer and file identity.
type Model struct {
	Params *model.Params
	Tok    *tokenizer.Tokenizer
	Meta   map[string]string
	// SHA256 is the hex digest of the checkpoint file's bytes ("" if the
	// model was not loaded from a file).
	SHA256 string
}

// Digest returns the hex sha256 of b.
func Digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// MarshalModel returns the checkpoint bytes of p with tokenizer tok.
func MarshalModel(p *model.Params, tok *tokenizer.Tokenizer) ([]byte, error) {
	if tok.VocabSize() != p.Cfg.VocabSize {
		return nil, fmt.Errorf("checkpoint: tokenizer vocabulary %d does not match the model's %d", tok.VocabSize(), p.Cfg.VocabSize)
	}
	cfg, _ := json.Marshal(p.Cfg)
	tj, _ := tok.MarshalJSON()
	meta := map[string]string{
		KeyFormat: FormatModel, KeyEngine: EngineName, KeyEngineVersion: EngineVersion,
		KeyConfig: string(cfg), KeyTokenizer: string(tj),
	}
	return safetensors.Marshal(meta, tensorsOf(p.Data, p.Specs()))
}

func tensorsOf(data []float32, specs []model.TensorSpec) []*safetensors.Tensor {
	out := make([]*safetensors.Tensor, len(specs))
	for i, s := range specs {
		out[i] = &safetensors.Tensor{Name: s.Name, Shape: s.Shape, Data: data[s.Off : s.Off+s.Len]}
	}
	return out
}

// SaveModel writes the checkpoint atomically and returns its sha256.
func SaveModel(path string, p *model.Params, tok *tokenizer.Tokenizer) (string, error) {
	b, err := MarshalModel(p, tok)
	if err != nil {
		return "", err
	}
	return Digest(b), WriteFileAtomic(path, b)
}

// WriteFileAtomic writes b crash-safely beside path (mode 0600); see internal/atomicfile.
func WriteFileAtomic(path string, b []byte) error {
	return atomicfile.Write(path, b, 0o600)
}

// LoadModel reads a model checkpoint. A directory is accepted and means
// DIR/model.safetensors.
func LoadModel(path string) (*Model, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "model.safetensors")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	m, err := ParseModel(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// ParseModel parses model checkpoint bytes.
func ParseModel(b []byte) (*Model, error) {
	f, err := safetensors.Parse(b)
	if err != nil {
		return nil, err
	}
	if got := f.Metadata[KeyFormat]; got != FormatModel {
		return nil, fmt.Errorf("checkpoint: format %q is not %q (a LoRA adapter or a GPT-2 file? use the adapter or GPT-2 loader)", got, FormatModel)
	}
	if v := f.Metadata[KeyEngineVersion]; v != EngineVersion {
		return nil, fmt.Errorf("checkpoint: written by engine version %q, this engine is version %q", v, EngineVersion)
	}
	cfg, err := model.ParseConfig([]byte(f.Metadata[KeyConfig]))
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.Parse([]byte(f.Metadata[KeyTokenizer]))
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if tok.VocabSize() != cfg.VocabSize {
		return nil, fmt.Errorf("checkpoint: tokenizer vocabulary %d does not match the config's %d", tok.VocabSize(), cfg.VocabSize)
	}
	if got := totalElems(f); got < cfg.NumParams() {
		return nil, fmt.Errorf("checkpoint: file holds %d values but the config needs %d (missing tensors?)", got, cfg.NumParams())
	}
	p := model.NewParams(cfg)
	if err := fill(f, p.Data, p.Specs()); err != nil {
		return nil, err
	}
	return &Model{Params: p, Tok: tok, Meta: f.Metadata, SHA256: Digest(b)}, nil
}

// totalElems counts the values in the file (bounded by its size), checked
// before allocating for a config so a forged config cannot force a huge
// allocation.
func totalElems(f *safetensors.File) int {
	n := 0
	for _, t := range f.Tensors {
		n += len(t.Data)
	}
	return n
}

// fill copies the file's tensors into data, requiring exactly the names and
// shapes of specs.
func fill(f *safetensors.File, data []float32, specs []model.TensorSpec) error {
	want := map[string]bool{}
	for _, s := range specs {
		want[s.Name] = true
		t, ok := f.Tensors[s.Name]
		if !ok {
			return fmt.Errorf("checkpoint: missing tensor %q", s.Name)
		}
		if !sameShape(t.Shape, s.Shape) {
			return fmt.Errorf("checkpoint: tensor %q has shape %v, the config needs %v", s.Name, t.Shape, s.Shape)
		}
		copy(data[s.Off:s.Off+s.Len], t.Data)
	}
	for _, name := range f.Names() {
		if !want[name] {
			return fmt.Errorf("checkpoint: unknown tensor %q", name)
		}
	}
	return nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// MarshalAdapter returns the adapter file bytes; baseSHA256 may be empty.
func MarshalAdapter(a *model.Adapter, baseSHA256 string) ([]byte, error) {
	ac, _ := json.Marshal(a.Cfg)
	bc, _ := json.Marshal(a.Base)
	meta := map[string]string{
		KeyFormat: FormatAdapter, KeyEngine: EngineName, KeyEngineVersion: EngineVersion,
		KeyAdapter: string(ac), KeyBaseConfig: string(bc),
	}
	if baseSHA256 != "" {
		meta[KeyBaseSHA256] = baseSHA256
	}
	return safetensors.Marshal(meta, tensorsOf(a.Data, a.Specs()))
}

// SaveAdapter writes an adapter file atomically and returns its sha256.
func SaveAdapter(path string, a *model.Adapter, baseSHA256 string) (string, error) {
	b, err := MarshalAdapter(a, baseSHA256)
	if err != nil {
		return "", err
	}
	return Digest(b), WriteFileAtomic(path, b)
}

// AdapterFile is a loaded adapter with its file identity.
type AdapterFile struct {
	Adapter    *model.Adapter
	BaseSHA256 string
	SHA256     string
}

// LoadAdapter reads an adapter file and checks it fits base.
func LoadAdapter(path string, base model.Config) (*AdapterFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	a, err := ParseAdapter(b, base)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// ParseAdapter parses adapter file bytes and checks they fit base.
func ParseAdapter(b []byte, base model.Config) (*AdapterFile, error) {
	f, err := safetensors.Parse(b)
	if err != nil {
		return nil, err
	}
	if got := f.Metadata[KeyFormat]; got != FormatAdapter {
		return nil, fmt.Errorf("checkpoint: format %q is not a LoRA adapter (%q)", got, FormatAdapter)
	}
	if v := f.Metadata[KeyEngineVersion]; v != EngineVersion {
		return nil, fmt.Errorf("checkpoint: adapter written by engine version %q, this engine is version %q", v, EngineVersion)
	}
	bc, err := model.ParseConfig([]byte(f.Metadata[KeyBaseConfig]))
	if err != nil {
		return nil, err
	}
	if bc != base {
		return nil, fmt.Errorf("checkpoint: adapter was trained for base config %s, not this model's", f.Metadata[KeyBaseConfig])
	}
	var ac model.AdapterConfig
	dec := json.NewDecoder(bytes.NewReader([]byte(f.Metadata[KeyAdapter])))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ac); err != nil {
		return nil, fmt.Errorf("checkpoint: adapter config: %w", err)
	}
	if err := ac.Validate(base); err != nil {
		return nil, err
	}
	a, err := model.NewAdapter(base, ac)
	if err != nil {
		return nil, err
	}
	if err := fill(f, a.Data, a.Specs()); err != nil {
		return nil, err
	}
	return &AdapterFile{Adapter: a, BaseSHA256: f.Metadata[KeyBaseSHA256], SHA256: Digest(b)}, nil
}
