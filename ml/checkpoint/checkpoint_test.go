package checkpoint

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/safetensors"
	"github.com/openledger/openledger/ml/tokenizer"
)

func tinyModel(t *testing.T) *model.Params {
	cfg := model.Config{VocabSize: 256, ContextLen: 16, DModel: 16, NLayers: 2, NHeads: 2, DFF: 32, Positions: model.PositionsLearned, LNEps: 1e-5}
	p, err := model.New(cfg, 9)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestModelRoundTrip(t *testing.T) {
	p := tinyModel(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	sum, err := SaveModel(path, p, tokenizer.NewByte())
	if err != nil {
		t.Fatal(err)
	}
	m, err := LoadModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.SHA256 != sum || m.Params.Cfg != p.Cfg || m.Tok.VocabSize() != 256 {
		t.Fatalf("loaded %+v", m.Params.Cfg)
	}
	for i := range p.Data {
		if p.Data[i] != m.Params.Data[i] {
			t.Fatalf("parameter %d changed", i)
		}
	}
	again, _ := MarshalModel(m.Params, m.Tok)
	if Digest(again) != sum {
		t.Fatal("re-saving a loaded model changed its bytes")
	}
}

func TestBadCheckpoints(t *testing.T) {
	p := tinyModel(t)
	good, err := MarshalModel(p, tokenizer.NewByte())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseModel(good[:len(good)-10]); err == nil {
		t.Error("truncated checkpoint accepted")
	}
	if _, err := MarshalModel(p, mustBPE(t)); err == nil {
		t.Error("tokenizer/model vocabulary mismatch accepted")
	}
	// Shape mismatch: a model whose config says d_ff 32 but a tensor is wider.
	f, _ := safetensors.Parse(good)
	var ts []*safetensors.Tensor
	for _, n := range f.Names() {
		ts = append(ts, f.Tensors[n])
	}
	f.Tensors["h.0.mlp.fc.b"].Shape = []int{16, 2}
	bad, _ := safetensors.Marshal(f.Metadata, ts)
	if _, err := ParseModel(bad); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("shape mismatch: %v", err)
	}
	f.Tensors["h.0.mlp.fc.b"].Shape = []int{32}
	extra := append(ts, &safetensors.Tensor{Name: "mystery", Shape: []int{1}, Data: []float32{1}})
	bad, _ = safetensors.Marshal(f.Metadata, extra)
	if _, err := ParseModel(bad); err == nil || !strings.Contains(err.Error(), "unknown tensor") {
		t.Errorf("unknown tensor: %v", err)
	}
	bad, _ = safetensors.Marshal(f.Metadata, ts[1:])
	if _, err := ParseModel(bad); err == nil || !strings.Contains(err.Error(), "missing tensor") {
		t.Errorf("missing tensor: %v", err)
	}
	if _, err := LoadModel(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("missing file accepted")
	}
}

func mustBPE(t *testing.T) *tokenizer.Tokenizer {
	tok, err := tokenizer.NewBPE([][2]int{{97, 98}})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestAdapterRoundTrip(t *testing.T) {
	p := tinyModel(t)
	a, err := model.NewAdapter(p.Cfg, model.AdapterConfig{Rank: 4, Alpha: 8, Targets: model.DefaultTargets})
	if err != nil {
		t.Fatal(err)
	}
	a.Init(3)
	a.Data[len(a.Data)-1] = 0.5
	path := filepath.Join(t.TempDir(), "a.safetensors")
	if _, err := SaveAdapter(path, a, "abc"); err != nil {
		t.Fatal(err)
	}
	af, err := LoadAdapter(path, p.Cfg)
	if err != nil {
		t.Fatal(err)
	}
	if af.BaseSHA256 != "abc" || !bytes.Equal(f32bytes(af.Adapter.Data), f32bytes(a.Data)) {
		t.Fatal("adapter round trip changed it")
	}
	other := p.Cfg
	other.DFF = 48
	if _, err := LoadAdapter(path, other); err == nil {
		t.Error("adapter accepted for a different base")
	}
	if _, err := LoadModel(path); err == nil {
		t.Error("adapter file loaded as a model")
	}
}

func f32bytes(v []float32) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, v)
	return b.Bytes()
}

// A small randomly initialised model written in the Hugging Face GPT-2
// layout loads back to the same weights and the same logits.
func TestGPT2Layout(t *testing.T) {
	p := tinyModel(t)
	b, err := MarshalGPT2(p)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := safetensors.Parse(b)
	if tt := f.Tensors["h.1.attn.c_attn.weight"]; tt == nil || tt.Shape[0] != 16 || tt.Shape[1] != 48 {
		t.Fatalf("c_attn.weight not in Conv1D [in, out] layout: %+v", tt)
	}
	// Add the buffers and prefix real GPT-2 files carry.
	var ts []*safetensors.Tensor
	for _, n := range f.Names() {
		tt := f.Tensors[n]
		tt.Name = "transformer." + n
		ts = append(ts, tt)
	}
	ts = append(ts, &safetensors.Tensor{Name: "transformer.h.0.attn.bias", Shape: []int{1, 1, 2, 2}, Data: []float32{1, 0, 1, 1}})
	b, _ = safetensors.Marshal(map[string]string{"format": "pt"}, ts)
	path := filepath.Join(t.TempDir(), "gpt2.safetensors")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	q, err := LoadGPT2(path, 2)
	if err != nil {
		t.Fatal(err)
	}
	if q.Cfg != p.Cfg {
		t.Fatalf("config %+v, want %+v", q.Cfg, p.Cfg)
	}
	for i := range p.Data {
		if p.Data[i] != q.Data[i] {
			t.Fatalf("parameter %d differs after the GPT-2 round trip", i)
		}
	}
	l1, l2 := make([]float32, 256), make([]float32, 256)
	if err := model.Forward(p, nil, model.NewCache(p.Cfg, 0), []int{72, 105}, l1); err != nil {
		t.Fatal(err)
	}
	if err := model.Forward(q, nil, model.NewCache(q.Cfg, 0), []int{72, 105}, l2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f32bytes(l1), f32bytes(l2)) {
		t.Fatal("logits differ")
	}
	m, err := LoadAny(path, nil, 2)
	if err != nil || m.Params.Cfg != p.Cfg || m.Tok.VocabSize() != 256 {
		t.Fatalf("LoadAny of GPT-2 weights: %v", err)
	}
	if _, err := LoadAny(path, mustBPE(t), 2); err == nil {
		t.Error("LoadAny accepted a tokenizer of the wrong size")
	}
	ts = append(ts, &safetensors.Tensor{Name: "h.0.attn.rotary", Shape: []int{1}, Data: []float32{0}})
	b, _ = safetensors.Marshal(nil, ts)
	if _, err := ParseGPT2(b, 2); err == nil || !strings.Contains(err.Error(), "unknown GPT-2 tensor") {
		t.Errorf("unknown GPT-2 tensor: %v", err)
	}
	if _, err := ParseGPT2(b, 0); err == nil {
		t.Error("d_model 16 with default heads accepted")
	}
}

func TestRotaryCheckpoint(t *testing.T) {
	cfg := model.Config{VocabSize: 256, ContextLen: 16, DModel: 16, NLayers: 1, NHeads: 2, DFF: 32, Positions: model.PositionsRotary, LNEps: 1e-5}
	p, err := model.New(cfg, 4)
	if err != nil {
		t.Fatal(err)
	}
	if p.Tensor("wpe") != nil {
		t.Fatal("rotary model has a position embedding")
	}
	b, err := MarshalModel(p, tokenizer.NewByte())
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseModel(b)
	if err != nil || m.Params.Cfg != cfg {
		t.Fatalf("rotary round trip: %v", err)
	}
	if _, err := MarshalGPT2(p); err == nil {
		t.Fatal("rotary model exported in the GPT-2 layout")
	}
}
