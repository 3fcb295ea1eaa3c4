package sessions

import (
	"crypto/sha256"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/internal/failpoint"
)

// Served is a finished generation, for its receipt.
type Served struct {
	OutputCID                      string
	OutputSHA256                   [32]byte
	PromptTokens, CompletionTokens uint64
	EngineName, EngineVersion      string
	ModelID, ModelVersion          uint64
	RecordCID                      string
	Summary                        voucher.Summary
	// The request's transcript, stored with its receipt (Transcript): the
	// endpoint (batchrecord.EndpointChat or EndpointCompletions), the
	// completion cap applied, the exact request body (the receipt signs its
	// sha256) and the exact output (hashing to OutputSHA256).
	Endpoint     string
	MaxTokens    uint64
	Body, Output []byte
}

// Complete signs the request's receipt and commits it with its transcript,
// the served tokens and the accumulator in one transaction; it releases the
// session.
func (t *Ticket) Complete(s Served) (voucher.Receipt, error) {
	if t.done {
		return voucher.Receipt{}, ErrCompleted
	}
	// The output has been streamed; its receipt is not committed yet.
	failpoint.Hit("sessions.generated")
	m := t.m
	tr, err := s.transcript()
	if err != nil {
		t.Abort()
		return voucher.Receipt{}, err
	}
	r, err := voucher.SignReceipt(voucher.Receipt{
		ChainID: m.cfg.ChainID, Provider: m.cfg.Operator, SessionID: t.id, RequestSeq: t.seq,
		RequestSHA256: sha256.Sum256(s.Body), OutputCID: s.OutputCID, OutputSHA256: s.OutputSHA256, PromptTokens: s.PromptTokens, CompletionTokens: s.CompletionTokens,
		EngineName: s.EngineName, EngineVersion: s.EngineVersion, ModelID: s.ModelID, ModelVersion: s.ModelVersion,
		RecordCID: s.RecordCID, Summary: s.Summary,
	}, m.key)
	if err != nil {
		t.Abort()
		return voucher.Receipt{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t.done = true
	l := m.sessions[t.id]
	defer func() { l.inflight = false }()
	rec := l.rec
	acc, err := rec.acc()
	if err != nil {
		return voucher.Receipt{}, err
	}
	acc.Append(r.LeafHash())
	if rec.Acc, err = acc.MarshalBinary(); err != nil {
		return voucher.Receipt{}, err
	}
	rec.Count++
	rec.Served += s.PromptTokens + s.CompletionTokens
	if err := m.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketReceipts).Put(receiptKey(t.id, r.RequestSeq), r.Marshal()); err != nil {
			return err
		}
		if err := putTranscript(tx, t.id, r.RequestSeq, tr); err != nil {
			return err
		}
		return putRecord(tx, &rec)
	}); err != nil {
		return voucher.Receipt{}, fmt.Errorf("sessions: persist receipt: %w", err)
	}
	failpoint.Hit("sessions.receipt_committed")
	l.rec = rec
	m.stats.Receipts.Add(1)
	return r, nil
}

// Abort releases the session without a receipt (the request failed).
func (t *Ticket) Abort() {
	if t.done {
		return
	}
	t.done = true
	t.m.mu.Lock()
	if l := t.m.sessions[t.id]; l != nil {
		l.inflight = false
	}
	t.m.mu.Unlock()
}
