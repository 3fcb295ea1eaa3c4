package batchrecord_test

import (
	"bytes"
	"crypto/sha256"
	"reflect"
	"testing"

	"github.com/openledger/openledger/inference/batchrecord"
	"github.com/openledger/openledger/inference/voucher"
)

// seedRecord is a valid two-request record (receipts 2 and 3 after one prior
// receipt), with a correction of request 3.
func seedRecord(t testing.TB) []byte {
	t.Helper()
	receipt := func(seq uint64, body, out []byte) voucher.Receipt {
		return voucher.Receipt{ChainID: "openledger-1", Provider: "open1provider", SessionID: 4, RequestSeq: seq,
			RequestSHA256: sha256.Sum256(body), OutputCID: "bafkreioutput", OutputSHA256: sha256.Sum256(out),
			PromptTokens: 5, CompletionTokens: 7, EngineName: "openledger-cpu", EngineVersion: "1", ModelID: 1, ModelVersion: 2,
			RecordCID: "bafkreirecord", Summary: voucher.Summary{RecordSha256: "ab" + string(bytes.Repeat([]byte("0"), 62)),
				Top: []voucher.TopEntry{{DatanetID: 1, Version: 1, ContributionID: 3, Ppm: 1_000_000}}},
			Signature: bytes.Repeat([]byte{7}, voucher.SignatureSize)}
	}
	var prior voucher.Accumulator
	prior.Append(receipt(1, []byte("{}"), []byte("a")).LeafHash())
	pb, err := prior.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	rec := batchrecord.Record{SessionID: 4, Sequence: 2, ReceiptCount: 3, TopK: 4, FromRequest: 2, Prior: pb}
	for _, seq := range []uint64{2, 3} {
		body, out := []byte(`{"model":"1","prompt":"hi","max_tokens":8}`), []byte("there")
		endpoint := batchrecord.EndpointCompletions
		if seq == 3 {
			body, out, endpoint = []byte(`{"model":"1","messages":[{"role":"user","content":"hi"}]}`), []byte("ok"), batchrecord.EndpointChat
		}
		rec.Requests = append(rec.Requests, batchrecord.Request{Receipt: receipt(seq, body, out).Marshal(), Endpoint: endpoint,
			MaxTokens: 8, Body: body, Output: out})
	}
	rec.Corrections = []batchrecord.Correction{{RequestSeq: 3, RecordCID: "bafkreiother", Summary: voucher.Summary{
		RecordSha256: "cd" + string(bytes.Repeat([]byte("0"), 62)), Pools: []voucher.PoolEntry{{DatanetID: 1, Version: 1, Ppm: 1_000_000}}}}}
	b, err := batchrecord.Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := batchrecord.Decode(b); err != nil {
		t.Fatalf("the seed record does not decode: %v", err)
	}
	return b
}

// FuzzDecode: Decode never panics; a record it accepts validates, re-encodes
// to bytes that decode to the same record, and gives a root over its
// receipts; a mutated record is either refused or decodes consistently.
// The seed record is a few kB, so minimizing each new input is slow: run with
//
//	go test ./inference/batchrecord -run '^$' -fuzz FuzzDecode -fuzztime 60s -fuzzminimizetime 1x
func FuzzDecode(f *testing.F) {
	valid := seedRecord(f)
	f.Add(valid)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"format":"openledger/session-batch/v2"}`))
	f.Add([]byte(`not json`))
	f.Add(append(append([]byte(nil), valid...), ' ', '{', '}'))
	f.Add(bytes.Replace(valid, []byte(`"top_k":4`), []byte(`"top_k":-1`), 1))
	f.Add(bytes.Replace(valid, []byte(`"from_request":"2"`), []byte(`"from_request":"1"`), 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := batchrecord.Decode(b)
		if err != nil {
			return
		}
		receipts, err := rec.Receipts()
		if err != nil {
			t.Fatalf("Decode accepted a record whose Receipts fails: %v", err)
		}
		if len(receipts) != len(rec.Requests) {
			t.Fatalf("%d receipts for %d requests", len(receipts), len(rec.Requests))
		}
		again, err := batchrecord.Encode(rec)
		if err != nil {
			t.Fatal(err)
		}
		back, err := batchrecord.Decode(again)
		if err != nil {
			t.Fatalf("a decoded record does not decode after re-encoding: %v", err)
		}
		if !reflect.DeepEqual(normal(back), normal(rec)) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", rec, back)
		}
		prior, err := rec.PriorAccumulator()
		if err != nil {
			t.Fatal(err)
		}
		_ = batchrecord.Root(prior, receipts)
		atts := rec.Attributions(receipts)
		if len(atts) != len(receipts) {
			t.Fatalf("%d attributions for %d receipts", len(atts), len(receipts))
		}
		_ = batchrecord.MergeSummaries(atts, rec.TopK)
	})
}

// normal maps empty slices to nil (JSON decodes [] and null alike for the
// comparison's purpose).
func normal(r batchrecord.Record) batchrecord.Record {
	if len(r.Prior) == 0 {
		r.Prior = nil
	}
	if len(r.Requests) == 0 {
		r.Requests = nil
	}
	if len(r.Corrections) == 0 {
		r.Corrections = nil
	}
	for i := range r.Requests {
		q := &r.Requests[i]
		if len(q.Body) == 0 {
			q.Body = nil
		}
		if len(q.Output) == 0 {
			q.Output = nil
		}
		if len(q.Receipt) == 0 {
			q.Receipt = nil
		}
	}
	for i := range r.Corrections {
		s := &r.Corrections[i].Summary
		if len(s.Top) == 0 {
			s.Top = nil
		}
		if len(s.Pools) == 0 {
			s.Pools = nil
		}
	}
	return r
}
