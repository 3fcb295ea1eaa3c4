package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ipfs/boxo/bitswap"
	bsnet "github.com/ipfs/boxo/bitswap/network/bsnet"
	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/exchange"
	"github.com/ipfs/boxo/ipld/merkledag"
	ipfspinner "github.com/ipfs/boxo/pinning/pinner"
	"github.com/ipfs/boxo/pinning/pinner/dspinner"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	ipld "github.com/ipfs/go-ipld-format"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	routinghelpers "github.com/libp2p/go-libp2p-routing-helpers"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"

	"github.com/openledger/openledger/p2p"
)

// Node is an IPFS node: block store, block service, DAG service, pinner and,
// when online, a libp2p host with bitswap and (optionally) the kad-dht.
// It implements API. All methods are safe for concurrent use.
type Node struct {
	cfg  Config
	repo *Repo // nil for in-memory nodes
	key  crypto.PrivKey
	id   peer.ID
	log  *slog.Logger

	meta    ds.Batching
	blocks  ds.Batching // raw block datastore (flatfs or memory), for verify
	checked *checkedBlockstore
	bstore  blockstore.Blockstore
	bserv   blockservice.BlockService
	dag     ipld.DAGService
	pinner  ipfspinner.Pinner

	// gcLock: adds, pins and imports hold it shared; gc holds it exclusively,
	// so gc never deletes blocks of a DAG that is being written or pinned.
	gcLock sync.RWMutex
	// pinMu serialises pin-reason updates.
	pinMu sync.Mutex

	host    host.Host
	bitswap *bitswap.Bitswap
	dht     *dht.IpfsDHT
	router  routing.ContentRouting

	// bg is the node's lifetime: bitswap, the DHT and the peering and
	// reprovide loops stop when Close cancels it.
	bg       context.Context
	bgCancel context.CancelFunc
	bgWG     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// OpenOptions select how a repo is opened.
type OpenOptions struct {
	// Online starts the libp2p host, bitswap and the configured DHT.
	Online bool
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
}

// Open locks and opens the repo at dir (see RepoPath) and builds a node on it.
func Open(ctx context.Context, dir string, opts OpenOptions) (*Node, error) {
	r, err := OpenRepo(dir)
	if err != nil {
		return nil, err
	}
	usage := func(ctx context.Context) (uint64, error) { return r.Blocks.DiskUsage(ctx) }
	n, err := newNode(ctx, r.Config, r.Key, r.Meta, r.Blocks, usage, opts)
	if err != nil {
		r.Close()
		return nil, err
	}
	n.repo = r
	return n, nil
}

// NewMemoryNode builds a node whose blocks and pins live in memory, with a
// fresh identity; for tests, benchmarks and tools.
func NewMemoryNode(ctx context.Context, cfg Config, opts OpenOptions) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, err
	}
	meta := dssync.MutexWrap(ds.NewMapDatastore())
	blocks := dssync.MutexWrap(ds.NewMapDatastore())
	return newNode(ctx, cfg, key, meta, blocks, nil, opts)
}

func newNode(ctx context.Context, cfg Config, key crypto.PrivKey, meta, blocks ds.Batching,
	usage func(context.Context) (uint64, error), opts OpenOptions) (*Node, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Node{cfg: cfg, key: key, id: id, log: log, meta: meta, blocks: blocks}
	n.bg, n.bgCancel = context.WithCancel(context.Background())
	// Keys are the base32 multihash with no "/blocks" prefix: kubo's flatfs layout.
	n.checked = newCheckedBlockstore(
		blockstore.NewBlockstore(blocks, blockstore.NoPrefix(), blockstore.WriteThrough(true)), usage, cfg.Datastore.StorageMax)
	n.bstore = blockstore.NewIdStore(n.checked)

	var exch exchange.Interface
	if opts.Online {
		if err := n.startNetwork(); err != nil {
			n.Close()
			return nil, err
		}
		exch = n.bitswap
	}
	// Write-through (kubo's default since 0.35): no existence check before
	// each write, which saves a stat per block on fresh adds and lets a
	// re-add overwrite a block file that went bad.
	n.bserv = blockservice.New(n.bstore, exch, blockservice.WriteThrough(true))
	n.dag = merkledag.NewDAGService(n.bserv)
	pinner, err := dspinner.New(ctx, meta, n.dag)
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("loading pins: %w", err)
	}
	n.pinner = pinner
	return n, nil
}

func (n *Node) startNetwork() error {
	ctx := n.bg
	h, err := p2p.New(n.key, n.cfg.P2P())
	if err != nil {
		return err
	}
	n.host = h
	boot, err := p2p.ParseAddrInfos(n.cfg.Bootstrap)
	if err != nil {
		return err
	}
	mode, err := p2p.ParseDHTMode(n.cfg.Routing.DHT)
	if err != nil {
		return err
	}
	var router routing.ContentRouting = routinghelpers.Null{}
	if mode != p2p.DHTOff {
		d, err := p2p.NewDHT(ctx, h, mode, boot)
		if err != nil {
			return err
		}
		n.dht, router = d, d
	}
	n.router = router
	n.bitswap = bitswap.New(ctx, bsnet.NewFromIpfsHost(h), router, n.bstore,
		// kubo's 1 MiB per-peer send window measured as fast as 8 MiB on
		// loopback; more blockstore workers overlap flatfs reads.
		bitswap.MaxOutstandingBytesPerPeer(1<<20),
		bitswap.EngineBlockstoreWorkerCount(32),
		// Do not treat a slow answer as DONT_HAVE: on a loaded machine the
		// peer's replies overran bitswap's latency-based timeout, the session
		// gave up on the only peer that had the data and the fetch stalled
		// (256 MiB fetches: 5-20 s stalls; without: none in our runs). Lost
		// wants are still re-sent by fetchBatch.
		bitswap.SetSimulateDontHavesOnTimeout(false),
	)
	// Peering: configured bootstrap peers are dialled now and redialled
	// whenever they drop, for the node's whole life.
	n.bgWG.Add(1)
	go func() {
		defer n.bgWG.Done()
		p2p.KeepConnected(ctx, h, boot, 30*time.Second, func(err error) { n.log.Warn("peering", "err", err) })
	}()
	if n.dht != nil && n.cfg.Routing.ReprovideInterval > 0 {
		n.bgWG.Add(1)
		go func() {
			defer n.bgWG.Done()
			n.reprovideLoop(ctx, time.Duration(n.cfg.Routing.ReprovideInterval))
		}()
	}
	return nil
}

// reprovideLoop re-announces every pinned root on the DHT shortly after
// start and then every interval, so provider records never expire.
func (n *Node) reprovideLoop(ctx context.Context, interval time.Duration) {
	wait := min(10*time.Second, interval)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = interval
		pins, err := n.Pins(ctx)
		if err != nil {
			n.log.Warn("reprovide: listing pins", "err", err)
			continue
		}
		for _, p := range pins {
			c, err := cid.Decode(p.Cid)
			if err != nil {
				continue
			}
			pctx, cancel := context.WithTimeout(ctx, time.Minute)
			if err := n.dht.Provide(pctx, c, true); err != nil && ctx.Err() == nil {
				n.log.Debug("reprovide", "cid", c, "err", err)
			}
			cancel()
		}
	}
}

// Close stops the network, flushes pins and closes the repo.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.bgCancel()
		n.bgWG.Wait()
		var errs []error
		if n.bitswap != nil {
			errs = append(errs, n.bitswap.Close())
		}
		if n.dht != nil {
			errs = append(errs, n.dht.Close())
		}
		if n.host != nil {
			errs = append(errs, n.host.Close())
		}
		if n.pinner != nil {
			if c, ok := n.pinner.(interface{ Close() error }); ok {
				errs = append(errs, c.Close())
			}
		}
		if n.repo != nil {
			errs = append(errs, n.repo.Close())
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// Config returns the node's configuration.
func (n *Node) Config() Config { return n.cfg }

// PeerID returns the node's libp2p peer ID.
func (n *Node) PeerID() peer.ID { return n.id }

// Online reports whether the node has a network.
func (n *Node) Online() bool { return n.host != nil }

// Host returns the libp2p host, or nil when offline.
func (n *Node) Host() host.Host { return n.host }

// Blockstore returns the verifying block store.
func (n *Node) Blockstore() blockstore.Blockstore { return n.bstore }

// BlockService returns the block service (with bitswap when online).
func (n *Node) BlockService() blockservice.BlockService { return n.bserv }

// DAG returns the DAG service.
func (n *Node) DAG() ipld.DAGService { return n.dag }

// Repo returns the open repo, or nil for an in-memory node.
func (n *Node) Repo() *Repo { return n.repo }

// fetchCtx bounds how long a read may wait for the network.
func (n *Node) fetchCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, time.Duration(n.cfg.FetchTimeout))
}

// explainFetchErr turns not-found and deadline errors into messages that
// say whether the node looked on the network and for how long.
func (n *Node) explainFetchErr(ctx context.Context, c cid.Cid, err error) error {
	if err == nil {
		return nil
	}
	var corrupt *CorruptBlockError
	if errors.As(err, &corrupt) {
		return err
	}
	if !n.Online() && ipld.IsNotFound(err) {
		return fmt.Errorf("%w: %s is not in the local repo and the node is offline (start `openledgerd ipfs daemon` to fetch from peers): %v", ErrNotFound, c, err)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: timed out fetching %s from the network (no connected peer provided it; check `peers ls`, or raise FetchTimeout): %v", ErrNotFound, c, err)
	}
	return err
}

// ErrNotFound wraps every "content not available" error.
var ErrNotFound = errors.New("content not found")

// Provide announces c on the DHT and waits for the announcement.
func (n *Node) Provide(ctx context.Context, c cid.Cid) error {
	if n.dht == nil {
		return errors.New("provide: the DHT is disabled (Routing.DHT = none) or the node is offline")
	}
	return n.dht.Provide(ctx, c, true)
}

// FindProviders asks the DHT which peers announce c (at most max).
func (n *Node) FindProviders(ctx context.Context, c cid.Cid, max int) ([]peer.ID, error) {
	if n.dht == nil {
		return nil, errors.New("find providers: the DHT is disabled (Routing.DHT = none) or the node is offline")
	}
	var out []peer.ID
	for ai := range n.dht.FindProvidersAsync(ctx, c, max) {
		out = append(out, ai.ID)
	}
	return out, ctx.Err()
}

// provide announces a root on the DHT in the background (best effort).
func (n *Node) provide(c cid.Cid) {
	if n.dht == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(n.bg, time.Minute)
		defer cancel()
		if err := n.dht.Provide(ctx, c, true); err != nil {
			n.log.Debug("provide", "cid", c, "err", err)
		}
	}()
}
