package influence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/lora"
	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/tokenizer"
)

// Sketch file format (version 1, little-endian):
//
//	magic "OLSKETCH", u32 version, u32 header size (160 + (40 + 4*dim) per checkpoint)
//	u64 datanet id, u64 dataset version
//	[32] base model sha256, [32] tokenizer digest
//	u32 sketch dim, u32 seq len, u64 seed
//	u32 checkpoints, u32 contributions, u32 examples, u32 stride
//	per checkpoint: [32] adapter sha256, u64 weight, int32[dim] mean unit sketch (scale 2^30)
//	per contribution: u64 id, u32 first example, u32 examples        (16 bytes)
//	per example: u32 shared-by (d), u32 zero, then int16[dim] per checkpoint
//	[32] sha256 of everything before it
const (
	sketchMagic   = "OLSKETCH"
	sketchVersion = 1
	fixedHeader   = 160
)

// ErrCorrupt is wrapped by every error about a malformed sketch file.
var ErrCorrupt = errors.New("influence: corrupt sketch file")

// CheckpointRef is a checkpoint as the sketch file records it.
type CheckpointRef struct {
	AdapterSHA256 string
	Weight        uint64
}

// Sketches is a decoded sketch file.
type Sketches struct {
	DatanetID, Version uint64
	BaseSHA256         string
	TokenizerDigest    string
	Params             Params
	Checkpoints        []CheckpointRef
	ContribIDs         []uint64
	contribFirst       []uint32
	contribCount       []uint32
	shared             []uint32  // per example
	mu                 [][]int32 // [checkpoint] -> mean unit sketch
	sk                 [][]int16 // [checkpoint] -> examples*dim
}

// NumExamples returns the number of stored examples.
func (s *Sketches) NumExamples() int { return len(s.shared) }

// Checkpoint is a loaded LoRA checkpoint with its weight.
type Checkpoint struct {
	Adapter *model.Adapter
	SHA256  string // of the adapter file
	Weight  uint64 // e.g. the learning rate at that step in micro-units; in [1, 65536]
}

// LoadCheckpoint loads an adapter file for base with a weight.
func LoadCheckpoint(path string, base *checkpoint.Model, weight uint64) (Checkpoint, error) {
	af, err := checkpoint.LoadAdapter(path, base.Params.Cfg)
	if err != nil {
		return Checkpoint{}, err
	}
	if af.BaseSHA256 != "" && base.SHA256 != "" && af.BaseSHA256 != base.SHA256 {
		return Checkpoint{}, fmt.Errorf("influence: adapter %s was trained on base %s, not %s", path, af.BaseSHA256, base.SHA256)
	}
	return Checkpoint{Adapter: af.Adapter, SHA256: af.SHA256, Weight: weight}, nil
}

// Contribution is one contribution's training data.
type Contribution struct {
	ID   uint64
	Data []byte
}

// BuildInput is everything a sketch file is computed from.
type BuildInput struct {
	DatanetID, Version uint64
	Base               *checkpoint.Model
	Checkpoints        []Checkpoint
	Contributions      []Contribution // version order
	Params             Params
	Workers            int
	Progress           func(done, total int)
}

func checkCheckpoints(cks []Checkpoint) error {
	if len(cks) == 0 || len(cks) > MaxCheckpoint {
		return fmt.Errorf("influence: %d checkpoints, want 1..%d", len(cks), MaxCheckpoint)
	}
	for i, c := range cks {
		if c.Adapter == nil {
			return fmt.Errorf("influence: checkpoint %d has no adapter", i)
		}
		if c.Weight < 1 || c.Weight > MaxWeight {
			return fmt.Errorf("influence: checkpoint %d weight %d out of range [1, %d]", i, c.Weight, MaxWeight)
		}
		if len(c.Adapter.Data) != len(cks[0].Adapter.Data) {
			return errors.New("influence: checkpoints have different adapter shapes")
		}
	}
	return nil
}

// Build computes the sketch file bytes.
func Build(ctx context.Context, in BuildInput) ([]byte, error) {
	if in.Base == nil {
		return nil, errors.New("influence: no base model")
	}
	cfg := in.Base.Params.Cfg
	if err := in.Params.Validate(cfg); err != nil {
		return nil, err
	}
	if err := checkCheckpoints(in.Checkpoints); err != nil {
		return nil, err
	}
	if len(in.Contributions) == 0 {
		return nil, errors.New("influence: no contributions")
	}
	tok := in.Base.Tok
	// Examples: distinct windows per contribution; shared counts across.
	type ex struct {
		tokens []int
		key    [32]byte
	}
	var exs []ex
	first := make([]uint32, len(in.Contributions))
	count := make([]uint32, len(in.Contributions))
	seenID := map[uint64]bool{}
	for ci, c := range in.Contributions {
		if seenID[c.ID] {
			return nil, fmt.Errorf("influence: contribution id %d listed twice", c.ID)
		}
		seenID[c.ID] = true
		first[ci] = uint32(len(exs))
		seen := map[[32]byte]bool{}
		for _, w := range windows(tok.Encode(c.Data), in.Params.SeqLen, in.Params.Stride) {
			k := windowKey(w)
			if seen[k] {
				continue
			}
			seen[k] = true
			exs = append(exs, ex{tokens: w, key: k})
		}
		count[ci] = uint32(len(exs)) - first[ci]
	}
	shares := map[[32]byte]uint32{}
	for _, e := range exs {
		shares[e.key]++
	}
	examples := make([][]int, len(exs))
	for i, e := range exs {
		examples[i] = e.tokens
	}
	proj := newProjector(len(in.Checkpoints[0].Adapter.Data), in.Params.SketchDim, in.Params.Seed)
	sks := make([][]int16, len(in.Checkpoints))
	mus := make([][]int32, len(in.Checkpoints))
	done, total := 0, len(exs)*len(in.Checkpoints)
	const batch = 64
	for k, ck := range in.Checkpoints {
		units := make([][]float64, 0, len(exs))
		for b := 0; b < len(examples); b += batch {
			grads, err := lora.PerExampleGradients(ctx, in.Base.Params, ck.Adapter, examples[b:min(b+batch, len(examples))], in.Workers)
			if err != nil {
				return nil, err
			}
			for _, g := range grads {
				units = append(units, proj.raw(g.Grad))
			}
			done += len(grads)
			if in.Progress != nil {
				in.Progress(done, total)
			}
		}
		// The mean runs over distinct windows, so duplicating data does not
		// move it.
		distinct := make([][]float64, 0, len(units))
		seenKey := map[[32]byte]bool{}
		for i, u := range units {
			if !seenKey[exs[i].key] {
				seenKey[exs[i].key] = true
				distinct = append(distinct, u)
			}
		}
		mus[k] = quantMean(distinct, in.Params.SketchDim)
		sks[k] = make([]int16, 0, len(exs)*in.Params.SketchDim)
		for _, u := range units {
			sks[k] = append(sks[k], center(u, mus[k])...)
		}
	}
	// Encode.
	le := binary.LittleEndian
	var buf bytes.Buffer
	h := make([]byte, fixedHeader)
	copy(h, sketchMagic)
	le.PutUint32(h[8:], sketchVersion)
	le.PutUint32(h[12:], uint32(fixedHeader+(40+4*in.Params.SketchDim)*len(in.Checkpoints)))
	le.PutUint64(h[16:], in.DatanetID)
	le.PutUint64(h[24:], in.Version)
	if err := putHex(h[32:64], in.Base.SHA256); err != nil {
		return nil, fmt.Errorf("influence: base model sha256: %w", err)
	}
	if err := putHex(h[64:96], tok.Digest()); err != nil {
		return nil, err
	}
	le.PutUint32(h[96:], uint32(in.Params.SketchDim))
	le.PutUint32(h[100:], uint32(in.Params.SeqLen))
	le.PutUint64(h[104:], in.Params.Seed)
	le.PutUint32(h[112:], uint32(len(in.Checkpoints)))
	le.PutUint32(h[116:], uint32(len(in.Contributions)))
	le.PutUint32(h[120:], uint32(len(exs)))
	le.PutUint32(h[124:], uint32(in.Params.Stride))
	buf.Write(h)
	for k, c := range in.Checkpoints {
		var d [32]byte
		if err := putHex(d[:], c.SHA256); err != nil {
			return nil, fmt.Errorf("influence: checkpoint sha256: %w", err)
		}
		buf.Write(d[:])
		b := le.AppendUint64(nil, c.Weight)
		for _, v := range mus[k] {
			b = le.AppendUint32(b, uint32(v))
		}
		buf.Write(b)
	}
	for ci, c := range in.Contributions {
		b := le.AppendUint64(nil, c.ID)
		b = le.AppendUint32(b, first[ci])
		b = le.AppendUint32(b, count[ci])
		buf.Write(b)
	}
	dim := in.Params.SketchDim
	for i, e := range exs {
		b := le.AppendUint32(nil, shares[e.key])
		b = le.AppendUint32(b, 0)
		for k := range sks {
			for _, v := range sks[k][i*dim : (i+1)*dim] {
				b = le.AppendUint16(b, uint16(v))
			}
		}
		buf.Write(b)
	}
	sum := sha256.Sum256(buf.Bytes())
	buf.Write(sum[:])
	return buf.Bytes(), nil
}

func putHex(dst []byte, s string) error {
	if s == "" {
		return nil
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(dst) {
		return fmt.Errorf("want %d hex bytes, got %q", len(dst), s)
	}
	copy(dst, b)
	return nil
}

// Open reads and validates a sketch file.
func Open(path string) (*Sketches, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("influence: %w", err)
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// Parse decodes and validates sketch file bytes.
func Parse(b []byte) (*Sketches, error) {
	le := binary.LittleEndian
	if len(b) < fixedHeader+32 {
		return nil, corruptf("%d bytes, shorter than the header (truncated?)", len(b))
	}
	if string(b[:8]) != sketchMagic {
		return nil, corruptf("bad magic (not a sketch file)")
	}
	if v := le.Uint32(b[8:]); v != sketchVersion {
		return nil, fmt.Errorf("influence: unsupported sketch format version %d", v)
	}
	body := b[:len(b)-32]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], b[len(b)-32:]) {
		return nil, corruptf("checksum mismatch (truncated or modified)")
	}
	s := &Sketches{DatanetID: le.Uint64(b[16:]), Version: le.Uint64(b[24:])}
	s.BaseSHA256 = hex.EncodeToString(b[32:64])
	s.TokenizerDigest = hex.EncodeToString(b[64:96])
	dim, seqLen := int(le.Uint32(b[96:])), int(le.Uint32(b[100:]))
	s.Params = Params{SketchDim: dim, SeqLen: seqLen, Seed: le.Uint64(b[104:]), Stride: int(le.Uint32(b[124:]))}
	nck, nc, ne := uint64(le.Uint32(b[112:])), uint64(le.Uint32(b[116:])), uint64(le.Uint32(b[120:]))
	switch {
	case dim < MinSketchDim || dim > MaxSketchDim || dim%64 != 0:
		return nil, corruptf("sketch dimension %d", dim)
	case seqLen < 1 || seqLen > model.MaxContext:
		return nil, corruptf("sequence length %d", seqLen)
	case s.Params.Stride < 1 || s.Params.Stride > seqLen:
		return nil, corruptf("stride %d", s.Params.Stride)
	case nck < 1 || nck > MaxCheckpoint:
		return nil, corruptf("%d checkpoints", nck)
	case nc < 1:
		return nil, corruptf("no contributions")
	case uint64(le.Uint32(b[12:])) != fixedHeader+(40+4*uint64(dim))*nck:
		return nil, corruptf("header size")
	}
	exBytes := 8 + 2*uint64(dim)*nck
	if ne > uint64(len(b)) || nc > uint64(len(b)) {
		return nil, corruptf("counts exceed the file size")
	}
	want := fixedHeader + (40+4*uint64(dim))*nck + 16*nc + exBytes*ne
	if uint64(len(body)) != want {
		return nil, corruptf("%d bytes of data, header describes %d", len(body), want)
	}
	off := uint64(fixedHeader)
	for k := uint64(0); k < nck; k++ {
		ref := CheckpointRef{AdapterSHA256: hex.EncodeToString(b[off : off+32]), Weight: le.Uint64(b[off+32:])}
		if ref.Weight < 1 || ref.Weight > MaxWeight {
			return nil, corruptf("checkpoint %d weight %d", k, ref.Weight)
		}
		s.Checkpoints = append(s.Checkpoints, ref)
		off += 40
		mu := make([]int32, dim)
		for i := range mu {
			mu[i] = int32(le.Uint32(b[off:]))
			if mu[i] > muScale || mu[i] < -muScale {
				return nil, corruptf("checkpoint %d mean sketch out of range", k)
			}
			off += 4
		}
		s.mu = append(s.mu, mu)
	}
	var next uint32
	for c := uint64(0); c < nc; c++ {
		id, f, n := le.Uint64(b[off:]), le.Uint32(b[off+8:]), le.Uint32(b[off+12:])
		if f != next || uint64(f)+uint64(n) > ne {
			return nil, corruptf("contribution %d examples [%d,+%d) out of order or range", c, f, n)
		}
		next = f + n
		s.ContribIDs = append(s.ContribIDs, id)
		s.contribFirst = append(s.contribFirst, f)
		s.contribCount = append(s.contribCount, n)
		off += 16
	}
	if uint64(next) != ne {
		return nil, corruptf("contributions cover %d of %d examples", next, ne)
	}
	s.shared = make([]uint32, ne)
	s.sk = make([][]int16, nck)
	for k := range s.sk {
		s.sk[k] = make([]int16, ne*uint64(dim))
	}
	for e := uint64(0); e < ne; e++ {
		d := le.Uint32(b[off:])
		if d < 1 || uint64(d) > nc {
			return nil, corruptf("example %d shared by %d contributions", e, d)
		}
		s.shared[e] = d
		p := off + 8
		for k := uint64(0); k < nck; k++ {
			dst := s.sk[k][e*uint64(dim) : (e+1)*uint64(dim)]
			for i := range dst {
				v := int16(le.Uint16(b[p:]))
				if v < -qscale {
					return nil, corruptf("example %d sketch value %d", e, v)
				}
				dst[i] = v
				p += 2
			}
		}
		off += exBytes
	}
	return s, nil
}

// CheckModel reports an error unless base, tok and the checkpoints are the
// ones the sketches were computed with.
func (s *Sketches) CheckModel(base *checkpoint.Model, tok *tokenizer.Tokenizer, cks []Checkpoint) error {
	if base.SHA256 != "" && s.BaseSHA256 != base.SHA256 && s.BaseSHA256 != hex.EncodeToString(make([]byte, 32)) {
		return fmt.Errorf("influence: sketches were computed on base model %s, not %s", s.BaseSHA256[:16], base.SHA256[:min(16, len(base.SHA256))])
	}
	if tok.Digest() != s.TokenizerDigest {
		return errors.New("influence: sketch/tokenizer mismatch")
	}
	if len(cks) != len(s.Checkpoints) {
		return fmt.Errorf("influence: sketches have %d checkpoints, got %d", len(s.Checkpoints), len(cks))
	}
	for i, c := range cks {
		if c.SHA256 != s.Checkpoints[i].AdapterSHA256 || c.Weight != s.Checkpoints[i].Weight {
			return fmt.Errorf("influence: checkpoint %d is adapter %s weight %d, the sketches used %s weight %d",
				i, short(c.SHA256), c.Weight, short(s.Checkpoints[i].AdapterSHA256), s.Checkpoints[i].Weight)
		}
	}
	return nil
}

func short(s string) string {
	if len(s) > 16 {
		return s[:16]
	}
	return s
}
