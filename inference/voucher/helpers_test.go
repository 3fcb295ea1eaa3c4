package voucher_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"testing"

	"cosmossdk.io/math"
	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/openledger/openledger/inference/voucher"
)

// key returns a deterministic ed25519 key pair named by a seed byte.
func key(seed byte) (ed25519.PublicKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed(bytesOf(seed, ed25519.SeedSize))
	return priv.Public().(ed25519.PublicKey), priv
}

// peerKey returns a deterministic libp2p ed25519 identity and its peer id string.
func peerKey(t testing.TB, seed byte) (libp2pcrypto.PrivKey, string) {
	t.Helper()
	_, priv := key(seed)
	k, err := libp2pcrypto.UnmarshalEd25519PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, id.String()
}

func bytesOf(b byte, n int) []byte {
	s := make([]byte, n)
	for i := range s {
		s[i] = b
	}
	return s
}

func hash(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func testVoucher() voucher.Voucher {
	return voucher.Voucher{
		ChainID:          "openledger-1",
		SessionID:        7,
		Sequence:         3,
		Denom:            "uopen",
		CumulativeAmount: math.NewInt(1_234_567),
		CumulativeTokens: 4096,
		ReceiptCount:     12,
		ReceiptsRoot:     hash("receipts"),
	}
}

func signedVoucher(t testing.TB) (voucher.Voucher, ed25519.PublicKey) {
	t.Helper()
	pub, priv := key(1)
	v, err := voucher.Sign(testVoucher(), priv)
	if err != nil {
		t.Fatal(err)
	}
	return v, pub
}

func testReceipt() voucher.Receipt {
	return voucher.Receipt{
		ChainID:          "openledger-1",
		Provider:         "openledger1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnzs23v8",
		SessionID:        7,
		RequestSeq:       12,
		RequestSHA256:    hash("request"),
		OutputCID:        "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
		OutputSHA256:     hash("output"),
		PromptTokens:     100,
		CompletionTokens: 250,
		EngineName:       "llama.cpp server",
		EngineVersion:    "b4567",
		ModelID:          3,
		ModelVersion:     2,
		RecordCID:        "bafkreidgvpkjawlxz6sffxzwgooowe5yt7i6wsyg236mfoks77nywkptdq",
		Summary: voucher.Summary{
			RecordSha256: strings.Repeat("ab", 32),
			Top: []voucher.TopEntry{
				{DatanetID: 1, Version: 1, ContributionID: 10, Ppm: 400_000},
				{DatanetID: 1, Version: 1, ContributionID: 11, Ppm: 100_000},
			},
			Pools: []voucher.PoolEntry{{DatanetID: 1, Version: 1, Ppm: 500_000}},
		},
	}
}

func signedReceipt(t testing.TB) (voucher.Receipt, string) {
	t.Helper()
	k, id := peerKey(t, 2)
	r, err := voucher.SignReceipt(testReceipt(), k)
	if err != nil {
		t.Fatal(err)
	}
	return r, id
}

// specWriter encodes independently of the package, straight from the documented layout,
// so the tests pin the wire format rather than the implementation.
type specWriter []byte

func (w *specWriter) u16(x uint16) { *w = binary.BigEndian.AppendUint16(*w, x) }
func (w *specWriter) u32(x uint32) { *w = binary.BigEndian.AppendUint32(*w, x) }
func (w *specWriter) u64(x uint64) { *w = binary.BigEndian.AppendUint64(*w, x) }
func (w *specWriter) raw(b []byte) { *w = append(*w, b...) }
func (w *specWriter) str(s string) { w.u16(uint16(len(s))); w.raw([]byte(s)) }

// voucherBytes lays out a voucher with the amount given as a raw string, so tests can
// write non-canonical amounts.
func voucherBytes(v voucher.Voucher, amount string) []byte {
	var w specWriter
	w.str("openledger/voucher/v1")
	w.str(v.ChainID)
	w.u64(v.SessionID)
	w.u64(v.Sequence)
	w.str(v.Denom)
	w.str(amount)
	w.u64(v.CumulativeTokens)
	w.u64(v.ReceiptCount)
	w.raw(v.ReceiptsRoot[:])
	w.u16(uint16(len(v.Signature)))
	w.raw(v.Signature)
	return w
}

func receiptBytes(r voucher.Receipt) []byte {
	var w specWriter
	w.str("openledger/receipt/v2")
	w.str(r.ChainID)
	w.str(r.Provider)
	w.u64(r.JobID)
	w.u64(r.SessionID)
	w.u64(r.RequestSeq)
	w.raw(r.RequestSHA256[:])
	w.str(r.OutputCID)
	w.raw(r.OutputSHA256[:])
	w.u64(r.PromptTokens)
	w.u64(r.CompletionTokens)
	w.str(r.EngineName)
	w.str(r.EngineVersion)
	w.u64(r.ModelID)
	w.u64(r.ModelVersion)
	w.str(r.RecordCID)
	w.str(r.Summary.RecordSha256)
	w.u16(uint16(len(r.Summary.Top)))
	for _, e := range r.Summary.Top {
		w.u64(e.DatanetID)
		w.u64(e.Version)
		w.u64(e.ContributionID)
		w.u32(e.Ppm)
	}
	w.u16(uint16(len(r.Summary.Pools)))
	for _, e := range r.Summary.Pools {
		w.u64(e.DatanetID)
		w.u64(e.Version)
		w.u32(e.Ppm)
	}
	w.u16(uint16(len(r.Signature)))
	w.raw(r.Signature)
	return w
}
