package sessions

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// Retention (provider/README.md, "State"): a session's receipts and
// transcripts are kept while it is open, and its published batch records
// while one of its settlements can still be disputed (ADR 006). Once the
// chain says the session is closed and every settlement of it is FINALIZED
// or VOIDED, a retention pass deletes the receipts and transcripts, unpins
// the batch records and marks the session's small record pruned; the record
// stays, so State still answers and nothing is reprocessed.

var (
	// bucketPublished holds (session id, cid) of every batch record the
	// provider published for a session it has not pruned.
	bucketPublished = []byte("session_published")
	// bucketUnpins holds (session id, cid) of the batch records of pruned
	// sessions still to unpin (a crash or a failed unpin leaves them here).
	bucketUnpins = []byte("session_unpins")
)

const (
	// prunePerPass bounds the sessions a pass examines (one or two chain
	// queries each).
	prunePerPass = 100
	// unpinsPerPass bounds the pending unpins a pass retries.
	unpinsPerPass = 1000
)

// Settlement is what the chain says about one settlement of a session.
type Settlement struct {
	ID        uint64
	RecordCID string
	Status    inferencetypes.SettlementStatus
}

// SettlementChain lists a session's settlements (every page); a Chain that
// implements it lets the retention pass run.
type SettlementChain interface {
	Settlements(ctx context.Context, sessionID uint64) ([]Settlement, error)
}

// Unpinner releases a batch record that Records.Add pinned; unpinning a
// record that is no longer pinned is not an error. Records that implement it
// let the retention pass run.
type Unpinner interface {
	Unpin(ctx context.Context, cid string) error
}

// PruneResult is what a retention pass did.
type PruneResult struct {
	// Pruned sessions had their receipts and transcripts deleted.
	Pruned int
	// Unpinned batch records.
	Unpinned int
}

func publishedKey(id uint64, cid string) []byte { return append(sessionKey(id), cid...) }

// notePublished records that the batch record cid was published for session
// id, before the settlement naming it is submitted.
func (m *Manager) notePublished(id uint64, cid string) error {
	return m.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketPublished).Put(publishedKey(id, cid), nil) })
}

// pruner returns the chain and records' retention capabilities, or false.
func (m *Manager) pruner() (SettlementChain, Unpinner, bool) {
	sc, ok1 := m.chain.(SettlementChain)
	un, ok2 := m.records.(Unpinner)
	return sc, un, ok1 && ok2
}

// Prune runs one retention pass: it retries pending unpins, then examines up
// to 100 sessions not yet pruned (resuming after the last pass's) and prunes
// those that are closed on chain with every settlement final. A session with
// a request in flight, or with a voucher the provider has not settled yet, is
// left for a later pass.
func (m *Manager) Prune(ctx context.Context) PruneResult {
	var res PruneResult
	sc, un, ok := m.pruner()
	if !ok {
		return res
	}
	res.Unpinned += m.unpinPending(ctx, un)
	for _, id := range m.pruneCandidates() {
		if ctx.Err() != nil {
			break
		}
		done, err := m.pruneSession(ctx, sc, id)
		if err != nil {
			m.log.Warn("retention: session kept; retried at the next pass", "session", id, "err", err)
			continue
		}
		if done {
			res.Pruned++
			m.stats.Pruned.Add(1)
			m.log.Info("session pruned: receipts and transcripts deleted", "session", id)
		}
	}
	if res.Pruned > 0 {
		res.Unpinned += m.unpinPending(ctx, un)
	}
	return res
}

// pruneCandidates returns up to prunePerPass ids of sessions not pruned and
// with nothing left to settle, from the cursor on; it moves the cursor.
func (m *Manager) pruneCandidates() []uint64 {
	var ids []uint64
	from := m.pruneFrom
	end := true
	err := m.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketSessions).Cursor()
		for k, v := c.Seek(sessionKey(from)); k != nil; k, v = c.Next() {
			if len(ids) == prunePerPass {
				end = false
				break
			}
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			// An unsettled voucher is the settlement loop's (it marks the
			// session closed when the chain has closed it).
			if r.Pruned || !r.Closed && r.LastSeq > r.SettledSeq && r.Count > 0 {
				continue
			}
			ids = append(ids, r.ID)
		}
		return nil
	})
	if err != nil {
		m.log.Error("retention scan", "err", err)
		return nil
	}
	m.pruneFrom = 0
	if !end && len(ids) > 0 {
		m.pruneFrom = ids[len(ids)-1] + 1
	}
	return ids
}

// pruneSession prunes session id if the chain has closed it and none of its
// settlements can still be disputed; it reports whether it did.
func (m *Manager) pruneSession(ctx context.Context, sc SettlementChain, id uint64) (bool, error) {
	m.mu.Lock()
	busy := m.sessions[id] != nil && m.sessions[id].inflight
	m.mu.Unlock()
	if busy {
		return false, nil
	}
	info, err := m.chain.Session(ctx, id)
	if err != nil {
		return false, err
	}
	if info.Open {
		return false, nil
	}
	sts, err := sc.Settlements(ctx, id)
	if err != nil {
		return false, fmt.Errorf("settlements: %w", err)
	}
	var cids []string
	for _, s := range sts {
		if s.Status != inferencetypes.SETTLEMENT_STATUS_FINALIZED && s.Status != inferencetypes.SETTLEMENT_STATUS_VOIDED {
			return false, nil // PENDING or CHALLENGED: its record must stay available
		}
		if s.RecordCID != "" {
			cids = append(cids, s.RecordCID)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.sessions[id]; l != nil && l.inflight {
		return false, nil
	}
	done := false
	err = m.db.Update(func(tx *bolt.Tx) error {
		bz := tx.Bucket(bucketSessions).Get(sessionKey(id))
		if bz == nil {
			return nil
		}
		var r record
		if err := json.Unmarshal(bz, &r); err != nil {
			return err
		}
		if r.Pruned {
			return nil
		}
		for _, b := range [][]byte{bucketReceipts, bucketTranscripts} {
			if err := deletePrefix(tx.Bucket(b), sessionKey(id)); err != nil {
				return err
			}
		}
		pub, unpins := tx.Bucket(bucketPublished), tx.Bucket(bucketUnpins)
		var keys [][]byte
		c := pub.Cursor()
		for k, _ := c.Seek(sessionKey(id)); k != nil && bytes.HasPrefix(k, sessionKey(id)); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, cid := range cids {
			keys = append(keys, publishedKey(id, cid))
		}
		for _, k := range keys {
			if err := unpins.Put(k, nil); err != nil {
				return err
			}
		}
		if err := deletePrefix(pub, sessionKey(id)); err != nil {
			return err
		}
		r.Pruned, r.Closed = true, true
		done = true
		return putRecord(tx, &r)
	})
	if err != nil {
		return false, err
	}
	if done {
		delete(m.sessions, id) // State reads the pruned record from the store
	}
	return done, nil
}

// deletePrefix deletes b's keys that start with prefix.
func deletePrefix(b *bolt.Bucket, prefix []byte) error {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// unpinPending unpins up to unpinsPerPass batch records of pruned sessions
// and forgets those unpinned; a failure stays pending for the next pass.
func (m *Manager) unpinPending(ctx context.Context, un Unpinner) int {
	var keys [][]byte
	if err := m.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketUnpins).Cursor()
		for k, _ := c.First(); k != nil && len(keys) < unpinsPerPass; k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	}); err != nil {
		m.log.Error("retention: pending unpins", "err", err)
		return 0
	}
	var done [][]byte
	for _, k := range keys {
		if ctx.Err() != nil {
			break
		}
		if len(k) <= 8 {
			done = append(done, k)
			continue
		}
		cid := string(k[8:])
		if err := un.Unpin(ctx, cid); err != nil {
			m.log.Warn("retention: unpinning a batch record failed; retried at the next pass", "cid", cid, "err", err)
			continue
		}
		done = append(done, k)
	}
	if len(done) == 0 {
		return 0
	}
	if err := m.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUnpins)
		for _, k := range done {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		m.log.Error("retention: forgetting unpinned records", "err", err)
		return 0
	}
	m.stats.Unpinned.Add(uint64(len(done)))
	return len(done)
}

// PendingUnpins is how many batch records of pruned sessions are still to
// unpin (status and tests).
func (m *Manager) PendingUnpins() (int, error) {
	n := 0
	err := m.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketUnpins).Stats().KeyN
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sessions: pending unpins: %w", err)
	}
	return n, nil
}
