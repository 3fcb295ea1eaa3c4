package checkpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/safetensors"
	"github.com/openledger/openledger/ml/tokenizer"
)

// GPT-2 layout (Hugging Face transformers GPT2Model / GPT2LMHeadModel):
// wte.weight [V,d], wpe.weight [ctx,d], h.N.ln_1.{weight,bias},
// h.N.attn.c_attn.{weight [d,3d], bias}, h.N.attn.c_proj.{weight [d,d], bias},
// h.N.ln_2.*, h.N.mlp.c_fc.{weight [d,dff], bias}, h.N.mlp.c_proj.{weight
// [dff,d], bias}, ln_f.*; names may carry a "transformer." prefix. Conv1D
// weights are stored [in, out] and are transposed to the engine's [out, in].
// The attention mask buffers (attn.bias, attn.masked_bias) and a tied
// lm_head.weight are ignored.

type gpt2Map struct {
	engine    string
	transpose bool
}

func gpt2Names(cfg model.Config) map[string]gpt2Map {
	m := map[string]gpt2Map{
		"wte.weight": {"wte", false}, "wpe.weight": {"wpe", false},
		"ln_f.weight": {"lnf.g", false}, "ln_f.bias": {"lnf.b", false},
	}
	for i := 0; i < cfg.NLayers; i++ {
		h, e := fmt.Sprintf("h.%d.", i), fmt.Sprintf("h.%d.", i)
		m[h+"ln_1.weight"] = gpt2Map{e + "ln1.g", false}
		m[h+"ln_1.bias"] = gpt2Map{e + "ln1.b", false}
		m[h+"attn.c_attn.weight"] = gpt2Map{e + "attn.qkv.w", true}
		m[h+"attn.c_attn.bias"] = gpt2Map{e + "attn.qkv.b", false}
		m[h+"attn.c_proj.weight"] = gpt2Map{e + "attn.o.w", true}
		m[h+"attn.c_proj.bias"] = gpt2Map{e + "attn.o.b", false}
		m[h+"ln_2.weight"] = gpt2Map{e + "ln2.g", false}
		m[h+"ln_2.bias"] = gpt2Map{e + "ln2.b", false}
		m[h+"mlp.c_fc.weight"] = gpt2Map{e + "mlp.fc.w", true}
		m[h+"mlp.c_fc.bias"] = gpt2Map{e + "mlp.fc.b", false}
		m[h+"mlp.c_proj.weight"] = gpt2Map{e + "mlp.proj.w", true}
		m[h+"mlp.c_proj.bias"] = gpt2Map{e + "mlp.proj.b", false}
	}
	return m
}

// LoadGPT2 reads GPT-2-layout safetensors weights. The number of heads is
// not recorded in the weights: pass it, or 0 for d_model/64 (the GPT-2
// family's head size).
func LoadGPT2(path string, nHeads int) (*model.Params, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	p, err := ParseGPT2(b, nHeads)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// ParseGPT2 parses GPT-2-layout safetensors bytes.
func ParseGPT2(b []byte, nHeads int) (*model.Params, error) {
	f, err := safetensors.Parse(b)
	if err != nil {
		return nil, err
	}
	tensors := map[string]*safetensors.Tensor{}
	nLayers := 0
	for name, t := range f.Tensors {
		name = strings.TrimPrefix(name, "transformer.")
		if strings.HasSuffix(name, ".attn.bias") || strings.HasSuffix(name, ".attn.masked_bias") || name == "lm_head.weight" {
			continue
		}
		tensors[name] = t
		if rest, ok := strings.CutPrefix(name, "h."); ok {
			if i := strings.IndexByte(rest, '.'); i > 0 {
				n, err := strconv.Atoi(rest[:i])
				if err != nil || n < 0 || n >= model.MaxLayers {
					return nil, fmt.Errorf("checkpoint: GPT-2 tensor %q has a bad layer index", name)
				}
				nLayers = max(nLayers, n+1)
			}
		}
	}
	wte, wpe := tensors["wte.weight"], tensors["wpe.weight"]
	if wte == nil || wpe == nil || len(wte.Shape) != 2 || len(wpe.Shape) != 2 {
		return nil, fmt.Errorf("checkpoint: not a GPT-2 layout file (wte.weight and wpe.weight [n, d] are required)")
	}
	fc := tensors["h.0.mlp.c_fc.weight"]
	if fc == nil || len(fc.Shape) != 2 {
		return nil, fmt.Errorf("checkpoint: GPT-2 file lacks h.0.mlp.c_fc.weight [d, d_ff]")
	}
	d := wte.Shape[1]
	if nHeads == 0 {
		if d%64 != 0 {
			return nil, fmt.Errorf("checkpoint: d_model %d is not a multiple of 64; give the number of heads", d)
		}
		nHeads = d / 64
	}
	cfg := model.Config{VocabSize: wte.Shape[0], ContextLen: wpe.Shape[0], DModel: d, NLayers: nLayers,
		NHeads: nHeads, DFF: fc.Shape[1], Positions: model.PositionsLearned, LNEps: 1e-5}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	held := 0
	for _, t := range tensors {
		held += len(t.Data)
	}
	if held < cfg.NumParams() {
		return nil, fmt.Errorf("checkpoint: GPT-2 file holds %d values but its shapes imply %d (missing tensors?)", held, cfg.NumParams())
	}
	p := model.NewParams(cfg)
	specs := map[string]model.TensorSpec{}
	for _, s := range p.Specs() {
		specs[s.Name] = s
	}
	names := gpt2Names(cfg)
	for name, t := range tensors {
		m, ok := names[name]
		if !ok {
			return nil, fmt.Errorf("checkpoint: unknown GPT-2 tensor %q", name)
		}
		s := specs[m.engine]
		want := s.Shape
		if m.transpose {
			want = []int{s.Shape[1], s.Shape[0]}
		}
		if !sameShape(t.Shape, want) {
			return nil, fmt.Errorf("checkpoint: GPT-2 tensor %q has shape %v, want %v", name, t.Shape, want)
		}
		dst := p.Data[s.Off : s.Off+s.Len]
		if m.transpose {
			rows, cols := t.Shape[0], t.Shape[1] // [in, out]
			for i := 0; i < rows; i++ {
				for o := 0; o < cols; o++ {
					dst[o*rows+i] = t.Data[i*cols+o]
				}
			}
		} else {
			copy(dst, t.Data)
		}
		delete(names, name)
	}
	for name := range names {
		return nil, fmt.Errorf("checkpoint: GPT-2 file lacks tensor %q", name)
	}
	return p, nil
}

// MarshalGPT2 writes p in the GPT-2 layout (for export, and to test the
// loader with randomly initialised weights).
func MarshalGPT2(p *model.Params) ([]byte, error) {
	if p.Cfg.Positions != model.PositionsLearned {
		return nil, fmt.Errorf("checkpoint: the GPT-2 layout has learned positions; this model uses %q", p.Cfg.Positions)
	}
	specs := map[string]model.TensorSpec{}
	for _, s := range p.Specs() {
		specs[s.Name] = s
	}
	var out []*safetensors.Tensor
	for name, m := range gpt2Names(p.Cfg) {
		s := specs[m.engine]
		src := p.Data[s.Off : s.Off+s.Len]
		t := &safetensors.Tensor{Name: name, Shape: s.Shape, Data: src}
		if m.transpose {
			out0, in := s.Shape[0], s.Shape[1]
			data := make([]float32, len(src))
			for o := 0; o < out0; o++ {
				for i := 0; i < in; i++ {
					data[i*out0+o] = src[o*in+i]
				}
			}
			t = &safetensors.Tensor{Name: name, Shape: []int{in, out0}, Data: data}
		}
		out = append(out, t)
	}
	return safetensors.Marshal(map[string]string{"format": "pt"}, out)
}

// LoadAny loads an engine checkpoint or, failing that, GPT-2-layout weights.
// GPT-2 files carry no tokenizer: tok is used when given (its vocabulary
// must match), else the byte tokenizer when the vocabulary is 256. nHeads is
// passed to LoadGPT2.
func LoadAny(path string, tok *tokenizer.Tokenizer, nHeads int) (*Model, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return LoadModel(path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	f, err := safetensors.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.Metadata[KeyFormat] == FormatModel || f.Tensors["wte.weight"] == nil && f.Tensors["transformer.wte.weight"] == nil {
		m, err := ParseModel(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return m, nil
	}
	p, err := ParseGPT2(b, nHeads)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if tok == nil {
		if p.Cfg.VocabSize != 256 {
			return nil, fmt.Errorf("%s: GPT-2 weights with vocabulary %d need a tokenizer file of that size", path, p.Cfg.VocabSize)
		}
		tok = tokenizer.NewByte()
	}
	if tok.VocabSize() != p.Cfg.VocabSize {
		return nil, fmt.Errorf("%s: tokenizer vocabulary %d does not match the weights' %d", path, tok.VocabSize(), p.Cfg.VocabSize)
	}
	return &Model{Params: p, Tok: tok, Meta: f.Metadata, SHA256: Digest(b)}, nil
}
