package executor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/openledger/openledger/storage"
)

// fileCache keeps artifacts fetched from IPFS as files named by their CID in
// one directory, bounded by maxBytes with least-recently-used eviction.
//
// A fetch streams into a temporary file in the same directory while hashing;
// only a file whose sha256 matches the expected digest (when one is given) is
// renamed into place, so the cache never holds a partial or wrong file under a
// CID name. Concurrent gets of one CID fetch it once; the others wait. Files a
// caller holds (between get and release) are never evicted.
type fileCache struct {
	dir      string
	maxBytes int64
	st       storage.API

	mu       sync.Mutex
	entries  map[string]*cacheEntry
	inflight map[string]*flight
	clock    uint64
	total    int64

	fetches atomic.Int64 // IPFS fetches started
}

type cacheEntry struct {
	size int64
	used uint64
	refs int
}

type flight struct {
	done chan struct{}
	err  error
}

const tmpPrefix = ".fetch-"

func newFileCache(dir string, maxBytes int64, st storage.API) (*fileCache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("executor: cache dir: %w", err)
	}
	c := &fileCache{dir: dir, maxBytes: maxBytes, st: st, entries: map[string]*cacheEntry{}, inflight: map[string]*flight{}}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("executor: cache dir: %w", err)
	}
	// Resume: files left by an earlier run, oldest first in LRU order; leftovers
	// of interrupted fetches are removed.
	type old struct {
		name  string
		size  int64
		mtime int64
	}
	var olds []old
	for _, de := range des {
		if strings.HasPrefix(de.Name(), tmpPrefix) {
			_ = os.Remove(filepath.Join(dir, de.Name()))
			continue
		}
		if !de.Type().IsRegular() {
			continue
		}
		if _, err := storage.ParseCID(de.Name()); err != nil {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue
		}
		olds = append(olds, old{de.Name(), fi.Size(), fi.ModTime().UnixNano()})
	}
	sort.Slice(olds, func(i, j int) bool { return olds[i].mtime < olds[j].mtime })
	for _, o := range olds {
		c.clock++
		c.entries[o.name] = &cacheEntry{size: o.size, used: c.clock}
		c.total += o.size
	}
	c.mu.Lock()
	c.evictLocked()
	c.mu.Unlock()
	return c, nil
}

func (c *fileCache) path(key string) string { return filepath.Join(c.dir, key) }

// get returns the path of the file with CID key, fetching it when missing and
// checking its sha256 against wantSHA (hex; "" checks nothing beyond the CID,
// which IPFS verifies block by block). release must be called when the caller
// no longer needs the file.
func (c *fileCache) get(ctx context.Context, key, wantSHA string) (string, func(), error) {
	for {
		c.mu.Lock()
		if e, ok := c.entries[key]; ok {
			if _, err := os.Stat(c.path(key)); err == nil {
				c.clock++
				e.used = c.clock
				e.refs++
				c.mu.Unlock()
				return c.path(key), c.releaser(key), nil
			}
			c.total -= e.size // deleted behind our back: fetch again
			delete(c.entries, key)
		}
		if f, ok := c.inflight[key]; ok {
			c.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return "", nil, ctx.Err()
			}
			if f.err == nil || isCtxErr(f.err) && ctx.Err() == nil {
				continue // fetched (or the fetcher's context ended, not ours): look again
			}
			return "", nil, f.err
		}
		f := &flight{done: make(chan struct{})}
		c.inflight[key] = f
		c.mu.Unlock()

		size, err := c.fetch(ctx, key, wantSHA)
		c.mu.Lock()
		delete(c.inflight, key)
		f.err = err
		if err == nil {
			c.clock++
			c.entries[key] = &cacheEntry{size: size, used: c.clock}
			c.total += size
			c.evictLocked()
		}
		c.mu.Unlock()
		close(f.done)
		if err != nil {
			return "", nil, err
		}
	}
}

func (c *fileCache) releaser(key string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			if e, ok := c.entries[key]; ok && e.refs > 0 {
				e.refs--
			}
			c.evictLocked()
			c.mu.Unlock()
		})
	}
}

// evictLocked removes least-recently-used files not in use until the total
// fits maxBytes.
func (c *fileCache) evictLocked() {
	for c.total > c.maxBytes {
		var victim string
		var best uint64
		for k, e := range c.entries {
			if e.refs == 0 && (victim == "" || e.used < best) {
				victim, best = k, e.used
			}
		}
		if victim == "" {
			return // everything is in use
		}
		_ = os.Remove(c.path(victim))
		c.total -= c.entries[victim].size
		delete(c.entries, victim)
	}
}

// fetch streams the CID into a temporary file, checks the digest and renames
// the file into place.
func (c *fileCache) fetch(ctx context.Context, key, wantSHA string) (int64, error) {
	id, err := storage.ParseCID(key)
	if err != nil {
		return 0, fmt.Errorf("CID %q: %w", key, err)
	}
	c.fetches.Add(1)
	rc, err := c.st.Cat(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("fetching %s from IPFS: %w", key, err)
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(c.dir, tmpPrefix+"*")
	if err != nil {
		return 0, fmt.Errorf("cache: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), rc)
	if err != nil {
		return 0, fmt.Errorf("fetching %s from IPFS: %w", key, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); wantSHA != "" && got != strings.ToLower(wantSHA) {
		return 0, fmt.Errorf("%w: %s has sha256 %s, the chain says %s", ErrDigestMismatch, key, got, wantSHA)
	}
	if err := tmp.Sync(); err != nil {
		return 0, fmt.Errorf("cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.path(key)); err != nil {
		return 0, fmt.Errorf("cache: %w", err)
	}
	ok = true
	return n, nil
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// resident keeps loaded objects (models, indexes, tokenizers) in memory by key,
// at most max of them, evicting the least recently used one not in use. A key
// is loaded once however many callers ask at the same time.
type resident[T any] struct {
	max   int
	close func(T)

	mu    sync.Mutex
	m     map[string]*resEntry[T]
	clock uint64
	loads atomic.Int64
}

type resEntry[T any] struct {
	val   T
	err   error
	ready chan struct{}
	refs  int
	used  uint64
}

func newResident[T any](max int, close func(T)) *resident[T] {
	return &resident[T]{max: max, close: close, m: map[string]*resEntry[T]{}}
}

// get returns the object of key, loading it with load when absent. release
// must be called when the caller is done with it.
func (r *resident[T]) get(ctx context.Context, key string, load func() (T, error)) (T, func(), error) {
	var zero T
	for {
		r.mu.Lock()
		e, ok := r.m[key]
		if ok {
			r.clock++
			e.used = r.clock
			e.refs++
			r.mu.Unlock()
			select {
			case <-e.ready:
			case <-ctx.Done():
				r.release(key, e)
				return zero, nil, ctx.Err()
			}
			if e.err != nil {
				r.release(key, e)
				if isCtxErr(e.err) && ctx.Err() == nil {
					continue // the loader's context ended, not ours
				}
				return zero, nil, e.err
			}
			return e.val, r.releaser(key, e), nil
		}
		e = &resEntry[T]{ready: make(chan struct{}), refs: 1}
		r.clock++
		e.used = r.clock
		r.m[key] = e
		r.mu.Unlock()

		r.loads.Add(1)
		e.val, e.err = load()
		r.mu.Lock()
		if e.err != nil && r.m[key] == e {
			delete(r.m, key) // the next caller tries again
		}
		r.evictLocked()
		r.mu.Unlock()
		close(e.ready)
		if e.err != nil {
			r.release(key, e)
			return zero, nil, e.err
		}
		return e.val, r.releaser(key, e), nil
	}
}

func (r *resident[T]) releaser(key string, e *resEntry[T]) func() {
	var once sync.Once
	return func() { once.Do(func() { r.release(key, e) }) }
}

func (r *resident[T]) release(_ string, e *resEntry[T]) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.refs--
	r.evictLocked() // only entries nobody holds are evicted (and closed)
}

func (r *resident[T]) evictLocked() {
	for len(r.m) > r.max {
		var victim string
		var best uint64
		for k, e := range r.m {
			select {
			case <-e.ready:
			default:
				continue
			}
			if e.refs == 0 && (victim == "" || e.used < best) {
				victim, best = k, e.used
			}
		}
		if victim == "" {
			return
		}
		e := r.m[victim]
		delete(r.m, victim)
		if r.close != nil && e.err == nil {
			r.close(e.val)
		}
	}
}

// closeAll closes every resident object (at shutdown, when nothing is in use).
func (r *resident[T]) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, e := range r.m {
		select {
		case <-e.ready:
			if r.close != nil && e.err == nil {
				r.close(e.val)
			}
		default:
		}
		delete(r.m, k)
	}
}
