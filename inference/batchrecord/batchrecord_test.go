package batchrecord_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"

	"github.com/openledger/openledger/inference/batchrecord"
	"github.com/openledger/openledger/inference/voucher"
)

func signer(t testing.TB) libp2pcrypto.PrivKey {
	t.Helper()
	k, err := libp2pcrypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// served signs the receipt of request seq of session 9 for a body and an output.
func served(t testing.TB, seq uint64, body, output string) (voucher.Receipt, batchrecord.Request) {
	t.Helper()
	rc, err := voucher.SignReceipt(voucher.Receipt{
		ChainID: "openledger-test", Provider: "open1provider", SessionID: 9, RequestSeq: seq,
		RequestSHA256: sha256.Sum256([]byte(body)), OutputCID: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
		OutputSHA256: sha256.Sum256([]byte(output)), PromptTokens: 5, CompletionTokens: seq, EngineName: "builtin",
		ModelID: 1, ModelVersion: 1, RecordCID: "bafkreidgvpkjawlxz6sffxzwgooowe5yt7i6wsyg236mfoks77nywkptdq",
		Summary: voucher.Summary{RecordSha256: strings.Repeat("ab", 32), Pools: []voucher.PoolEntry{{DatanetID: 1, Version: 1, Ppm: voucher.PpmScale}}},
	}, signer(t))
	if err != nil {
		t.Fatal(err)
	}
	return rc, batchrecord.Request{Receipt: rc.Marshal(), Endpoint: batchrecord.EndpointChat, MaxTokens: 16, Body: []byte(body), Output: []byte(output)}
}

// fixture is a record of requests 3..5 of a session whose voucher counts 5
// receipts, and the root of all five.
func fixture(t testing.TB) (batchrecord.Record, [32]byte) {
	t.Helper()
	var acc voucher.Accumulator
	rec := batchrecord.Record{Format: batchrecord.Format, SessionID: 9, Sequence: 4, ReceiptCount: 5, TopK: 8, FromRequest: 3}
	for seq := uint64(1); seq <= 5; seq++ {
		rc, q := served(t, seq, fmt.Sprintf(`{"model":"1","messages":[{"role":"user","content":"q%d"}]}`, seq), fmt.Sprintf("answer %d", seq))
		if seq == 3 {
			prior, err := acc.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			rec.Prior = prior
		}
		if seq >= 3 {
			rec.Requests = append(rec.Requests, q)
		}
		acc.Append(rc.LeafHash())
	}
	return rec, acc.Root()
}

func TestRecordRoundTripAndRoot(t *testing.T) {
	rec, root := fixture(t)
	b, err := batchrecord.Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := batchrecord.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := got.Receipts()
	if err != nil {
		t.Fatal(err)
	}
	prior, err := got.PriorAccumulator()
	if err != nil {
		t.Fatal(err)
	}
	if batchrecord.Root(prior, rs) != root {
		t.Fatal("the record's receipts do not give the voucher's root")
	}
	again, _ := batchrecord.Encode(got)
	if !bytes.Equal(again, b) {
		t.Fatal("encoding is not canonical")
	}
	// One request dropped from the middle cannot give the root back.
	short := got
	short.Requests = append([]batchrecord.Request{got.Requests[0]}, got.Requests[2:]...)
	if _, err := short.Receipts(); err == nil {
		t.Fatal("a record with a request missing validated")
	}
}

func TestRecordRejects(t *testing.T) {
	other, _ := served(t, 4, "other body", "answer 4")
	foreign := other
	foreign.SessionID = 10
	foreign, err := voucher.SignReceipt(foreign, signer(t))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		mutate func(*batchrecord.Record)
		want   string
	}{
		{"format", func(r *batchrecord.Record) { r.Format = "openledger/session-batch/v1" }, "format"},
		{"session 0", func(r *batchrecord.Record) { r.SessionID = 0 }, "must be positive"},
		{"top_k", func(r *batchrecord.Record) { r.TopK = batchrecord.MaxTopK + 1 }, "top_k"},
		{"from 0", func(r *batchrecord.Record) { r.FromRequest = 0 }, "from_request"},
		{"count beyond the requests", func(r *batchrecord.Record) { r.ReceiptCount = 6 }, "receipt count"},
		{"from beyond the count", func(r *batchrecord.Record) { r.FromRequest = 7 }, "receipt count"},
		{"prior too small", func(r *batchrecord.Record) { r.Prior = nil }, "prior accumulator holds 0"},
		{"prior garbage", func(r *batchrecord.Record) { r.Prior = []byte{1, 2, 3} }, "prior accumulator"},
		{"receipt garbage", func(r *batchrecord.Record) { r.Requests[1].Receipt = []byte("x") }, "request 4: receipt"},
		{"receipt out of place", func(r *batchrecord.Record) { r.Requests[0].Receipt = other.Marshal() }, "request 3"},
		{"receipt of another session", func(r *batchrecord.Record) { r.Requests[1].Receipt = foreign.Marshal() }, "session 10"},
		{"endpoint", func(r *batchrecord.Record) { r.Requests[2].Endpoint = "embeddings" }, "endpoint"},
		{"max tokens", func(r *batchrecord.Record) { r.Requests[2].MaxTokens = 0 }, "max_tokens"},
		{"body edited", func(r *batchrecord.Record) { r.Requests[0].Body = append(r.Requests[0].Body, ' ') }, "request sha256"},
		{"output edited", func(r *batchrecord.Record) { r.Requests[2].Output = []byte("answer 6") }, "output sha256"},
		{"correction of an uncovered request", func(r *batchrecord.Record) {
			r.Corrections = []batchrecord.Correction{{RequestSeq: 2}}
		}, "correction 0"},
		{"corrections out of order", func(r *batchrecord.Record) {
			ok := voucher.Summary{RecordSha256: strings.Repeat("cd", 32), Pools: []voucher.PoolEntry{{DatanetID: 1, Version: 1, Ppm: voucher.PpmScale}}}
			r.Corrections = []batchrecord.Correction{{RequestSeq: 4, RecordCID: "bafy", Summary: ok}, {RequestSeq: 4, RecordCID: "bafy", Summary: ok}}
		}, "correction 1"},
		{"correction summary not summing", func(r *batchrecord.Record) {
			bad := voucher.Summary{RecordSha256: strings.Repeat("cd", 32), Pools: []voucher.PoolEntry{{DatanetID: 1, Version: 1, Ppm: 5}}}
			r.Corrections = []batchrecord.Correction{{RequestSeq: 5, RecordCID: "bafy", Summary: bad}}
		}, "correction 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec, _ := fixture(t)
			tc.mutate(&rec)
			b, err := batchrecord.Encode(rec)
			if err != nil {
				t.Fatal(err)
			}
			_, err = batchrecord.Decode(b)
			if !errors.Is(err, batchrecord.ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode = %v, want ErrMalformed mentioning %q", err, tc.want)
			}
		})
	}
}

func TestDecodeStrict(t *testing.T) {
	rec, _ := fixture(t)
	b, err := batchrecord.Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["extra"] = 1
	extra, _ := json.Marshal(m)
	for name, in := range map[string][]byte{
		"unknown field": extra,
		"trailing data": append(append([]byte{}, b...), []byte(" {}")...),
		"not json":      []byte("{"),
	} {
		if _, err := batchrecord.Decode(in); !errors.Is(err, batchrecord.ErrMalformed) {
			t.Errorf("%s: Decode = %v, want ErrMalformed", name, err)
		}
	}
}

func TestAttributionsApplyCorrections(t *testing.T) {
	rec, _ := fixture(t)
	fixed := voucher.Summary{RecordSha256: strings.Repeat("cd", 32), Top: []voucher.TopEntry{{DatanetID: 1, Version: 1, ContributionID: 4, Ppm: voucher.PpmScale}}}
	rec.Corrections = []batchrecord.Correction{{RequestSeq: 4, RecordCID: "bafycorrected", Summary: fixed}}
	rs, err := rec.Receipts()
	if err != nil {
		t.Fatal(err)
	}
	at := rec.Attributions(rs)
	if at[1].RecordCID != "bafycorrected" || len(at[1].Summary.Top) != 1 || at[0].RecordCID == "bafycorrected" || len(rs[1].Summary.Top) != 0 {
		t.Fatalf("corrections applied wrongly: %+v", at)
	}
	merged := batchrecord.MergeSummaries(at, rec.TopK)
	if len(merged.Top) != 1 || merged.Top[0].ContributionId != 4 {
		t.Fatalf("merged %+v", merged)
	}
}
