package storage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/ipld/merkledag"
	ipfspinner "github.com/ipfs/boxo/pinning/pinner"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/multiformats/go-base32"
)

// MaxPinReasonLen bounds a pin reason.
const MaxPinReasonLen = 256

// ErrNotPinned is returned when unpinning a CID that is not pinned.
var ErrNotPinned = errors.New("not pinned")

// Pin reasons live in the metadata datastore under
// /openledger/pin-reasons/<cid>/<base32(reason)>, the value being the reason.
var reasonRoot = ds.NewKey("/openledger/pin-reasons")

func reasonKey(c cid.Cid, reason string) ds.Key {
	enc := "-" // the empty reason; "-" is not base32, so it cannot collide
	if reason != "" {
		enc = base32.RawStdEncoding.EncodeToString([]byte(reason))
	}
	return reasonRoot.ChildString(c.String()).ChildString(enc)
}

func validateReason(r string) error {
	if len(r) > MaxPinReasonLen {
		return fmt.Errorf("pin reason is %d bytes, the limit is %d", len(r), MaxPinReasonLen)
	}
	if !utf8.ValidString(r) || strings.ContainsAny(r, "\x00\n\r") {
		return errors.New("pin reason must be one line of valid UTF-8")
	}
	return nil
}

// Pin implements API.
func (n *Node) Pin(ctx context.Context, c cid.Cid, reason string) error {
	n.gcLock.RLock()
	defer n.gcLock.RUnlock()
	if err := n.pinLocked(ctx, c, reason, false); err != nil {
		return err
	}
	n.provide(c)
	return nil
}

// pinLocked pins with gcLock held (shared). The whole DAG is present (or
// fetched) before the pin is written, and the pin is flushed to disk before
// the reason; a pin is never recorded for a partial DAG. complete says the
// caller has just written or walked the whole DAG, which skips the re-walk.
func (n *Node) pinLocked(ctx context.Context, c cid.Cid, reason string, complete bool) error {
	if err := validateReason(reason); err != nil {
		return err
	}
	if !complete && n.Online() {
		// Fetch before taking pinMu, so a long download does not hold up
		// other pins. fetchAll visits every block of the DAG, so afterwards
		// the DAG is known to be complete locally and the pinner need not
		// walk it again. (The shared gc lock, held by the caller, keeps the
		// fetched blocks until the pin is written.)
		if _, pinned, err := n.pinner.IsPinnedWithType(ctx, c, ipfspinner.Recursive); err != nil {
			return err
		} else if !pinned {
			g := newStallGuard(ctx, fetchTimeout(n))
			err := n.fetchAll(g, c)
			g.stop()
			if err != nil {
				return g.wrap(n, c, err)
			}
			complete = true
		}
	}
	n.pinMu.Lock()
	defer n.pinMu.Unlock()
	fctx, cancel := n.fetchCtx(ctx)
	defer cancel()
	_, pinned, err := n.pinner.IsPinnedWithType(ctx, c, ipfspinner.Recursive)
	if err != nil {
		return err
	}
	if !pinned && complete {
		if err := n.pinner.PinWithMode(ctx, c, ipfspinner.Recursive, reason); err != nil {
			return fmt.Errorf("saving pin: %w", err)
		}
		if err := n.pinner.Flush(ctx); err != nil {
			return fmt.Errorf("saving pin: %w", err)
		}
	} else if !pinned {
		nd, err := n.dag.Get(fctx, c)
		if err != nil {
			return n.explainFetchErr(fctx, c, err)
		}
		if err := n.pinner.Pin(fctx, nd, true, reason); err != nil {
			return n.explainFetchErr(fctx, c, err)
		}
		if err := n.pinner.Flush(ctx); err != nil {
			return fmt.Errorf("saving pin: %w", err)
		}
	}
	if err := n.meta.Put(ctx, reasonKey(c, reason), []byte(reason)); err != nil {
		return fmt.Errorf("saving pin reason: %w", err)
	}
	return n.meta.Sync(ctx, reasonRoot)
}

func (n *Node) reasons(ctx context.Context, c cid.Cid) ([]string, []ds.Key, error) {
	res, err := n.meta.Query(ctx, query.Query{Prefix: reasonRoot.ChildString(c.String()).String()})
	if err != nil {
		return nil, nil, err
	}
	defer res.Close()
	var reasons []string
	var keys []ds.Key
	for e := range res.Next() {
		if e.Error != nil {
			return nil, nil, e.Error
		}
		reasons = append(reasons, string(e.Value))
		keys = append(keys, ds.NewKey(e.Key))
	}
	sort.Strings(reasons)
	return reasons, keys, nil
}

// Unpin implements API.
func (n *Node) Unpin(ctx context.Context, c cid.Cid, reason string) error {
	n.pinMu.Lock()
	defer n.pinMu.Unlock()
	_, pinned, err := n.pinner.IsPinnedWithType(ctx, c, ipfspinner.Recursive)
	if err != nil {
		return err
	}
	if !pinned {
		return fmt.Errorf("%s is %w", c, ErrNotPinned)
	}
	reasons, keys, err := n.reasons(ctx, c)
	if err != nil {
		return err
	}
	var drop []ds.Key
	if reason == "" {
		drop = keys
	} else {
		k := reasonKey(c, reason)
		for _, have := range keys {
			if have.Equal(k) {
				drop = append(drop, k)
			}
		}
		if len(drop) == 0 {
			return fmt.Errorf("%s is %w with reason %q (its reasons: %q)", c, ErrNotPinned, reason, reasons)
		}
	}
	for _, k := range drop {
		if err := n.meta.Delete(ctx, k); err != nil {
			return fmt.Errorf("removing pin reason: %w", err)
		}
	}
	if len(drop) < len(keys) {
		return n.meta.Sync(ctx, reasonRoot)
	}
	if err := n.pinner.Unpin(ctx, c, true); err != nil {
		return fmt.Errorf("unpinning %s: %w", c, err)
	}
	return n.pinner.Flush(ctx)
}

// Pins implements API.
func (n *Node) Pins(ctx context.Context) ([]PinInfo, error) {
	var out []PinInfo
	for sp := range n.pinner.RecursiveKeys(ctx, false) {
		if sp.Err != nil {
			return nil, sp.Err
		}
		reasons, _, err := n.reasons(ctx, sp.Pin.Key)
		if err != nil {
			return nil, err
		}
		if reasons == nil {
			reasons = []string{}
		}
		out = append(out, PinInfo{Cid: sp.Pin.Key.String(), Reasons: reasons})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Cid < out[j].Cid })
	return out, nil
}

// GC implements API. It holds the gc lock exclusively, so no add or pin
// runs while it decides which blocks are live.
func (n *Node) GC(ctx context.Context) (GCResult, error) {
	n.gcLock.Lock()
	defer n.gcLock.Unlock()
	live := map[string]struct{}{}
	// Walk only local blocks: a pin is only written for a complete DAG.
	local := merkledag.NewDAGService(blockservice.New(n.bstore, nil))
	getLinks := merkledag.GetLinksWithDAG(local)
	visit := func(c cid.Cid) bool {
		k := string(c.Hash())
		if _, ok := live[k]; ok {
			return false
		}
		live[k] = struct{}{}
		return true
	}
	for sp := range n.pinner.RecursiveKeys(ctx, false) {
		if sp.Err != nil {
			return GCResult{}, sp.Err
		}
		if err := merkledag.Walk(ctx, getLinks, sp.Pin.Key, visit); err != nil {
			return GCResult{}, fmt.Errorf("gc: walking pinned DAG %s (repo may be damaged, run `repo verify`): %w", sp.Pin.Key, err)
		}
	}
	for sp := range n.pinner.DirectKeys(ctx, false) {
		if sp.Err != nil {
			return GCResult{}, sp.Err
		}
		visit(sp.Pin.Key)
	}
	keys, err := n.bstore.AllKeysChan(ctx)
	if err != nil {
		return GCResult{}, err
	}
	var res GCResult
	var delErr error
	for c := range keys {
		if _, ok := live[string(c.Hash())]; ok {
			res.Kept++
			continue
		}
		size, _ := n.bstore.GetSize(ctx, c)
		if err := n.bstore.DeleteBlock(ctx, c); err != nil {
			delErr = errors.Join(delErr, fmt.Errorf("deleting %s: %w", c, err))
			continue
		}
		res.Removed++
		if size > 0 {
			res.FreedBytes += uint64(size)
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, delErr
}
