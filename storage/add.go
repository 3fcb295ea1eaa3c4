package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"

	chunk "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/files"
	"github.com/ipfs/boxo/ipld/merkledag"
	ft "github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	mh "github.com/multiformats/go-multihash"
)

// CidBuilder is the CID prefix of every node the importer writes:
// CIDv1, dag-pb (raw for leaves), sha2-256 — kubo's `--cid-version=1`.
var CidBuilder = cid.V1Builder{Codec: cid.DagProtobuf, MhType: mh.SHA2_256}

// Add implements API.
func (n *Node) Add(ctx context.Context, nd files.Node, opts AddOptions) (AddResult, error) {
	if nd == nil {
		return AddResult{}, errors.New("add: nothing to add")
	}
	n.gcLock.RLock()
	defer n.gcLock.RUnlock()

	batch := newWriteBatch(ctx, n.dag)
	a := &adder{n: n, ctx: ctx, dag: batch, opts: opts}
	if f, ok := nd.(files.File); ok && opts.SHA256 {
		if _, link := nd.(*files.Symlink); !link {
			defer f.Close()
			a.digest = sha256.New()
			nd = files.NewReaderFile(io.TeeReader(f, a.digest))
		}
	}
	root, err := a.addNode(nd, opts.Name)
	if err == nil {
		err = batch.Commit()
	}
	if err != nil {
		// Blocks written so far stay unpinned; the next gc removes them.
		batch.Wait()
		return AddResult{}, fmt.Errorf("add: %w", err)
	}
	res := AddResult{Root: root.Cid(), RootStr: root.Cid().String(), Size: a.bytes, Entries: a.entries}
	if a.digest != nil {
		res.SHA256 = hex.EncodeToString(a.digest.Sum(nil))
	}
	if !opts.NoPin {
		if err := n.pinLocked(ctx, root.Cid(), opts.PinReason, true); err != nil {
			return res, fmt.Errorf("add: pinning %s: %w", root.Cid(), err)
		}
		res.Pinned = true
	}
	n.provide(root.Cid())
	return res, nil
}

// AddFile is a convenience for adding one stream (e.g. stdin or an
// in-memory artifact) with default options plus reason.
func (n *Node) AddFile(ctx context.Context, r io.Reader, reason string) (AddResult, error) {
	return n.Add(ctx, files.NewReaderFile(r), AddOptions{PinReason: reason})
}

type adder struct {
	n       *Node
	ctx     context.Context
	dag     ipld.DAGService
	opts    AddOptions
	bytes   uint64
	entries []AddedEntry
	digest  hash.Hash // sha256 of a single file's content, when asked
}

func (a *adder) record(p string, nd ipld.Node, size uint64) {
	if p == "" {
		p = nd.Cid().String()
	}
	a.entries = append(a.entries, AddedEntry{Path: p, Cid: nd.Cid().String(), Size: size})
}

func (a *adder) addNode(nd files.Node, p string) (ipld.Node, error) {
	if err := a.ctx.Err(); err != nil {
		return nil, err
	}
	switch f := nd.(type) {
	case *files.Symlink:
		return a.addSymlink(f, p)
	case files.File:
		defer f.Close()
		return a.addFile(f, p)
	case files.Directory:
		defer f.Close()
		return a.addDir(f, p)
	default:
		return nil, fmt.Errorf("%s: unsupported file type %T", p, nd)
	}
}

// countingReader reports progress and counts bytes, and stops on ctx.
type countingReader struct {
	r   io.Reader
	ctx context.Context
	n   *uint64
	cb  func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	k, err := c.r.Read(p)
	*c.n += uint64(k)
	if c.cb != nil && k > 0 {
		c.cb(int64(k))
	}
	return k, err
}

func (a *adder) addFile(f io.Reader, p string) (ipld.Node, error) {
	before := a.bytes
	cfg := a.n.cfg.Import
	r := &countingReader{r: f, ctx: a.ctx, n: &a.bytes, cb: a.opts.Progress}
	params := helpers.DagBuilderParams{
		Maxlinks:   cfg.MaxLinks,
		RawLeaves:  true,
		CidBuilder: CidBuilder,
		Dagserv:    a.dag,
	}
	db, err := params.New(chunk.NewSizeSplitter(r, int64(cfg.ChunkSize)))
	if err != nil {
		return nil, err
	}
	nd, err := balanced.Layout(db)
	if err != nil {
		if p != "" {
			return nil, fmt.Errorf("importing %s: %w", p, err)
		}
		return nil, err
	}
	a.record(p, nd, a.bytes-before)
	return nd, nil
}

func (a *adder) addSymlink(s *files.Symlink, p string) (ipld.Node, error) {
	data, err := ft.SymlinkData(s.Target)
	if err != nil {
		return nil, err
	}
	nd := merkledag.NodeWithData(data)
	if err := nd.SetCidBuilder(CidBuilder); err != nil {
		return nil, err
	}
	if err := a.dag.Add(a.ctx, nd); err != nil {
		return nil, err
	}
	a.record(p, nd, 0)
	return nd, nil
}

func (a *adder) addDir(d files.Directory, p string) (ipld.Node, error) {
	dir, err := uio.NewDirectory(a.dag, uio.WithCidBuilder(CidBuilder))
	if err != nil {
		return nil, err
	}
	dir.SetHAMTShardingSize(a.n.cfg.Import.HAMTShardingSize)
	it := d.Entries()
	for it.Next() {
		name := it.Name()
		if !a.opts.Hidden && len(name) > 0 && name[0] == '.' {
			it.Node().Close()
			continue
		}
		child, err := a.addNode(it.Node(), path.Join(p, name))
		if err != nil {
			return nil, err
		}
		if err := dir.AddChild(a.ctx, name, child); err != nil {
			return nil, fmt.Errorf("adding %s to its directory: %w", name, err)
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("reading directory %s: %w", p, err)
	}
	nd, err := dir.GetNode()
	if err != nil {
		return nil, err
	}
	if err := a.dag.Add(a.ctx, nd); err != nil {
		return nil, err
	}
	size, err := nd.Size()
	if err != nil {
		return nil, err
	}
	a.record(p, nd, size)
	return nd, nil
}
