package fields_test

import (
	"bytes"
	"testing"

	addresscodec "github.com/cosmos/cosmos-sdk/codec/address"
	"github.com/cosmos/cosmos-sdk/types/bech32"

	"github.com/openledger/openledger/x/internal/fields"
)

// FuzzFastAddressCodec checks that the fast codec accepts exactly what the SDK's
// Bech32Codec accepts, with the same bytes, and encodes identically.
func FuzzFastAddressCodec(f *testing.F) {
	sdkCodec := addresscodec.NewBech32Codec("open")
	fast := fields.FastAddressCodec(sdkCodec)
	for _, n := range []int{0, 1, 20, 32, 255, 256} {
		s, err := bech32.ConvertAndEncode("open", bytes.Repeat([]byte{7}, n))
		if err == nil {
			f.Add(s)
		}
	}
	other, _ := bech32.ConvertAndEncode("cosmos", bytes.Repeat([]byte{1}, 20))
	f.Add(other)
	f.Add("")
	f.Add("   ")
	f.Add("open1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq")
	f.Add("OPEN1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ5CH2N0")
	f.Fuzz(func(t *testing.T, s string) {
		want, werr := sdkCodec.StringToBytes(s)
		got, gerr := fast.StringToBytes(s)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: sdk err %v, fast err %v", s, werr, gerr)
		}
		if werr != nil {
			return
		}
		if !bytes.Equal(want, got) {
			t.Fatalf("%q: sdk %x, fast %x", s, want, got)
		}
		ws, _ := sdkCodec.BytesToString(want)
		gs, _ := fast.BytesToString(got)
		if ws != gs {
			t.Fatalf("%x: sdk %q, fast %q", want, ws, gs)
		}
	})
}

func TestFastAddressCodecPassesOtherCodecs(t *testing.T) {
	var c fakeCodec
	if fields.FastAddressCodec(c) != c {
		t.Fatal("a non-bech32 codec must be returned as is")
	}
}

type fakeCodec struct{}

func (fakeCodec) StringToBytes(string) ([]byte, error) { return nil, nil }
func (fakeCodec) BytesToString([]byte) (string, error) { return "", nil }
