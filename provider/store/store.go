// Package store is the provider daemon's durable state: an embedded bbolt database
// holding the jobs in progress and their state machine, receipts built but not yet
// included, pending transactions, the event follower's inbox and its last processed
// height.
//
// Every write is one committed (fsynced) bbolt transaction before the call returns:
// a caller acts on a change ("persist before ack") only after the store has it, so
// a crash between any two steps leaves either the state before or the state after,
// never a torn record. Several changes that must happen together go through Update,
// which gives them one transaction.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the database file inside the data directory.
const FileName = "provider.db"

// schemaVersion is stored in the meta bucket; Open refuses another version.
const schemaVersion = 1

var (
	bucketMeta     = []byte("meta")
	bucketJobs     = []byte("jobs")
	bucketReceipts = []byte("receipts")
	bucketTxs      = []byte("pending_txs")
	bucketInbox    = []byte("inbox")

	keySchema = []byte("schema")
	keyHeight = []byte("height")
)

// Errors.
var (
	ErrNotFound          = errors.New("not found")
	ErrExists            = errors.New("already exists")
	ErrIllegalTransition = errors.New("illegal job state transition")
	ErrHeightBackwards   = errors.New("processed height would move backwards")
	ErrHeightGap         = errors.New("processed heights must be contiguous")
	ErrCorrupt           = errors.New("corrupt record")
	// ErrWriteFailed: a transaction could not be written (full disk, I/O error);
	// nothing of it was committed.
	ErrWriteFailed = errors.New("write failed")
)

// Options tune Open.
type Options struct {
	// Timeout to obtain the file lock (another daemon holding the store). Default 5 s.
	LockTimeout time.Duration
	// Now is the clock stamped on records (default time.Now).
	Now func() time.Time
}

// Store is the provider's durable state. It is safe for concurrent use.
type Store struct {
	db  *bolt.DB
	log *slog.Logger
	now func() time.Time
}

// Open opens (creating if missing) the store in dir. Only one process can hold it.
func Open(dir string, log *slog.Logger, opts Options) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: data dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("store %s is locked by another process (is a provider already running?): %w", path, err)
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketJobs, bucketReceipts, bucketTxs, bucketInbox} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keySchema); v != nil {
			if len(v) != 8 || binary.BigEndian.Uint64(v) != schemaVersion {
				return fmt.Errorf("store schema %x, this binary reads %d", v, schemaVersion)
			}
			return nil
		}
		return meta.Put(keySchema, u64(schemaVersion))
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: init %s: %w", path, err)
	}
	log.Debug("store opened", "path", path)
	return &Store{db: db, log: log, now: opts.Now}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Path returns the database file.
func (s *Store) Path() string { return s.db.Path() }

// Tx is one store transaction: all its writes commit together or not at all.
type Tx struct {
	tx  *bolt.Tx
	now time.Time
}

// Update runs fn in one read-write transaction, committed (and fsynced) before
// Update returns; fn's error rolls everything back.
// A failure to write the transaction itself (a full disk, an I/O error) is
// logged and returned naming the database file.
func (s *Store) Update(fn func(*Tx) error) error {
	var fnErr error
	err := s.db.Update(func(tx *bolt.Tx) error { fnErr = fn(&Tx{tx: tx, now: s.now().UTC()}); return fnErr })
	if err != nil && (fnErr == nil || err != fnErr) {
		s.log.Error("store write failed; nothing of this change was committed", "path", s.db.Path(), "err", err)
		return fmt.Errorf("store %s: %w: %w", s.db.Path(), ErrWriteFailed, err)
	}
	return err
}

// View runs fn in a read-only transaction (a consistent snapshot).
func (s *Store) View(fn func(*Tx) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx, now: s.now().UTC()}) })
}

// ----- follower height -----

// Height returns the last height the follower fully processed (0: none).
func (t *Tx) Height() (int64, error) {
	v := t.tx.Bucket(bucketMeta).Get(keyHeight)
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: height of %d bytes", ErrCorrupt, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// SetHeight records the last processed height; it never moves backwards.
func (t *Tx) SetHeight(h int64) error {
	cur, err := t.Height()
	if err != nil {
		return err
	}
	if h < cur {
		return fmt.Errorf("%w: %d < %d", ErrHeightBackwards, h, cur)
	}
	return t.tx.Bucket(bucketMeta).Put(keyHeight, u64(uint64(h)))
}

// Height returns the last processed height.
func (s *Store) Height() (h int64, err error) {
	err = s.View(func(t *Tx) error { h, err = t.Height(); return err })
	return h, err
}

// ----- helpers -----

func u64(x uint64) []byte { return binary.BigEndian.AppendUint64(nil, x) }

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	bz, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, bz)
}

func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	bz := b.Get(key)
	if bz == nil {
		return false, nil
	}
	if err := json.Unmarshal(bz, v); err != nil {
		return true, fmt.Errorf("%w: %s/%x: %v", ErrCorrupt, b, key, err)
	}
	return true, nil
}

func sortBySeq(txs []PendingTx) {
	sort.Slice(txs, func(i, j int) bool { return txs[i].Sequence < txs[j].Sequence })
}
