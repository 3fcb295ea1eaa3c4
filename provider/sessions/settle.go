package sessions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/openledger/openledger/inference/batchrecord"
	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/internal/cheat"
	"github.com/openledger/openledger/provider/internal/failpoint"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// errUnattributed: the voucher cannot be settled yet (see settle).
var errUnattributed = errors.New("no attribution under the voucher's root")

// Kick makes the settlement loop run a pass now.
func (m *Manager) Kick() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Run settles sessions until ctx ends: every ScanInterval (and on Kick) each
// session with an unsettled voucher is settled when its unsettled amount
// reaches the threshold, when Interval has passed, when it is final, or when
// the height reaches expiry − margin. Every PruneInterval it runs a
// retention pass (Prune) when the chain and records support one.
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(m.cfg.ScanInterval)
	defer t.Stop()
	var prune <-chan time.Time
	if _, _, ok := m.pruner(); ok && m.cfg.PruneInterval > 0 {
		pt := time.NewTicker(m.cfg.PruneInterval)
		defer pt.Stop()
		prune = pt.C
	}
	for {
		if h, err := m.chain.Height(ctx); err == nil {
			m.height.Store(h)
		}
		m.SettleDue(ctx, false)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-m.kick:
		case <-prune:
			if res := m.Prune(ctx); res.Pruned+res.Unpinned > 0 {
				m.log.Info("retention pass", "pruned", res.Pruned, "unpinned", res.Unpinned)
			}
		}
	}
}

// SettleDue runs one settlement pass; all settles every unsettled session.
// It returns how many settlements were submitted.
func (m *Manager) SettleDue(ctx context.Context, all bool) int {
	var due []record
	now := m.now()
	h := m.height.Load()
	err := m.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSessions).ForEach(func(_, b []byte) error {
			var r record
			if err := json.Unmarshal(b, &r); err != nil {
				return err
			}
			if m.due(&r, now, h, all) {
				due = append(due, r)
			}
			return nil
		})
	})
	if err != nil {
		m.log.Error("settlement scan", "err", err)
		return 0
	}
	n := 0
	for _, r := range due {
		if ctx.Err() != nil {
			break
		}
		if err := m.settle(ctx, r); err != nil {
			m.stats.SettleFailures.Add(1)
			if errors.Is(err, errUnattributed) { // no transaction was sent: nothing to warn about at every pass
				m.log.Debug("settlement waits for a voucher naming attributed receipts", "session", r.ID, "sequence", r.LastSeq, "err", err)
				continue
			}
			m.log.Warn("settlement failed; retried at the next pass", "session", r.ID, "sequence", r.LastSeq, "err", err)
			continue
		}
		n++
	}
	return n
}

// due reports whether a pass settles the session's voucher (all: any
// unsettled voucher).
func (m *Manager) due(r *record, now time.Time, h int64, all bool) bool {
	// A session that served nothing (its requests interrupted before a
	// receipt) has nothing to attribute a royalty to: it is not settled and
	// the deposit goes back to the requester at the close.
	if r.Closed || r.LastSeq <= r.SettledSeq || r.Count == 0 {
		return false
	}
	unsettled := intOr0(r.VAmount).Sub(intOr0(r.SettledAmount))
	return all || r.Final || unsettled.GTE(m.cfg.Threshold) ||
		!r.UnsettledAt.IsZero() && now.Sub(r.UnsettledAt) >= m.cfg.Interval ||
		h > 0 && r.ExpiryHeight > 0 && h >= r.ExpiryHeight-m.cfg.ExpiryMargin
}

func (m *Manager) settle(ctx context.Context, r record) error {
	v, err := voucher.DecodeVoucher(r.Voucher)
	if err != nil {
		return fmt.Errorf("stored voucher: %w", err)
	}
	info, err := m.chain.Session(ctx, r.ID)
	if err != nil {
		return err
	}
	if info.LastSequence >= v.Sequence { // settled before a crash, or by hand
		return m.markSettled(r.ID, v, info.Open)
	}
	if !info.Open {
		return m.markSettled(r.ID, v, false)
	}
	from := min(r.SettledCount, v.ReceiptCount) + 1
	rs, err := m.receiptRange(r.ID, from, v.ReceiptCount)
	if err != nil {
		return err
	}
	summary := batchrecord.MergeSummaries(rs, m.cfg.TopK)
	if len(summary.Top)+len(summary.Pools) == 0 && v.CumulativeAmount.GT(intOr0(r.SettledAmount)) && from > 1 {
		// The voucher pays for requests whose receipts it does not name (the
		// request it came with, interrupted ones): the chain needs an
		// attribution for that royalty, and it follows every request under
		// the voucher's root (never a later receipt: the record must give
		// the voucher's root).
		all, err := m.receiptRange(r.ID, 1, v.ReceiptCount)
		if err != nil {
			return err
		}
		if s := batchrecord.MergeSummaries(all, m.cfg.TopK); len(s.Top)+len(s.Pools) > 0 {
			rs, summary, from = all, s, 1
		}
	}
	h := m.height.Load()
	nearExpiry := h > 0 && r.ExpiryHeight > 0 && h >= r.ExpiryHeight-m.cfg.ExpiryMargin
	if len(summary.Top)+len(summary.Pools) == 0 && v.CumulativeAmount.GT(intOr0(r.SettledAmount)) && v.ReceiptCount < r.Count && !nearExpiry {
		// The receipts that carry an attribution are not under this voucher's
		// root: a later voucher naming them (the requester's acknowledgement,
		// its next request's or its final one) settles with their
		// attribution. Near expiry, or when none comes, the voucher is settled
		// with an empty summary: the chain then pays the royalty to the
		// deployment's dataset pools by its table (ADR 003), and the provider
		// is paid for what it served.
		later, err := m.receiptRange(r.ID, v.ReceiptCount+1, r.Count)
		if err != nil {
			return err
		}
		if s := batchrecord.MergeSummaries(later, m.cfg.TopK); len(s.Top)+len(s.Pools) > 0 {
			return fmt.Errorf("%w: voucher %d pays %s but the %d receipts it names carry no attribution (%d served)",
				errUnattributed, v.Sequence, v.CumulativeAmount.Sub(intOr0(r.SettledAmount)), v.ReceiptCount, r.Count)
		}
	}
	body, err := m.batchRecord(r.ID, v, from, rs)
	if err != nil {
		return fmt.Errorf("batch record of session %d voucher %d: %w", r.ID, v.Sequence, err)
	}
	if m.records == nil {
		return errors.New("no record store to put the batch record on")
	}
	cid, err := m.records.Add(ctx, body)
	if err != nil {
		return fmt.Errorf("batch record: %w", err)
	}
	if err := m.notePublished(r.ID, cid); err != nil { // so that the retention pass unpins it
		return fmt.Errorf("batch record %s: %w", cid, err)
	}
	sum := sha256.Sum256(body)
	if len(summary.Top)+len(summary.Pools) > 0 {
		summary.RecordSha256 = hex.EncodeToString(sum[:])
	}
	summary = cheat.SettlementSummary(summary) // test-only lie, the record stays honest: inert unless armed
	msg := &inferencetypes.MsgSettleSession{
		Provider: m.cfg.Operator, SessionId: r.ID, RecordCid: cid, Summary: summary,
		Voucher: inferencetypes.Voucher{
			Sequence: v.Sequence, CumulativeAmount: v.CumulativeAmount, CumulativeTokens: v.CumulativeTokens,
			ReceiptCount: v.ReceiptCount, ReceiptsRoot: v.ReceiptsRoot[:], Signature: v.Signature,
		},
	}
	failpoint.Hit("sessions.settling")
	if err := m.chain.Settle(ctx, msg); err != nil {
		if errors.Is(err, inferencetypes.ErrStaleVoucher) {
			if info, ierr := m.chain.Session(ctx, r.ID); ierr == nil && info.LastSequence >= v.Sequence {
				return m.markSettled(r.ID, v, info.Open)
			}
		}
		return err
	}
	failpoint.Hit("sessions.settled")
	m.stats.Settlements.Add(1)
	m.log.Info("session settled", "session", r.ID, "sequence", v.Sequence, "amount", v.CumulativeAmount, "tokens", v.CumulativeTokens, "requests", v.ReceiptCount, "record", cid)
	return m.markSettled(r.ID, v, true)
}

func (m *Manager) markSettled(id uint64, v voucher.Voucher, open bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var rec record
	if l := m.sessions[id]; l != nil {
		rec = l.rec
	} else {
		r, found, err := m.loadRecord(id)
		if err != nil || !found {
			return fmt.Errorf("session %d record: %v", id, err)
		}
		rec = r
	}
	if v.Sequence > rec.SettledSeq {
		rec.SettledSeq, rec.SettledCount, rec.SettledAmount = v.Sequence, v.ReceiptCount, v.CumulativeAmount.String()
		rec.SettledAt = m.now().UTC()
	}
	rec.UnsettledAt = time.Time{}
	if rec.LastSeq > rec.SettledSeq {
		rec.UnsettledAt = m.now().UTC()
	}
	rec.Closed = !open
	if err := m.db.Update(func(tx *bolt.Tx) error { return putRecord(tx, &rec) }); err != nil {
		return err
	}
	if l := m.sessions[id]; l != nil {
		l.rec = rec
	}
	return nil
}
