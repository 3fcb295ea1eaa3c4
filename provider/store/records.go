package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// ----- receipts built but not included -----

// Receipt is a signed receipt waiting for inclusion: Body is the canonical
// encoding (inference/voucher Receipt.Marshal), Msg the encoded MsgSubmitReceipt.
type Receipt struct {
	JobID     uint64    `json:"job_id"`
	Body      []byte    `json:"body"`
	Msg       []byte    `json:"msg,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// PutReceipt stores (or replaces) the receipt of a job.
func (t *Tx) PutReceipt(r Receipt) error {
	if r.JobID == 0 || len(r.Body) == 0 {
		return fmt.Errorf("put receipt: job id and body are required")
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = t.now
	}
	return putJSON(t.tx.Bucket(bucketReceipts), u64(r.JobID), r)
}

// Receipt returns a job's stored receipt.
func (t *Tx) Receipt(jobID uint64) (Receipt, error) {
	var r Receipt
	ok, err := getJSON(t.tx.Bucket(bucketReceipts), u64(jobID), &r)
	if err != nil {
		return Receipt{}, err
	}
	if !ok {
		return Receipt{}, fmt.Errorf("receipt of job %d: %w", jobID, ErrNotFound)
	}
	return r, nil
}

// DeleteReceipt forgets a receipt once included.
func (t *Tx) DeleteReceipt(jobID uint64) error {
	return t.tx.Bucket(bucketReceipts).Delete(u64(jobID))
}

// Receipts lists the stored receipts by job id.
func (t *Tx) Receipts() ([]Receipt, error) {
	var out []Receipt
	err := t.tx.Bucket(bucketReceipts).ForEach(func(k, v []byte) error {
		var r Receipt
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("%w: receipt %x: %v", ErrCorrupt, k, err)
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// ----- pending transactions -----

// PendingTx is a signed transaction broadcast (or about to be) and not yet seen
// in a block: on restart it is re-broadcast or its fate looked up by hash.
type PendingTx struct {
	// Hash is the upper-case hex sha256 of Body.
	Hash     string `json:"hash"`
	Sequence uint64 `json:"sequence"`
	// Body is the signed tx bytes.
	Body []byte `json:"body"`
	// Note says what the tx does, e.g. "bid job 7".
	Note      string    `json:"note,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// PutPendingTx records a pending tx.
func (t *Tx) PutPendingTx(p PendingTx) error {
	if p.Hash == "" || len(p.Body) == 0 {
		return fmt.Errorf("put pending tx: hash and body are required")
	}
	p.Hash = strings.ToUpper(p.Hash)
	if p.CreatedAt.IsZero() {
		p.CreatedAt = t.now
	}
	return putJSON(t.tx.Bucket(bucketTxs), []byte(p.Hash), p)
}

// DeletePendingTx forgets a pending tx (included, or known failed).
func (t *Tx) DeletePendingTx(hash string) error {
	return t.tx.Bucket(bucketTxs).Delete([]byte(strings.ToUpper(hash)))
}

// PendingTxs lists pending txs by sequence.
func (t *Tx) PendingTxs() ([]PendingTx, error) {
	var out []PendingTx
	err := t.tx.Bucket(bucketTxs).ForEach(func(k, v []byte) error {
		var p PendingTx
		if err := json.Unmarshal(v, &p); err != nil {
			return fmt.Errorf("%w: pending tx %s: %v", ErrCorrupt, k, err)
		}
		out = append(out, p)
		return nil
	})
	sortBySeq(out)
	return out, err
}

// SavePendingTx records a pending tx in its own committed transaction. With
// DeletePendingTx it makes *Store a chainclient.Journal.
func (s *Store) SavePendingTx(hash string, sequence uint64, body []byte, note string) error {
	return s.Update(func(t *Tx) error {
		return t.PutPendingTx(PendingTx{Hash: hash, Sequence: sequence, Body: body, Note: note})
	})
}

// DeletePendingTx forgets a pending tx in its own committed transaction.
func (s *Store) DeletePendingTx(hash string) error {
	return s.Update(func(t *Tx) error { return t.DeletePendingTx(hash) })
}

// PendingTxs lists pending txs by sequence.
func (s *Store) PendingTxs() (out []PendingTx, err error) {
	err = s.View(func(t *Tx) error { out, err = t.PendingTxs(); return err })
	return out, err
}

// ----- follower inbox -----

// Places of block-level events in EventKey.TxIndex: BeginBlock (and PreBlock)
// events sort before the block's txs, EndBlock events after them.
const (
	TxIndexBeginBlock int32 = -1
	TxIndexEndBlock   int32 = math.MaxInt32 - 1
)

// EventKey identifies one chain event: its block height, its place in the block
// (TxIndexBeginBlock, the tx's index, or TxIndexEndBlock) and its index among
// that tx's (or the block's finalize_block_events) events. Byte order of keys is
// the chain's execution order.
type EventKey struct {
	Height     int64 `json:"height"`
	TxIndex    int32 `json:"tx_index"`
	EventIndex int32 `json:"event_index"`
}

func (k EventKey) String() string {
	return fmt.Sprintf("%d/%d/%d", k.Height, k.TxIndex, k.EventIndex)
}

// Bytes encodes the key so that byte order is chain order (block-level events,
// TxIndex -1, sort before the block's txs).
func (k EventKey) Bytes() []byte {
	b := make([]byte, 0, 16)
	b = binary.BigEndian.AppendUint64(b, uint64(k.Height))
	b = binary.BigEndian.AppendUint32(b, uint32(k.TxIndex+1))
	b = binary.BigEndian.AppendUint32(b, uint32(k.EventIndex))
	return b
}

// ParseEventKey decodes EventKey.Bytes.
func ParseEventKey(b []byte) (EventKey, error) {
	if len(b) != 16 {
		return EventKey{}, fmt.Errorf("%w: event key of %d bytes", ErrCorrupt, len(b))
	}
	return EventKey{
		Height:     int64(binary.BigEndian.Uint64(b[:8])),
		TxIndex:    int32(binary.BigEndian.Uint32(b[8:12])) - 1,
		EventIndex: int32(binary.BigEndian.Uint32(b[12:])),
	}, nil
}

// InboxEvent is an event the follower accepted and has not yet delivered.
type InboxEvent struct {
	Key EventKey `json:"key"`
	// TxHash of the tx that emitted it (empty for block-level events).
	TxHash string `json:"tx_hash,omitempty"`
	// Type is the ABCI event type (a typed event's proto full name).
	Type string `json:"type"`
	// ABCI is the gogoproto encoding of the abci.Event.
	ABCI []byte `json:"abci"`
	// Attempts counts failed deliveries.
	Attempts uint32 `json:"attempts,omitempty"`
}

// PutEvent adds an event to the inbox; an event already there is kept as is.
func (t *Tx) PutEvent(e InboxEvent) error {
	b := t.tx.Bucket(bucketInbox)
	if b.Get(e.Key.Bytes()) != nil {
		return nil
	}
	return putJSON(b, e.Key.Bytes(), e)
}

// AckEvent removes a delivered event from the inbox. Acking inside the handler's
// own Update makes the handler's effect and the delivery one atomic step.
func (t *Tx) AckEvent(k EventKey) error { return t.tx.Bucket(bucketInbox).Delete(k.Bytes()) }

// HasEvent reports whether an event is still in the inbox (not acked).
func (t *Tx) HasEvent(k EventKey) bool { return t.tx.Bucket(bucketInbox).Get(k.Bytes()) != nil }

// NoteEventFailure counts a failed delivery.
func (t *Tx) NoteEventFailure(k EventKey) (uint32, error) {
	b := t.tx.Bucket(bucketInbox)
	var e InboxEvent
	ok, err := getJSON(b, k.Bytes(), &e)
	if err != nil || !ok {
		return 0, err
	}
	e.Attempts++
	return e.Attempts, putJSON(b, k.Bytes(), e)
}

// Events returns up to limit inbox events in chain order.
func (t *Tx) Events(limit int) ([]InboxEvent, error) {
	var out []InboxEvent
	c := t.tx.Bucket(bucketInbox).Cursor()
	for k, v := c.First(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
		var e InboxEvent
		if err := json.Unmarshal(v, &e); err != nil {
			return out, fmt.Errorf("%w: inbox %x: %v", ErrCorrupt, k, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// AcceptBlock stores a block's accepted events in the inbox and advances the
// processed height to h, atomically: a block is either wholly accepted or not at
// all. A block at or below the stored height is skipped (returns false), so no
// event is accepted twice; a block beyond the next one is ErrHeightGap (the first
// block accepted into an empty store may be any height).
func (s *Store) AcceptBlock(h int64, events []InboxEvent) (accepted bool, err error) {
	err = s.Update(func(t *Tx) error {
		cur, err := t.Height()
		if err != nil {
			return err
		}
		if h <= cur {
			return nil
		}
		if cur > 0 && h != cur+1 {
			return fmt.Errorf("%w: block %d after %d", ErrHeightGap, h, cur)
		}
		for _, e := range events {
			if e.Key.Height != h {
				return fmt.Errorf("event %s is not of block %d", e.Key, h)
			}
			if err := t.PutEvent(e); err != nil {
				return err
			}
		}
		accepted = true
		return t.SetHeight(h)
	})
	return accepted, err
}
