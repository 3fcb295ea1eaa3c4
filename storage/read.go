package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/boxo/ipld/merkledag"
	ft "github.com/ipfs/boxo/ipld/unixfs"
	unixfile "github.com/ipfs/boxo/ipld/unixfs/file"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// stallGuard cancels a context when no progress is reported for d; each
// call to touch restarts the countdown. It bounds waits for missing blocks
// without bounding the length of a large, healthy transfer.
type stallGuard struct {
	ctx    context.Context
	cancel context.CancelFunc
	timer  *time.Timer
	mu     sync.Mutex
	fired  bool
}

func newStallGuard(parent context.Context, d time.Duration) *stallGuard {
	ctx, cancel := context.WithCancel(parent)
	g := &stallGuard{ctx: ctx, cancel: cancel}
	g.timer = time.AfterFunc(d, func() {
		g.mu.Lock()
		g.fired = true
		g.mu.Unlock()
		cancel()
	})
	return g
}

func (g *stallGuard) touch(d time.Duration) { g.timer.Reset(d) }

func (g *stallGuard) stop() { g.timer.Stop(); g.cancel() }

// wrap turns a cancellation caused by the guard into a clear timeout error.
func (g *stallGuard) wrap(n *Node, c cid.Cid, err error) error {
	if err == nil {
		return nil
	}
	g.mu.Lock()
	fired := g.fired
	g.mu.Unlock()
	if fired {
		return fmt.Errorf("%w: no progress for %s while fetching %s (no connected peer provided the blocks; check `peers ls`, or raise FetchTimeout)",
			ErrNotFound, fetchTimeout(n), c)
	}
	return n.explainFetchErr(g.ctx, c, err)
}

func (n *Node) getter(ctx context.Context) ipld.NodeGetter {
	if n.Online() {
		return merkledag.NewSession(ctx, n.dag)
	}
	return n.dag
}

// Cat implements API. The returned reader fails with ErrNotFound when the
// network stops delivering blocks for FetchTimeout.
func (n *Node) Cat(ctx context.Context, c cid.Cid) (io.ReadCloser, error) {
	d := fetchTimeout(n)
	g := newStallGuard(ctx, d)
	nd, err := n.dag.Get(g.ctx, c)
	if err != nil {
		g.stop()
		return nil, g.wrap(n, c, err)
	}
	if pn, ok := nd.(*merkledag.ProtoNode); ok {
		fsn, err := ft.FSNodeFromBytes(pn.Data())
		if err != nil {
			g.stop()
			return nil, fmt.Errorf("%s is not UnixFS: %w", c, err)
		}
		if fsn.IsDir() {
			g.stop()
			return nil, fmt.Errorf("%s is a directory; use `get` to download it", c)
		}
	}
	dr, err := uio.NewDagReader(g.ctx, nd, n.getter(g.ctx))
	if err != nil {
		g.stop()
		return nil, g.wrap(n, c, err)
	}
	return &catReader{dr: dr, g: g, n: n, c: c, d: d, started: time.Now()}, nil
}

type catReader struct {
	dr      uio.DagReader
	g       *stallGuard
	n       *Node
	c       cid.Cid
	d       time.Duration
	started time.Time
}

func (r *catReader) Read(p []byte) (int, error) {
	k, err := r.dr.Read(p)
	if k > 0 {
		r.g.touch(r.d)
	}
	if err != nil && err != io.EOF {
		if r.g.ctx.Err() != nil { // cancelled by the caller or the stall guard
			return k, r.g.wrap(r.n, r.c, err)
		}
		if werr := r.n.checked.writeErrSince(r.started); werr != nil {
			return k, fmt.Errorf("storing fetched blocks: %w", werr)
		}
		if derr := r.n.findDamage(r.c); derr != nil {
			return k, derr
		}
		return k, r.g.wrap(r.n, r.c, err)
	}
	return k, err
}

// findDamage walks the locally stored part of the DAG at c and returns the
// first CorruptBlockError met or, on an offline node, the first missing
// block. The DAG reader reports failed prefetches without their cause; this
// recovers it so the user is told what is wrong.
func (n *Node) findDamage(c cid.Cid) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var found error
	seen := cid.NewSet()
	var walk func(cid.Cid)
	walk = func(k cid.Cid) {
		if found != nil || !seen.Visit(k) {
			return
		}
		b, err := n.bstore.Get(ctx, k)
		var ce *CorruptBlockError
		if errors.As(err, &ce) {
			found = err
			return
		}
		if ipld.IsNotFound(err) && !n.Online() {
			found = n.explainFetchErr(ctx, k, err)
			return
		}
		if err != nil || k.Type() != cid.DagProtobuf {
			return
		}
		pn, err := merkledag.DecodeProtobuf(b.RawData())
		if err != nil {
			return
		}
		for _, l := range pn.Links() {
			walk(l.Cid)
		}
	}
	walk(c)
	return found
}

func (r *catReader) Close() error { r.g.stop(); return r.dr.Close() }

// Get implements API. Online, the whole DAG is fetched first (bitswap
// session, concurrent), then written out from the local store.
func (n *Node) Get(ctx context.Context, c cid.Cid, dest string, progress func(int64)) error {
	if dest == "" {
		return errors.New("get: no output path")
	}
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("get: %s already exists; choose a new output path", dest)
	}
	// Shared gc lock: blocks fetched for this get are unpinned, and a gc
	// between the fetch and the write must not delete them.
	n.gcLock.RLock()
	defer n.gcLock.RUnlock()
	d := fetchTimeout(n)
	g := newStallGuard(ctx, d)
	defer g.stop()
	f, err := n.unixfs(g, c)
	if err != nil {
		return err
	}
	touch := func(k int64) {
		g.touch(d)
		if progress != nil {
			progress(k)
		}
	}
	if err := writeNode(f, dest, touch); err != nil {
		return g.wrap(n, c, err)
	}
	return nil
}

// UnixFS returns the file, directory or symlink at c, with every block
// already local (fetched first when online). The daemon API streams it as
// a tar archive.
func (n *Node) UnixFS(ctx context.Context, c cid.Cid) (files.Node, error) {
	g := newStallGuard(ctx, fetchTimeout(n))
	nd, err := n.unixfs(g, c)
	if err != nil {
		g.stop()
		return nil, err
	}
	// The guard must outlive the returned node; reads are local now.
	g.timer.Stop()
	return nd, nil
}

func (n *Node) unixfs(g *stallGuard, c cid.Cid) (files.Node, error) {
	if n.Online() {
		if err := n.fetchAll(g, c); err != nil {
			return nil, g.wrap(n, c, err)
		}
	}
	nd, err := n.dag.Get(g.ctx, c)
	if err != nil {
		return nil, g.wrap(n, c, err)
	}
	f, err := unixfile.NewUnixfsFile(g.ctx, n.dag, nd)
	if err != nil {
		return nil, g.wrap(n, c, err)
	}
	return f, nil
}

// fetchAll pulls every block of the DAG into the local store, level by
// level: each level's missing children go out as one want list on a bitswap
// session, so the sending peer streams them back to back.
func (n *Node) fetchAll(g *stallGuard, c cid.Cid) error {
	started := time.Now()
	err := n.fetchLevels(g, c)
	if err != nil {
		// bitswap stores what it receives and drops write errors; if one
		// happened during this fetch (repo full, disk error), report it.
		if werr := n.checked.writeErrSince(started); werr != nil {
			return fmt.Errorf("storing fetched blocks: %w", werr)
		}
	}
	return err
}

func (n *Node) fetchLevels(g *stallGuard, c cid.Cid) error {
	seen := cid.NewSet()
	level := []cid.Cid{c}
	seen.Add(c)
	for len(level) > 0 {
		nodes, err := n.fetchBatch(g, level)
		if err != nil {
			return err
		}
		var next []cid.Cid
		for _, nd := range nodes {
			for _, l := range nd.Links() {
				if seen.Visit(l.Cid) {
					next = append(next, l.Cid)
				}
			}
		}
		level = next
	}
	return nil
}

// wantRetryAfter: when a want list makes no progress for this long, it is
// sent again on a fresh session. A peer that answers late (a loaded
// machine) can make bitswap assume it lacks the blocks and wait for its
// periodic re-search; re-asking keeps the transfer moving. The stall guard
// (FetchTimeout) still ends fetches of blocks nobody has.
const wantRetryAfter = 5 * time.Second

// fetchBatch gets every key (in any order), retrying stalled want lists.
func (n *Node) fetchBatch(g *stallGuard, keys []cid.Cid) ([]ipld.Node, error) {
	got := make(map[string]ipld.Node, len(keys))
	missing := keys
	for len(missing) > 0 {
		if err := g.ctx.Err(); err != nil {
			return nil, err
		}
		ctx, cancel := context.WithCancel(g.ctx)
		ch := merkledag.NewSession(ctx, n.dag).GetMany(ctx, missing)
		idle := time.NewTimer(wantRetryAfter)
	recv:
		for {
			select {
			case opt, ok := <-ch:
				if !ok {
					break recv
				}
				if opt.Err != nil {
					if ctx.Err() != nil && g.ctx.Err() == nil {
						break recv // our own retry cancellation
					}
					cancel()
					idle.Stop()
					return nil, opt.Err
				}
				got[opt.Node.Cid().KeyString()] = opt.Node
				g.touch(fetchTimeout(n))
				idle.Reset(wantRetryAfter)
			case <-idle.C:
				n.log.Debug("want list stalled; asking again", "missing", len(missing)-len(got))
				cancel()
			}
		}
		idle.Stop()
		cancel()
		var still []cid.Cid
		for _, k := range missing {
			if _, ok := got[k.KeyString()]; !ok {
				still = append(still, k)
			}
		}
		missing = still
	}
	out := make([]ipld.Node, 0, len(keys))
	for _, k := range keys {
		out = append(out, got[k.KeyString()])
	}
	return out, nil
}

// validEntryName rejects names that would escape the output directory.
func validEntryName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
		return fmt.Errorf("refusing unsafe directory entry name %q", name)
	}
	return nil
}

// writeNode writes a UnixFS node to dest; dest must not exist.
func writeNode(nd files.Node, dest string, progress func(int64)) error {
	switch f := nd.(type) {
	case *files.Symlink:
		if filepath.IsAbs(f.Target) || strings.Contains(f.Target, "..") {
			return fmt.Errorf("refusing symlink %s -> %q that points outside the output", dest, f.Target)
		}
		return os.Symlink(f.Target, dest)
	case files.File:
		defer f.Close()
		out, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, &progressReader{r: f, cb: progress})
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		return err
	case files.Directory:
		defer f.Close()
		if err := os.Mkdir(dest, 0o755); err != nil {
			return err
		}
		it := f.Entries()
		for it.Next() {
			if err := validEntryName(it.Name()); err != nil {
				return err
			}
			if err := writeNode(it.Node(), filepath.Join(dest, it.Name()), progress); err != nil {
				return err
			}
		}
		return it.Err()
	default:
		return fmt.Errorf("unsupported node type %T", nd)
	}
}

type progressReader struct {
	r  io.Reader
	cb func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	k, err := p.r.Read(b)
	if k > 0 && p.cb != nil {
		p.cb(int64(k))
	}
	return k, err
}

// Stat implements API. It walks the whole DAG (fetching it first when online).
func (n *Node) Stat(ctx context.Context, c cid.Cid) (Stat, error) {
	d := fetchTimeout(n)
	g := newStallGuard(ctx, d)
	defer g.stop()
	nd, err := n.dag.Get(g.ctx, c)
	if err != nil {
		return Stat{}, g.wrap(n, c, err)
	}
	st := Stat{Cid: c.String(), BlockSize: len(nd.RawData()), Links: len(nd.Links()), Type: "other"}
	switch c.Type() {
	case cid.Raw:
		st.Codec, st.Type, st.Size = "raw", "file", uint64(len(nd.RawData()))
	case cid.DagProtobuf:
		st.Codec = "dag-pb"
		if pn, ok := nd.(*merkledag.ProtoNode); ok {
			if fsn, err := ft.FSNodeFromBytes(pn.Data()); err == nil {
				switch fsn.Type() {
				case ft.TFile, ft.TRaw:
					st.Type, st.Size = "file", fsn.FileSize()
				case ft.TDirectory:
					st.Type = "directory"
				case ft.THAMTShard:
					st.Type = "hamt-directory"
				case ft.TSymlink:
					st.Type = "symlink"
				}
			}
		}
	default:
		st.Codec = fmt.Sprintf("0x%x", c.Type())
	}
	if n.Online() {
		// Pull the DAG with one want list per level rather than block by block.
		if err := n.fetchAll(g, c); err != nil {
			return Stat{}, g.wrap(n, c, err)
		}
	}
	ng := n.dag
	seen := map[string]struct{}{}
	var walk func(cid.Cid) error
	walk = func(k cid.Cid) error {
		if _, ok := seen[k.KeyString()]; ok {
			return nil
		}
		seen[k.KeyString()] = struct{}{}
		x, err := ng.Get(g.ctx, k)
		if err != nil {
			return err
		}
		g.touch(d)
		st.Blocks++
		st.CumulativeSize += uint64(len(x.RawData()))
		for _, l := range x.Links() {
			if err := walk(l.Cid); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(c); err != nil {
		return Stat{}, g.wrap(n, c, err)
	}
	return st, nil
}

func fetchTimeout(n *Node) time.Duration { return time.Duration(n.cfg.FetchTimeout) }

// FetchRoot makes sure the root block of c is available (fetching it when
// online, within FetchTimeout), with the same errors as Cat.
func (n *Node) FetchRoot(ctx context.Context, c cid.Cid) error {
	fctx, cancel := n.fetchCtx(ctx)
	defer cancel()
	if _, err := n.dag.Get(fctx, c); err != nil {
		return n.explainFetchErr(fctx, c, err)
	}
	return nil
}
