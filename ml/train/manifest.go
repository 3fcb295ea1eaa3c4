package train

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/model"
)

// Engine identifies the engine that produced a run.
type Engine struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// TokenizerInfo records the tokenizer of a run.
type TokenizerInfo struct {
	Kind      string `json:"kind"`
	VocabSize int    `json:"vocab_size"`
	SHA256    string `json:"sha256"`
}

// Artifact is a file a run produced.
type Artifact struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
}

// Manifest records a training run completely enough to re-run it. Its
// canonical form is the compact JSON encoding of this struct (fields in
// declaration order, no HTML escaping); ManifestFile holds exactly those
// bytes, so the file's sha256 is the manifest digest.
type Manifest struct {
	Engine         Engine               `json:"engine"`
	Inputs         []Input              `json:"inputs"`
	Tokenizer      TokenizerInfo        `json:"tokenizer"`
	TokenizerSpec  TokenizerSpec        `json:"tokenizer_spec"`
	Config         model.Config         `json:"config"`
	Base           *Base                `json:"base,omitempty"`
	LoRA           *model.AdapterConfig `json:"lora,omitempty"`
	Kind           string               `json:"kind,omitempty"`
	Beta           float64              `json:"beta,omitempty"`
	Hyper          Hyper                `json:"hyper"`
	Seed           uint64               `json:"seed"`
	TrainTokens    int                  `json:"train_tokens"`
	EvalTokens     int                  `json:"eval_tokens"`
	TokensSeen     int64                `json:"tokens_seen"`
	FinalLoss      float64              `json:"final_loss"`
	EvalLoss       float64              `json:"eval_loss"`
	EvalPerplexity float64              `json:"eval_perplexity"`
	// SFT and DPO runs: records trained on and held out, and how many were
	// truncated to the sequence length.
	TrainRecords     int               `json:"train_records,omitempty"`
	EvalRecords      int               `json:"eval_records,omitempty"`
	TruncatedRecords int               `json:"truncated_records,omitempty"`
	SkippedRecords   int               `json:"skipped_records,omitempty"` // records of the other kind in the inputs
	Preference       *PreferenceReport `json:"preference,omitempty"`
	ParentEval       *ParentEval       `json:"parent_eval,omitempty"`
	Checkpoint       Artifact          `json:"checkpoint"`
}

// Canonical returns the canonical JSON bytes and their hex sha256.
func (m *Manifest) Canonical() ([]byte, string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, "", fmt.Errorf("train: manifest: %w", err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	s := sha256.Sum256(b)
	return b, hex.EncodeToString(s[:]), nil
}

// Spec returns the training spec the manifest records.
func (m *Manifest) Spec() Spec {
	in := make([]Input, len(m.Inputs))
	copy(in, m.Inputs)
	s := Spec{Inputs: in, Tokenizer: m.TokenizerSpec, Model: m.Config, Base: m.Base, LoRA: m.LoRA, Hyper: m.Hyper, Seed: m.Seed, Kind: m.Kind, Beta: m.Beta}
	return s
}

// ReadManifest parses a manifest file.
func ReadManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("train: manifest %s: %w", path, err)
	}
	if m.Engine.Name != checkpoint.EngineName {
		return nil, fmt.Errorf("train: manifest %s was written by engine %q, not %q", path, m.Engine.Name, checkpoint.EngineName)
	}
	return &m, nil
}

func (r *run) manifest(evalLoss float64, art Artifact) *Manifest {
	final := 0.0
	if len(r.losses) > 0 {
		final = r.losses[len(r.losses)-1]
	}
	tspec := r.spec.Tokenizer
	if tspec.Kind == TokenizerFile {
		tspec.SHA256 = r.tok.Digest()
	}
	if r.spec.Base != nil {
		tspec = TokenizerSpec{}
	}
	cfg := r.params.Cfg
	var base *Base
	if r.spec.Base != nil {
		base = &Base{Path: r.spec.Base.Path, SHA256: r.baseSHA}
	}
	return &Manifest{
		Engine:           Engine{Name: checkpoint.EngineName, Version: checkpoint.EngineVersion},
		Inputs:           r.inputs,
		Tokenizer:        TokenizerInfo{Kind: r.tok.Kind(), VocabSize: r.tok.VocabSize(), SHA256: r.tok.Digest()},
		TokenizerSpec:    tspec,
		Config:           cfg,
		Base:             base,
		LoRA:             r.spec.LoRA,
		Kind:             r.spec.Kind,
		Beta:             r.spec.Beta,
		Hyper:            r.spec.Hyper,
		Seed:             r.spec.Seed,
		TrainTokens:      len(r.trainToks),
		EvalTokens:       len(r.evalToks),
		TokensSeen:       r.seen,
		FinalLoss:        final,
		EvalLoss:         evalLoss,
		EvalPerplexity:   model.Exp(evalLoss),
		TrainRecords:     len(r.trainRecs),
		EvalRecords:      len(r.evalRecs),
		TruncatedRecords: r.truncated,
		SkippedRecords:   r.skipped,
		Checkpoint:       art,
	}
}
