// Package batchrecord is the record a provider publishes on IPFS with each
// session settlement (x/inference MsgSettleSession.record_cid): the signed
// receipts of the requests the settlement covers, each with the exact request
// body and output it was served from, and the receipts accumulator before the
// first of them. With it anyone can check a settlement without the requester's
// help (ADR 006, "Session settlements"):
//
//   - the receipts are the provider's, signed by its registered peer key, and
//     they are the ones the requester's voucher committed to: the accumulator
//     plus their leaves gives the settlement's receipts root (Record.Root);
//   - each request's body and output hash to the digests its receipt signs
//     (the requester checked the body digest against what it sent), so a
//     verifier can re-execute the request, recount its tokens and re-attribute
//     its output;
//   - the settlement's summary is MergeSummaries of the receipts' summaries.
//
// The record's sha256 is the settlement summary's record_sha256 whenever the
// summary is not empty. Its encoding is JSON with the fields below, in order
// ([]byte fields in standard base64); Decode is strict.
//
// Publishing the bodies and outputs makes a session's transcripts public, as
// a job's input and output already are: verification needs them.
package batchrecord

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/openledger/openledger/inference/voucher"
)

// Format is the current record format.
const Format = "openledger/session-batch/v2"

// Endpoints a request may have been served on.
const (
	EndpointChat        = "chat"        // POST /v1/chat/completions
	EndpointCompletions = "completions" // POST /v1/completions
)

// MaxTopK bounds a record's top_k (a receipt summary's entries are bounded the same way).
const MaxTopK = voucher.MaxSummaryEntries

// ErrMalformed wraps every decoding and consistency error.
var ErrMalformed = errors.New("batchrecord: malformed record")

// Record is a settlement's batch record.
type Record struct {
	// Format is the constant Format.
	Format string `json:"format"`
	// SessionID and Sequence name the session and the settled voucher.
	SessionID uint64 `json:"session_id,string"`
	Sequence  uint64 `json:"voucher_sequence,string"`
	// ReceiptCount is the voucher's receipt count: the leaves under its root.
	ReceiptCount uint64 `json:"receipt_count,string"`
	// TopK is the number of contributions the settlement's summary keeps by
	// name (MergeSummaries); the rest fold into their pools.
	TopK int `json:"top_k"`
	// FromRequest is the request sequence of Requests[0] (1-based); the
	// requests run contiguously from it to ReceiptCount.
	FromRequest uint64 `json:"from_request,string"`
	// Prior is the receipts accumulator (voucher.Accumulator.MarshalBinary)
	// of requests 1 .. FromRequest−1.
	Prior []byte `json:"prior_accumulator"`
	// Requests are the covered requests in sequence order.
	Requests []Request `json:"requests"`
	// Corrections, when present, replace the attribution of some requests:
	// a committee's recomputed record of a settlement whose attribution was
	// found wrong (the receipts stay the provider's, signed as they were).
	Corrections []Correction `json:"corrections,omitempty"`
}

// Request is one served request.
type Request struct {
	// Receipt is the provider's signed receipt (voucher canonical wire form).
	Receipt []byte `json:"receipt"`
	// Endpoint is EndpointChat or EndpointCompletions.
	Endpoint string `json:"endpoint"`
	// MaxTokens is the completion cap the provider applied (the body's
	// max_tokens, or the provider's default when the body has none).
	MaxTokens uint64 `json:"max_tokens,string"`
	// Body is the exact request body; its sha256 is the receipt's RequestSHA256.
	Body []byte `json:"body"`
	// Output is the exact output; its sha256 is the receipt's OutputSHA256.
	Output []byte `json:"output"`
}

// Correction replaces one request's attribution.
type Correction struct {
	RequestSeq uint64          `json:"request_seq,string"`
	RecordCID  string          `json:"record_cid"`
	Summary    voucher.Summary `json:"summary"`
}

// Encode returns the record's canonical bytes.
func Encode(r Record) ([]byte, error) {
	if r.Format == "" {
		r.Format = Format
	}
	return json.Marshal(r)
}

// Decode parses a record strictly (no unknown fields, nothing after it) and
// checks its internal consistency (Receipts). It does not verify signatures.
func Decode(b []byte) (Record, error) {
	r, _, err := DecodeReceipts(b)
	return r, err
}

// DecodeReceipts is Decode that also returns the record's decoded receipts
// (Record.Receipts), so a caller that needs them decodes them once.
func DecodeReceipts(b []byte) (Record, []voucher.Receipt, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r Record
	if err := dec.Decode(&r); err != nil {
		return Record{}, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if dec.More() {
		return Record{}, nil, fmt.Errorf("%w: data after the record", ErrMalformed)
	}
	receipts, err := r.Receipts()
	if err != nil {
		return Record{}, nil, err
	}
	return r, receipts, nil
}

// Receipts validates the record and returns its decoded receipts, one per
// request: the record's format, the contiguous sequence from FromRequest to
// ReceiptCount, the prior accumulator's size, each receipt decoding strictly
// and naming this session and its position, each body and output hashing to
// the receipt's digests, known endpoints, and corrections naming covered
// requests in increasing order with valid summaries.
func (r Record) Receipts() ([]voucher.Receipt, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
	switch {
	case r.Format != Format:
		return nil, bad("format %q, want %q", r.Format, Format)
	case r.SessionID == 0 || r.Sequence == 0:
		return nil, bad("session id and voucher sequence must be positive")
	case r.TopK < 0 || r.TopK > MaxTopK:
		return nil, bad("top_k %d out of [0, %d]", r.TopK, MaxTopK)
	case r.FromRequest == 0:
		return nil, bad("from_request must be at least 1")
	case r.FromRequest-1 > r.ReceiptCount || uint64(len(r.Requests)) != r.ReceiptCount-(r.FromRequest-1):
		return nil, bad("%d requests from %d do not end at the voucher's receipt count %d", len(r.Requests), r.FromRequest, r.ReceiptCount)
	}
	prior, err := r.PriorAccumulator()
	if err != nil {
		return nil, err
	}
	if prior.Len() != r.FromRequest-1 {
		return nil, bad("the prior accumulator holds %d receipts, want %d", prior.Len(), r.FromRequest-1)
	}
	out := make([]voucher.Receipt, len(r.Requests))
	for i, q := range r.Requests {
		seq := r.FromRequest + uint64(i)
		rc, err := voucher.UnmarshalReceipt(q.Receipt)
		if err != nil {
			return nil, bad("request %d: receipt: %v", seq, err)
		}
		switch {
		case rc.SessionID != r.SessionID || rc.RequestSeq != seq:
			return nil, bad("request %d: the receipt is of session %d request %d", seq, rc.SessionID, rc.RequestSeq)
		case q.Endpoint != EndpointChat && q.Endpoint != EndpointCompletions:
			return nil, bad("request %d: endpoint %q", seq, q.Endpoint)
		case q.MaxTokens == 0:
			return nil, bad("request %d: max_tokens must be positive", seq)
		case sha256.Sum256(q.Body) != rc.RequestSHA256:
			return nil, bad("request %d: the body does not hash to the receipt's request sha256", seq)
		case sha256.Sum256(q.Output) != rc.OutputSHA256:
			return nil, bad("request %d: the output does not hash to the receipt's output sha256", seq)
		}
		out[i] = rc
	}
	last := uint64(0)
	for i, c := range r.Corrections {
		if c.RequestSeq <= last || c.RequestSeq < r.FromRequest || c.RequestSeq > r.ReceiptCount {
			return nil, bad("correction %d names request %d: not a covered request in increasing order", i, c.RequestSeq)
		}
		last = c.RequestSeq
		probe := voucher.Receipt{RecordCID: c.RecordCID, Summary: c.Summary}
		if err := probe.ValidateSummary(); err != nil {
			return nil, bad("correction %d: %v", i, err)
		}
	}
	return out, nil
}

// PriorAccumulator decodes Prior (an empty Prior is the empty tree).
func (r Record) PriorAccumulator() (voucher.Accumulator, error) {
	var a voucher.Accumulator
	if len(r.Prior) == 0 {
		return a, nil
	}
	if err := a.UnmarshalBinary(r.Prior); err != nil {
		return a, fmt.Errorf("%w: prior accumulator: %v", ErrMalformed, err)
	}
	return a, nil
}

// Root returns the receipts root the record's receipts give: the prior
// accumulator with each receipt's leaf appended. A settlement's record must
// give the settlement's (the voucher's) root.
func Root(prior voucher.Accumulator, receipts []voucher.Receipt) [32]byte {
	a := prior
	for _, rc := range receipts {
		a.Append(rc.LeafHash())
	}
	return a.Root()
}

// Attributions returns each request's attribution as the settlement merges
// it: the receipt's summary, or its correction's when the record has one.
func (r Record) Attributions(receipts []voucher.Receipt) []voucher.Receipt {
	out := make([]voucher.Receipt, len(receipts))
	copy(out, receipts)
	for _, c := range r.Corrections {
		i := c.RequestSeq - r.FromRequest
		if i < uint64(len(out)) {
			out[i].RecordCID, out[i].Summary = c.RecordCID, c.Summary
		}
	}
	return out
}
