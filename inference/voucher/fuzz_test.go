package voucher_test

import (
	"bytes"
	"testing"

	"github.com/openledger/openledger/inference/voucher"
)

// The decoders never panic, and whatever they accept is canonical: encoding the decoded
// value gives back the input exactly.

func FuzzUnmarshalVoucher(f *testing.F) {
	v, _ := signedVoucher(f)
	good := v.Marshal()
	f.Add(good)
	f.Add(voucherBytes(v, "0"))
	f.Add(voucherBytes(v, "01"))
	f.Add(good[:len(good)-1])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := voucher.UnmarshalVoucher(b)
		if err != nil {
			return
		}
		if err := v.Validate(); err != nil {
			t.Fatalf("decoded an invalid voucher: %v", err)
		}
		if again := v.Marshal(); !bytes.Equal(again, b) {
			t.Fatalf("not canonical:\n in  %x\n out %x", b, again)
		}
	})
}

func FuzzDecodeVoucher(f *testing.F) {
	v, _ := signedVoucher(f)
	s := v.Encode()
	f.Add(s)
	f.Add(s + "=")
	f.Add(s[:len(s)-1])
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := voucher.DecodeVoucher(s)
		if err != nil {
			return
		}
		if again := v.Encode(); again != s {
			t.Fatalf("not canonical:\n in  %q\n out %q", s, again)
		}
	})
}

func FuzzUnmarshalReceipt(f *testing.F) {
	r, _ := signedReceipt(f)
	f.Add(r.Marshal())
	j := testReceipt()
	j.JobID, j.SessionID, j.RequestSeq = 1, 0, 0
	j.RecordCID, j.Summary = "", voucher.Summary{}
	j.Signature = make([]byte, voucher.SignatureSize)
	f.Add(j.Marshal())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := voucher.UnmarshalReceipt(b)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("decoded an invalid receipt: %v", err)
		}
		if again := r.Marshal(); !bytes.Equal(again, b) {
			t.Fatalf("not canonical:\n in  %x\n out %x", b, again)
		}
		_ = r.LeafHash()
	})
}
