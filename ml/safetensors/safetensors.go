// Package safetensors reads and writes the safetensors tensor file format
// (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
// length N, N bytes of JSON header, then the raw little-endian tensor bytes.
//
// The reader validates everything it is given (header size, JSON, dtypes,
// shapes, offsets covering the data exactly once) and never panics on bad
// input. It converts F32, F16, BF16 and F64 tensors to float32. The writer
// writes F32 tensors in name order with a deterministic header, so equal
// inputs give equal bytes.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
)

// Limits on what the reader accepts.
const (
	MaxHeaderBytes = 64 << 20
	MaxTensors     = 1 << 16
	MaxRank        = 8
)

// Tensor is a named float32 tensor with a row-major shape.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
	// DType is the dtype the tensor had on disk ("F32", "F16", ...).
	DType string
}

// Elems returns the product of the shape.
func (t *Tensor) Elems() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// File is a parsed safetensors file.
type File struct {
	Metadata map[string]string
	Tensors  map[string]*Tensor
}

// Names returns the tensor names in sorted order.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.Tensors))
	for n := range f.Tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

type headerEntry struct {
	DType   string  `json:"dtype"`
	Shape   []int64 `json:"shape"`
	Offsets []int64 `json:"data_offsets"`
}

var dtypeSize = map[string]int64{"F32": 4, "F16": 2, "BF16": 2, "F64": 8}

// ReadFile reads and parses the file at path.
func ReadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Parse parses a complete safetensors file held in memory.
func Parse(b []byte) (*File, error) {
	if len(b) < 8 {
		return nil, errors.New("safetensors: file is shorter than its 8-byte header length (truncated?)")
	}
	n := binary.LittleEndian.Uint64(b[:8])
	if n < 2 || n > MaxHeaderBytes {
		return nil, fmt.Errorf("safetensors: header length %d is out of range [2, %d]", n, MaxHeaderBytes)
	}
	if uint64(len(b)-8) < n {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the %d bytes that follow (truncated?)", n, len(b)-8)
	}
	hdr := b[8 : 8+n]
	data := b[8+n:]
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("safetensors: header is not a JSON object: %w", err)
	}
	if len(bytes.TrimRight(hdr[dec.InputOffset():], " \x00")) != 0 {
		return nil, errors.New("safetensors: trailing bytes after the JSON header")
	}
	f := &File{Metadata: map[string]string{}, Tensors: map[string]*Tensor{}}
	type span struct {
		name       string
		begin, end int64
	}
	var spans []span
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &f.Metadata); err != nil {
				return nil, fmt.Errorf("safetensors: __metadata__ must map strings to strings: %w", err)
			}
			continue
		}
		if len(f.Tensors) >= MaxTensors {
			return nil, fmt.Errorf("safetensors: more than %d tensors", MaxTensors)
		}
		var e headerEntry
		d := json.NewDecoder(bytes.NewReader(msg))
		d.DisallowUnknownFields()
		if err := d.Decode(&e); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: bad header entry: %w", name, err)
		}
		size, ok := dtypeSize[e.DType]
		if !ok {
			return nil, fmt.Errorf("safetensors: tensor %q: unsupported dtype %q (supported: F32, F16, BF16, F64)", name, e.DType)
		}
		if len(e.Shape) > MaxRank {
			return nil, fmt.Errorf("safetensors: tensor %q: rank %d exceeds %d", name, len(e.Shape), MaxRank)
		}
		elems := int64(1)
		shape := make([]int, len(e.Shape))
		for i, dim := range e.Shape {
			if dim < 0 || (dim > 0 && elems > (int64(len(data))+1)/dim) {
				return nil, fmt.Errorf("safetensors: tensor %q: shape %v is invalid or larger than the file", name, e.Shape)
			}
			elems *= dim
			shape[i] = int(dim)
		}
		if len(e.Offsets) != 2 {
			return nil, fmt.Errorf("safetensors: tensor %q: data_offsets must have 2 entries", name)
		}
		begin, end := e.Offsets[0], e.Offsets[1]
		if begin < 0 || end < begin || end > int64(len(data)) {
			return nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d, %d] outside the %d data bytes (truncated?)", name, begin, end, len(data))
		}
		if end-begin != elems*size {
			return nil, fmt.Errorf("safetensors: tensor %q: %d bytes for shape %v of %s (want %d)", name, end-begin, e.Shape, e.DType, elems*size)
		}
		t := &Tensor{Name: name, Shape: shape, DType: e.DType, Data: make([]float32, elems)}
		decode(t.Data, data[begin:end], e.DType)
		f.Tensors[name] = t
		spans = append(spans, span{name, begin, end})
	}
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].begin != spans[j].begin {
			return spans[i].begin < spans[j].begin
		}
		return spans[i].end < spans[j].end
	})
	pos := int64(0)
	for _, s := range spans {
		if s.begin != pos {
			if s.begin < pos {
				return nil, fmt.Errorf("safetensors: tensor %q overlaps another tensor", s.name)
			}
			return nil, fmt.Errorf("safetensors: hole in the data before tensor %q", s.name)
		}
		pos = s.end
	}
	if pos != int64(len(data)) {
		return nil, fmt.Errorf("safetensors: %d data bytes but tensors cover %d", len(data), pos)
	}
	return f, nil
}

func decode(dst []float32, src []byte, dtype string) {
	switch dtype {
	case "F32":
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case "F64":
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
		}
	case "BF16":
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(src[2*i:])) << 16)
		}
	case "F16":
		for i := range dst {
			dst[i] = halfToFloat(binary.LittleEndian.Uint16(src[2*i:]))
		}
	}
}

// halfToFloat converts an IEEE 754 binary16 value to float32 exactly.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0 && man == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: value = man * 2^-24
		v := float32(man) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	default:
		return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
	}
}

// Write writes tensors (as F32, sorted by name) and metadata to w. Names must
// be unique and shapes must match the data lengths.
func Write(w io.Writer, metadata map[string]string, tensors []*Tensor) error {
	sorted := append([]*Tensor(nil), tensors...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	off := int64(0)
	for i, t := range sorted {
		if t.Name == "" || t.Name == "__metadata__" {
			return fmt.Errorf("safetensors: invalid tensor name %q", t.Name)
		}
		if i > 0 && sorted[i-1].Name == t.Name {
			return fmt.Errorf("safetensors: duplicate tensor name %q", t.Name)
		}
		if t.Elems() != len(t.Data) {
			return fmt.Errorf("safetensors: tensor %q: shape %v needs %d values, has %d", t.Name, t.Shape, t.Elems(), len(t.Data))
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		n := int64(4 * len(t.Data))
		header[t.Name] = map[string]any{"dtype": "F32", "shape": shape, "data_offsets": []int64{off, off + n}}
		off += n
	}
	hdr, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(hdr)%8 != 0 {
		hdr = append(hdr, ' ')
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hdr)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	buf := make([]byte, 0, 1<<16)
	for _, t := range sorted {
		for _, v := range t.Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) >= 1<<16 {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	}
	_, err = w.Write(buf)
	return err
}

// Marshal returns the bytes Write would write.
func Marshal(metadata map[string]string, tensors []*Tensor) ([]byte, error) {
	var b bytes.Buffer
	if err := Write(&b, metadata, tensors); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
