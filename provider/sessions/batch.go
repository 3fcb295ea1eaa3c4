package sessions

import (
	"errors"
	"fmt"

	"github.com/openledger/openledger/inference/batchrecord"
	"github.com/openledger/openledger/inference/voucher"
)

// receiptRange returns the session's stored receipts from..to (1-based,
// inclusive; none when to < from), all of them or an error.
func (m *Manager) receiptRange(id, from, to uint64) ([]voucher.Receipt, error) {
	if to < from {
		return nil, nil
	}
	rs, err := m.Receipts(id, from-1, int(to-from+1))
	if err != nil {
		return nil, err
	}
	if uint64(len(rs)) != to-from+1 {
		return nil, fmt.Errorf("session %d: %d receipts stored of requests %d..%d", id, len(rs), from, to)
	}
	return rs, nil
}

// batchRecord builds, checks and encodes a settlement's batch record
// (inference/batchrecord): the receipts rs of requests from..v.ReceiptCount
// with their transcripts, and the accumulator of the receipts before them,
// rebuilt from the store. The record must validate and give the voucher's
// receipts root, or the settlement is not submitted.
func (m *Manager) batchRecord(id uint64, v voucher.Voucher, from uint64, rs []voucher.Receipt) ([]byte, error) {
	rec := batchrecord.Record{
		Format: batchrecord.Format, SessionID: id, Sequence: v.Sequence, ReceiptCount: v.ReceiptCount,
		TopK: m.cfg.TopK, FromRequest: from, Requests: make([]batchrecord.Request, 0, len(rs)),
	}
	before, err := m.receiptRange(id, 1, from-1)
	if err != nil {
		return nil, err
	}
	var prior voucher.Accumulator
	for _, rc := range before {
		prior.Append(rc.LeafHash())
	}
	if rec.Prior, err = prior.MarshalBinary(); err != nil {
		return nil, err
	}
	for _, rc := range rs {
		t, err := m.Transcript(id, rc.RequestSeq)
		if err != nil {
			return nil, err
		}
		rec.Requests = append(rec.Requests, batchrecord.Request{
			Receipt: rc.Marshal(), Endpoint: t.Endpoint, MaxTokens: t.MaxTokens, Body: t.Body, Output: t.Output,
		})
	}
	got, err := rec.Receipts()
	if err != nil {
		return nil, fmt.Errorf("the record does not validate: %w", err)
	}
	if root := batchrecord.Root(prior, got); root != v.ReceiptsRoot {
		return nil, errors.New("the record's receipts do not give the voucher's receipts root")
	}
	return batchrecord.Encode(rec)
}
