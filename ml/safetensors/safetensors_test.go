package safetensors

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

func sample() []*Tensor {
	return []*Tensor{
		{Name: "b", Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, -6}},
		{Name: "a", Shape: []int{1}, Data: []float32{float32(math.Pi)}},
		{Name: "scalar", Shape: []int{}, Data: []float32{7}},
	}
}

func TestRoundTripAndDeterminism(t *testing.T) {
	meta := map[string]string{"k": "v", "config": `{"x":1}`}
	b1, err := Marshal(meta, sample())
	if err != nil {
		t.Fatal(err)
	}
	rev := sample()
	rev[0], rev[2] = rev[2], rev[0]
	b2, _ := Marshal(meta, rev)
	if string(b1) != string(b2) {
		t.Fatal("tensor order changed the file bytes")
	}
	hlen := binary.LittleEndian.Uint64(b1[:8])
	if hlen%8 != 0 {
		t.Fatalf("header length %d not 8-aligned", hlen)
	}
	f, err := Parse(b1)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["config"] != `{"x":1}` {
		t.Fatalf("metadata = %v", f.Metadata)
	}
	if got := f.Names(); strings.Join(got, ",") != "a,b,scalar" {
		t.Fatalf("names = %v", got)
	}
	bt := f.Tensors["b"]
	if bt.Shape[0] != 2 || bt.Shape[1] != 3 || bt.Data[5] != -6 {
		t.Fatalf("tensor b = %+v", bt)
	}
}

func TestHalfPrecision(t *testing.T) {
	cases := map[uint16]float32{0x3c00: 1, 0xc000: -2, 0x0001: 1.0 / (1 << 24), 0x7bff: 65504, 0x3555: 0.333251953125}
	for h, want := range cases {
		if got := halfToFloat(h); got != want {
			t.Errorf("half %#x = %v, want %v", h, got, want)
		}
	}
	if !math.IsInf(float64(halfToFloat(0x7c00)), 1) {
		t.Error("half +inf")
	}
}

func header(s string) []byte {
	b := make([]byte, 8, 8+len(s))
	binary.LittleEndian.PutUint64(b, uint64(len(s)))
	return append(b, s...)
}

func TestBadFiles(t *testing.T) {
	good, _ := Marshal(nil, sample())
	cases := map[string][]byte{
		"empty":         {},
		"short":         good[:5],
		"truncated":     good[:len(good)-3],
		"huge header":   append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, good[8:]...),
		"not json":      header("nope"),
		"bad dtype":     header(`{"a":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}}`),
		"size mismatch": append(header(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`), 0, 0, 0, 0),
		"hole":          append(header(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`), make([]byte, 8)...),
		"overlap": append(header(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},`+
			`"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`), make([]byte, 4)...),
		"extra bytes":    append(header(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`), make([]byte, 8)...),
		"negative shape": header(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}`),
		"giant shape":    header(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`),
		"bad metadata":   header(`{"__metadata__":{"a":1}}`),
		"unknown field":  header(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0],"x":1}}`),
	}
	for name, b := range cases {
		if _, err := Parse(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := Write(new(strings.Builder), nil, []*Tensor{{Name: "x", Shape: []int{3}, Data: []float32{1}}}); err == nil {
		t.Error("Write accepted a shape/data mismatch")
	}
}

func FuzzParse(f *testing.F) {
	good, _ := Marshal(map[string]string{"m": "x"}, sample())
	f.Add(good)
	f.Add(header(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`))
	f.Add(header(`{"__metadata__":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Parse(b)
		if err != nil {
			return
		}
		var ts []*Tensor
		for _, n := range file.Names() {
			ts = append(ts, file.Tensors[n])
		}
		out, err := Marshal(file.Metadata, ts)
		if err != nil {
			t.Fatalf("re-marshal of a parsed file failed: %v", err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse failed: %v", err)
		}
		if len(again.Tensors) != len(file.Tensors) {
			t.Fatal("tensor count changed")
		}
	})
}
