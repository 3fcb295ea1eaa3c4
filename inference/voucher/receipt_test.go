package voucher_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/openledger/openledger/inference/voucher"
)

func TestReceiptSignVerifyPeer(t *testing.T) {
	r, id := signedReceipt(t)
	if err := r.VerifyPeer(id); err != nil {
		t.Fatalf("VerifyPeer: %v", err)
	}
	pub, err := voucher.PeerPublicKey(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.VerifyKey(pub); err != nil {
		t.Fatalf("VerifyKey: %v", err)
	}
	// The libp2p signature is a plain ed25519 signature: the libp2p key verifies it too.
	k, _ := peerKey(t, 2)
	if ok, err := k.GetPublic().Verify(r.SignBytes(), r.Signature); err != nil || !ok {
		t.Fatalf("libp2p Verify = %v, %v", ok, err)
	}
}

func TestReceiptVerifyTampered(t *testing.T) {
	r, id := signedReceipt(t)
	_, otherID := peerKey(t, 3)
	tests := []struct {
		name   string
		mutate func(*voucher.Receipt)
	}{
		{"chain id", func(r *voucher.Receipt) { r.ChainID = "openledger-2" }},
		{"provider", func(r *voucher.Receipt) { r.Provider += "x" }},
		{"session to job", func(r *voucher.Receipt) {
			r.JobID, r.SessionID, r.RequestSeq, r.RequestSHA256 = 7, 0, 0, [32]byte{}
		}},
		{"request sha256", func(r *voucher.Receipt) { r.RequestSHA256[0] ^= 1 }},
		{"session id", func(r *voucher.Receipt) { r.SessionID++ }},
		{"request seq", func(r *voucher.Receipt) { r.RequestSeq++ }},
		{"output cid", func(r *voucher.Receipt) { r.OutputCID = "bafkreiother" }},
		{"output sha256", func(r *voucher.Receipt) { r.OutputSHA256[0] ^= 1 }},
		{"prompt tokens", func(r *voucher.Receipt) { r.PromptTokens++ }},
		{"completion tokens", func(r *voucher.Receipt) { r.CompletionTokens++ }},
		{"engine name", func(r *voucher.Receipt) { r.EngineName = "vllm" }},
		{"engine version", func(r *voucher.Receipt) { r.EngineVersion = "" }},
		{"model id", func(r *voucher.Receipt) { r.ModelID++ }},
		{"model version", func(r *voucher.Receipt) { r.ModelVersion++ }},
		{"record cid", func(r *voucher.Receipt) { r.RecordCID += "a" }},
		{"record sha256", func(r *voucher.Receipt) { r.Summary.RecordSha256 = strings.Repeat("cd", 32) }},
		{"top datanet", func(r *voucher.Receipt) { r.Summary.Top[0].DatanetID++ }},
		{"top version", func(r *voucher.Receipt) { r.Summary.Top[0].Version++ }},
		{"top contribution", func(r *voucher.Receipt) { r.Summary.Top[1].ContributionID++ }},
		{"top ppm", func(r *voucher.Receipt) { r.Summary.Top[0].Ppm--; r.Summary.Top[1].Ppm++ }},
		{"top order", func(r *voucher.Receipt) { r.Summary.Top[0], r.Summary.Top[1] = r.Summary.Top[1], r.Summary.Top[0] }},
		{"top to pool", func(r *voucher.Receipt) {
			r.Summary.Top = r.Summary.Top[:1]
			r.Summary.Pools = append(r.Summary.Pools, voucher.PoolEntry{DatanetID: 1, Version: 1, Ppm: 100_000})
		}},
		{"pool datanet", func(r *voucher.Receipt) { r.Summary.Pools[0].DatanetID++ }},
		{"pool version", func(r *voucher.Receipt) { r.Summary.Pools[0].Version++ }},
		{"pool ppm", func(r *voucher.Receipt) { r.Summary.Pools[0].Ppm--; r.Summary.Top[0].Ppm++ }},
		{"signature", func(r *voucher.Receipt) { r.Signature[10] ^= 0x80 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := r
			w.Signature = append([]byte(nil), r.Signature...)
			w.Summary.Top = append([]voucher.TopEntry(nil), r.Summary.Top...)
			w.Summary.Pools = append([]voucher.PoolEntry(nil), r.Summary.Pools...)
			tc.mutate(&w)
			if err := w.Validate(); err != nil {
				t.Fatalf("mutation made the receipt invalid, not just unsigned: %v", err)
			}
			if err := w.VerifyPeer(id); !errors.Is(err, voucher.ErrBadSignature) {
				t.Fatalf("VerifyPeer = %v, want ErrBadSignature", err)
			}
			if w.LeafHash() == r.LeafHash() {
				t.Fatal("leaf hash does not cover the field")
			}
		})
	}
	if err := r.VerifyPeer(otherID); !errors.Is(err, voucher.ErrBadSignature) {
		t.Fatalf("VerifyPeer(other peer) = %v, want ErrBadSignature", err)
	}
	short := r
	short.Signature = r.Signature[:32]
	if err := short.VerifyPeer(id); !errors.Is(err, voucher.ErrBadSignature) {
		t.Fatalf("short signature: %v, want ErrBadSignature", err)
	}
	if err := r.VerifyPeer(id); err != nil {
		t.Fatalf("original receipt no longer verifies: %v", err)
	}
}

func TestReceiptPeerKeys(t *testing.T) {
	r, _ := signedReceipt(t)
	secp, _, err := libp2pcrypto.GenerateSecp256k1Key(bytes.NewReader(bytesOf(5, 64)))
	if err != nil {
		t.Fatal(err)
	}
	secpID, err := peer.IDFromPrivateKey(secp)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "not-a-peer-id", secpID.String(), "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"} {
		if err := r.VerifyPeer(id); !errors.Is(err, voucher.ErrBadKey) {
			t.Errorf("VerifyPeer(%q) = %v, want ErrBadKey", id, err)
		}
	}
	if _, err := voucher.SignReceipt(testReceipt(), secp); !errors.Is(err, voucher.ErrBadKey) {
		t.Fatalf("SignReceipt(secp256k1) = %v, want ErrBadKey", err)
	}
	if _, err := voucher.SignReceipt(testReceipt(), nil); !errors.Is(err, voucher.ErrBadKey) {
		t.Fatalf("SignReceipt(nil) = %v, want ErrBadKey", err)
	}
	if err := r.VerifyKey(make([]byte, 31)); !errors.Is(err, voucher.ErrBadKey) {
		t.Fatalf("VerifyKey(31 bytes) = %v, want ErrBadKey", err)
	}
}

func TestReceiptValidate(t *testing.T) {
	noSummary := func(r *voucher.Receipt) { r.RecordCID, r.Summary = "", voucher.Summary{} }
	many := func(n int) func(*voucher.Receipt) {
		return func(r *voucher.Receipt) {
			r.Summary.Top, r.Summary.Pools = nil, make([]voucher.PoolEntry, n)
			for i := range r.Summary.Pools {
				r.Summary.Pools[i] = voucher.PoolEntry{DatanetID: uint64(i + 1), Version: 1, Ppm: 1}
			}
			r.Summary.Pools[0].Ppm = uint32(voucher.PpmScale - n + 1)
		}
	}
	tests := []struct {
		name   string
		mutate func(*voucher.Receipt)
		ok     bool
	}{
		{"valid session receipt", func(*voucher.Receipt) {}, true},
		{"valid job receipt", func(r *voucher.Receipt) {
			r.JobID, r.SessionID, r.RequestSeq, r.RequestSHA256 = 4, 0, 0, [32]byte{}
		}, true},
		{"job with a request digest", func(r *voucher.Receipt) { r.JobID, r.SessionID, r.RequestSeq = 4, 0, 0 }, false},
		{"session without a request digest", func(r *voucher.Receipt) { r.RequestSHA256 = [32]byte{} }, false},
		{"no attribution", noSummary, true},
		{"empty engine version", func(r *voucher.Receipt) { r.EngineVersion = "" }, true},
		{"only pools", func(r *voucher.Receipt) {
			r.Summary.Top = nil
			r.Summary.Pools = []voucher.PoolEntry{{DatanetID: 1, Version: 1, Ppm: voucher.PpmScale}}
		}, true},
		{"256 entries", many(256), true},
		{"257 entries", many(257), false},
		{"neither job nor session", func(r *voucher.Receipt) { r.SessionID, r.RequestSeq = 0, 0 }, false},
		{"both job and session", func(r *voucher.Receipt) { r.JobID = 1 }, false},
		{"session without request seq", func(r *voucher.Receipt) { r.RequestSeq = 0 }, false},
		{"job with request seq", func(r *voucher.Receipt) { r.JobID, r.SessionID = 4, 0 }, false},
		{"empty chain id", func(r *voucher.Receipt) { r.ChainID = "" }, false},
		{"empty provider", func(r *voucher.Receipt) { r.Provider = "" }, false},
		{"provider too long", func(r *voucher.Receipt) { r.Provider = strings.Repeat("p", 129) }, false},
		{"empty output cid", func(r *voucher.Receipt) { r.OutputCID = "" }, false},
		{"output cid too long", func(r *voucher.Receipt) { r.OutputCID = strings.Repeat("b", 129) }, false},
		{"output cid with space", func(r *voucher.Receipt) { r.OutputCID = "bafy x" }, false},
		{"empty engine name", func(r *voucher.Receipt) { r.EngineName = "" }, false},
		{"engine name too long", func(r *voucher.Receipt) { r.EngineName = strings.Repeat("e", 65) }, false},
		{"engine version control char", func(r *voucher.Receipt) { r.EngineVersion = "1.0\n" }, false},
		{"model id zero", func(r *voucher.Receipt) { r.ModelID = 0 }, false},
		{"model version zero", func(r *voucher.Receipt) { r.ModelVersion = 0 }, false},
		{"record cid without summary", func(r *voucher.Receipt) { noSummary(r); r.RecordCID = "bafkrei" }, false},
		{"summary without record cid", func(r *voucher.Receipt) { r.RecordCID = "" }, false},
		{"record cid too long", func(r *voucher.Receipt) { r.RecordCID = strings.Repeat("b", 129) }, false},
		{"hash without entries", func(r *voucher.Receipt) { r.Summary.Top, r.Summary.Pools = nil, nil }, false},
		{"entries without hash", func(r *voucher.Receipt) { r.Summary.RecordSha256 = "" }, false},
		{"uppercase hash", func(r *voucher.Receipt) { r.Summary.RecordSha256 = strings.Repeat("AB", 32) }, false},
		{"short hash", func(r *voucher.Receipt) { r.Summary.RecordSha256 = strings.Repeat("ab", 31) }, false},
		{"zero ppm", func(r *voucher.Receipt) {
			r.Summary.Top = append(r.Summary.Top, voucher.TopEntry{DatanetID: 2, Version: 1, ContributionID: 1})
		}, false},
		{"sum below scale", func(r *voucher.Receipt) { r.Summary.Pools[0].Ppm-- }, false},
		{"sum above scale", func(r *voucher.Receipt) { r.Summary.Pools[0].Ppm++ }, false},
		{"ppm overflow trick", func(r *voucher.Receipt) {
			r.Summary.Top = []voucher.TopEntry{{DatanetID: 1, Version: 1, ContributionID: 1, Ppm: 1<<32 - 1}}
			r.Summary.Pools = []voucher.PoolEntry{{DatanetID: 1, Version: 1, Ppm: voucher.PpmScale + 1}}
		}, false},
	}
	k, id := peerKey(t, 2)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := testReceipt()
			tc.mutate(&r)
			err := r.Validate()
			if tc.ok != (err == nil) {
				t.Fatalf("Validate = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, voucher.ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
			s, err := voucher.SignReceipt(r, k)
			if tc.ok != (err == nil) {
				t.Fatalf("SignReceipt = %v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				return
			}
			got, err := voucher.UnmarshalReceipt(s.Marshal())
			if err != nil {
				t.Fatalf("UnmarshalReceipt: %v", err)
			}
			if !bytes.Equal(got.Marshal(), s.Marshal()) {
				t.Fatal("round trip changed the receipt")
			}
			if err := got.VerifyPeer(id); err != nil {
				t.Fatalf("decoded receipt: %v", err)
			}
		})
	}
}

func TestReceiptWireFormat(t *testing.T) {
	r, _ := signedReceipt(t)
	b := r.Marshal()
	if want := receiptBytes(r); !bytes.Equal(b, want) {
		t.Fatalf("Marshal =\n%x\nwant (from the spec)\n%x", b, want)
	}
	if !bytes.Equal(r.SignBytes(), b[:len(b)-2-voucher.SignatureSize]) {
		t.Fatal("SignBytes is not Marshal without the signature")
	}
	if got, want := r.LeafHash(), sha256.Sum256(append([]byte{0}, b...)); got != want {
		t.Fatal("LeafHash != SHA-256(0x00 || Marshal())")
	}
	unsigned := r
	unsigned.Signature = nil
	if unsigned.LeafHash() == r.LeafHash() {
		t.Fatal("leaf hash does not commit to the signature")
	}

	// The largest valid receipt fits MaxReceiptSize and decodes.
	big := r
	big.ChainID = strings.Repeat("c", voucher.MaxChainIDLen)
	big.Provider = strings.Repeat("p", voucher.MaxProviderLen)
	big.OutputCID = strings.Repeat("o", voucher.MaxCIDLen)
	big.RecordCID = strings.Repeat("r", voucher.MaxCIDLen)
	big.EngineName = strings.Repeat("e", voucher.MaxEngineLen)
	big.EngineVersion = strings.Repeat("v", voucher.MaxEngineLen)
	big.Summary.Pools = nil
	big.Summary.Top = make([]voucher.TopEntry, voucher.MaxSummaryEntries)
	for i := range big.Summary.Top {
		big.Summary.Top[i] = voucher.TopEntry{DatanetID: 1, Version: 1, ContributionID: uint64(i), Ppm: 1}
	}
	big.Summary.Top[0].Ppm = voucher.PpmScale - voucher.MaxSummaryEntries + 1
	if n := len(big.Marshal()); n != voucher.MaxReceiptSize {
		t.Fatalf("largest receipt is %d bytes, MaxReceiptSize %d", n, voucher.MaxReceiptSize)
	}
	if _, err := voucher.UnmarshalReceipt(big.Marshal()); err != nil {
		t.Fatalf("largest receipt does not decode: %v", err)
	}
}

func TestUnmarshalReceiptStrict(t *testing.T) {
	r, _ := signedReceipt(t)
	good := r.Marshal()
	got, err := voucher.UnmarshalReceipt(good)
	if err != nil {
		t.Fatal(err)
	}
	if got.Provider != r.Provider || got.Summary.Top[1] != r.Summary.Top[1] || got.Summary.Pools[0] != r.Summary.Pools[0] ||
		got.OutputSHA256 != r.OutputSHA256 || got.EngineName != r.EngineName || got.LeafHash() != r.LeafHash() {
		t.Fatalf("UnmarshalReceipt = %+v, want %+v", got, r)
	}
	for n := 0; n < len(good); n++ {
		if _, err := voucher.UnmarshalReceipt(good[:n]); !errors.Is(err, voucher.ErrMalformed) {
			t.Fatalf("prefix of %d bytes: err = %v, want ErrMalformed", n, err)
		}
	}
	mutated := func(f func(*voucher.Receipt)) []byte {
		w := r
		w.Summary.Top = append([]voucher.TopEntry(nil), r.Summary.Top...)
		f(&w)
		return receiptBytes(w)
	}
	// A count field claiming more entries than the bound, with nothing behind it.
	hugeCount := receiptBytes(r)
	countAt := len(hugeCount) - 2 - voucher.SignatureSize - 2 - 20 - 2 - 2*28
	if hugeCount[countAt] != 0 || hugeCount[countAt+1] != 2 {
		t.Fatalf("test bug: top count not at offset %d", countAt)
	}
	hugeCount[countAt], hugeCount[countAt+1] = 0xff, 0xff
	tests := []struct {
		name string
		b    []byte
	}{
		{"trailing byte", append(append([]byte(nil), good...), 0)},
		{"voucher bytes", func() []byte { v, _ := signedVoucher(t); return v.Marshal() }()},
		{"signature 63", mutated(func(w *voucher.Receipt) { w.Signature = w.Signature[:63] })},
		{"no signature", mutated(func(w *voucher.Receipt) { w.Signature = nil })},
		{"provider over bound", mutated(func(w *voucher.Receipt) { w.Provider = strings.Repeat("p", 129) })},
		{"record hash over bound", mutated(func(w *voucher.Receipt) { w.Summary.RecordSha256 += "00" })},
		{"invalid field", mutated(func(w *voucher.Receipt) { w.JobID = 9 })},
		{"bad weights", mutated(func(w *voucher.Receipt) { w.Summary.Top[0].Ppm++ })},
		{"top count over bound", hugeCount},
		{"oversize", make([]byte, voucher.MaxReceiptSize+1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := voucher.UnmarshalReceipt(tc.b); !errors.Is(err, voucher.ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}
