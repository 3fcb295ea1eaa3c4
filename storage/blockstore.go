package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// ErrRepoFull is returned when a write would take the block store past
// Datastore.StorageMax.
var ErrRepoFull = errors.New("IPFS repo is full")

// CorruptBlockError reports a block whose bytes on disk no longer hash to
// its CID. Such a block is never returned, served or sent to peers.
type CorruptBlockError struct {
	Cid cid.Cid
}

// Is makes a corrupt block count as not found (ipld.ErrNotFound) for the
// block service: an online node then fetches a good copy from peers and, as
// writes go through, replaces the bad file. Offline, the CorruptBlockError
// itself is what callers get.
func (e *CorruptBlockError) Is(target error) bool {
	_, ok := target.(ipld.ErrNotFound)
	return ok
}

func (e *CorruptBlockError) Error() string {
	return fmt.Sprintf("block %s is corrupt on disk (its bytes do not match its hash); run `openledgerd ipfs repo verify`", e.Cid)
}

// checkedBlockstore re-hashes every block it reads, enforces the size
// quota on writes and makes write errors say what failed.
type checkedBlockstore struct {
	blockstore.Blockstore
	// lastErr remembers the latest failed write: bitswap stores fetched
	// blocks itself and drops the error, so fetchers look here to explain
	// why a fetch stopped (e.g. ErrRepoFull).
	mu        sync.Mutex
	lastErr   error
	lastErrAt time.Time
	// usage returns the current store size in bytes; nil disables the quota.
	usage func(context.Context) (uint64, error)
	max   uint64
}

func newCheckedBlockstore(inner blockstore.Blockstore, usage func(context.Context) (uint64, error), max int64) *checkedBlockstore {
	bs := &checkedBlockstore{Blockstore: inner}
	if max > 0 && usage != nil {
		bs.usage, bs.max = usage, uint64(max)
	}
	return bs
}

func (bs *checkedBlockstore) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	b, err := bs.Blockstore.Get(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := verifyBlock(c, b.RawData()); err != nil {
		return nil, err
	}
	return b, nil
}

// verifyBlock checks that data hashes to c's multihash.
func verifyBlock(c cid.Cid, data []byte) error {
	got, err := c.Prefix().Sum(data)
	if err != nil {
		return fmt.Errorf("hashing block %s: %w", c, err)
	}
	if got.Hash().HexString() != c.Hash().HexString() {
		return &CorruptBlockError{Cid: c}
	}
	return nil
}

func (bs *checkedBlockstore) checkQuota(ctx context.Context, add int) error {
	if bs.usage == nil {
		return nil
	}
	used, err := bs.usage(ctx)
	if err != nil {
		return fmt.Errorf("measuring repo size: %w", err)
	}
	if used+uint64(add) > bs.max {
		return fmt.Errorf("%w: %d bytes used, %d more would exceed Datastore.StorageMax=%d; run `openledgerd ipfs gc` or raise the limit", ErrRepoFull, used, add, bs.max)
	}
	return nil
}

func (bs *checkedBlockstore) Put(ctx context.Context, b blocks.Block) error {
	return bs.noteErr(bs.put(ctx, b))
}

func (bs *checkedBlockstore) put(ctx context.Context, b blocks.Block) error {
	if err := bs.checkQuota(ctx, len(b.RawData())); err != nil {
		return err
	}
	if err := bs.Blockstore.Put(ctx, b); err != nil {
		return fmt.Errorf("writing block %s to the repo (is the disk full or read-only?): %w", b.Cid(), err)
	}
	return nil
}

func (bs *checkedBlockstore) noteErr(err error) error {
	if err != nil {
		bs.mu.Lock()
		bs.lastErr, bs.lastErrAt = err, time.Now()
		bs.mu.Unlock()
	}
	return err
}

// writeErrSince returns the latest write error if it happened after t.
func (bs *checkedBlockstore) writeErrSince(t time.Time) error {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if bs.lastErr != nil && !bs.lastErrAt.Before(t) {
		return bs.lastErr
	}
	return nil
}

func (bs *checkedBlockstore) PutMany(ctx context.Context, bl []blocks.Block) error {
	return bs.noteErr(bs.putMany(ctx, bl))
}

func (bs *checkedBlockstore) putMany(ctx context.Context, bl []blocks.Block) error {
	n := 0
	for _, b := range bl {
		n += len(b.RawData())
	}
	if err := bs.checkQuota(ctx, n); err != nil {
		return err
	}
	if err := bs.Blockstore.PutMany(ctx, bl); err != nil {
		return fmt.Errorf("writing %d blocks to the repo (is the disk full or read-only?): %w", len(bl), err)
	}
	return nil
}

func (bs *checkedBlockstore) Has(ctx context.Context, c cid.Cid) (bool, error) {
	ok, err := bs.Blockstore.Has(ctx, c)
	if err != nil {
		return false, fmt.Errorf("reading block %s from the repo (is the block store damaged or unreadable?): %w", c, err)
	}
	return ok, nil
}
