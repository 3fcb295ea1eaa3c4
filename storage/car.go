package storage

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/ipld/merkledag"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	carstorage "github.com/ipld/go-car/v2/storage"
)

// CAR reading limits: a header larger than MaxCARHeader or a section
// (CID + block) larger than MaxCARSection is rejected before it is read.
const (
	MaxCARHeader  = 1 << 20
	MaxCARSection = 4 << 20
)

// ReadCAR reads a CAR v1 or v2 stream, verifies every block against its CID
// and hands it to fn. It returns the header's roots. It never trusts the
// input: sizes are bounded and hashes are checked before fn sees a block.
func ReadCAR(r io.Reader, fn func(blocks.Block) error) ([]cid.Cid, error) {
	br, err := carv2.NewBlockReader(r,
		carv2.WithTrustedCAR(false),
		carv2.MaxAllowedHeaderSize(MaxCARHeader),
		carv2.MaxAllowedSectionSize(MaxCARSection),
		carv2.ZeroLengthSectionAsEOF(false),
	)
	if err != nil {
		return nil, fmt.Errorf("invalid CAR header: %w", err)
	}
	if len(br.Roots) == 0 {
		return nil, errors.New("invalid CAR: no roots")
	}
	for i := 0; ; i++ {
		b, err := br.Next()
		if errors.Is(err, io.EOF) {
			return br.Roots, nil
		}
		if err != nil {
			return nil, fmt.Errorf("invalid CAR block #%d: %w", i, err)
		}
		if err := fn(b); err != nil {
			return nil, err
		}
	}
}

// ImportCAR implements API.
func (n *Node) ImportCAR(ctx context.Context, r io.Reader, reason string, noPin bool) (CARImportResult, error) {
	if err := validateReason(reason); err != nil {
		return CARImportResult{}, err
	}
	n.gcLock.RLock()
	defer n.gcLock.RUnlock()
	var res CARImportResult
	const batchSize = 64
	pending := make([]blocks.Block, 0, batchSize)
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		err := n.bstore.PutMany(ctx, pending)
		pending = pending[:0]
		return err
	}
	roots, err := ReadCAR(r, func(b blocks.Block) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		res.Blocks++
		res.Bytes += uint64(len(b.RawData()))
		pending = append(pending, b)
		if len(pending) == batchSize {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return res, fmt.Errorf("car import: %w", err)
	}
	res.Pinned = []string{}
	local := merkledag.NewDAGService(blockservice.New(n.bstore, nil))
	for _, root := range roots {
		res.Roots = append(res.Roots, root.String())
		// GetLinksDirect reads every block, raw leaves included (the
		// link-only walker skips raw blocks, which would miss absent leaves).
		seen := cid.NewSet()
		if err := merkledag.Walk(ctx, merkledag.GetLinksDirect(local), root, seen.Visit); err != nil {
			res.Incomplete = append(res.Incomplete, root.String())
			continue
		}
		if noPin {
			continue
		}
		if err := n.pinLocked(ctx, root, reason, true); err != nil {
			return res, fmt.Errorf("car import: pinning %s: %w", root, err)
		}
		res.Pinned = append(res.Pinned, root.String())
	}
	return res, nil
}

// ExportCAR implements API. Blocks are written depth-first in link order,
// each once, which is the order kubo's `dag export` uses.
func (n *Node) ExportCAR(ctx context.Context, c cid.Cid, w io.Writer) error {
	// Fetch or check the root before writing anything, so a missing root
	// gives an error instead of a CAR with a header and no blocks.
	fctx, cancel := n.fetchCtx(ctx)
	_, err := n.dag.Get(fctx, c)
	cancel()
	if err != nil {
		return n.explainFetchErr(fctx, c, err)
	}
	car, err := carstorage.NewWritable(onlyWriter{w}, []cid.Cid{c}, carv2.WriteAsCarV1(true))
	if err != nil {
		return err
	}
	g := newStallGuard(ctx, fetchTimeout(n))
	defer g.stop()
	if n.Online() {
		if err := n.fetchAll(g, c); err != nil {
			return g.wrap(n, c, err)
		}
	}
	ng := n.dag
	seen := cid.NewSet()
	var walk func(cid.Cid) error
	walk = func(k cid.Cid) error {
		if !seen.Visit(k) {
			return nil
		}
		nd, err := ng.Get(g.ctx, k)
		if err != nil {
			return err
		}
		g.touch(fetchTimeout(n))
		if err := car.Put(g.ctx, k.KeyString(), nd.RawData()); err != nil {
			return fmt.Errorf("writing CAR: %w", err)
		}
		for _, l := range nd.Links() {
			if err := walk(l.Cid); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(c); err != nil {
		return g.wrap(n, c, err)
	}
	return car.Finalize()
}

// onlyWriter hides io.WriterAt so the CAR is always written sequentially.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }
