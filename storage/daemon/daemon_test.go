package daemon

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/boxo/files"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"

	"github.com/openledger/openledger/storage"
	"github.com/openledger/openledger/storage/api"
)

type running struct {
	dir    string
	info   Info
	node   *storage.Node
	client *api.Client
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// start runs a daemon on a fresh loopback-only repo.
func start(t testing.TB, mut func(*storage.Config)) *running {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ipfs")
	cfg := storage.LoopbackConfig()
	cfg.Routing.DHT = "none"
	cfg.Datastore.SyncWrites = false
	if mut != nil {
		mut(&cfg)
	}
	if err := storage.Init(dir, &cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{dir: dir, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan struct{})
	go func() {
		r.done <- Run(ctx, dir, Options{
			Node:    func(n *storage.Node) { r.node = n },
			OnReady: func(i Info) { r.info = i; close(ready) },
		})
	}()
	select {
	case <-ready:
	case err := <-r.done:
		t.Fatalf("daemon failed to start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not start in 20s")
	}
	r.client = api.NewClient(r.info.APIURL)
	t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	r.once.Do(func() {
		r.cancel()
		select {
		case <-r.done:
		case <-time.After(15 * time.Second):
			panic("daemon did not stop within 15s")
		}
	})
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

func TestTwoDaemonsExchange64MiB(t *testing.T) {
	a, b := start(t, nil), start(t, nil)
	ctx := context.Background()
	data := pattern(64<<20, 1)
	res, err := a.client.Add(ctx, files.NewBytesFile(data), storage.AddOptions{Name: "weights.bin", PinReason: "model 1 version 1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.client.Connect(ctx, a.info.SwarmAddrs[0]); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out := filepath.Join(t.TempDir(), "weights.bin")
	if err := b.client.Get(ctx, res.Root, out, nil); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("fetched file differs")
	}
	t.Logf("bitswap fetch of 64 MiB over loopback: %s (%.0f MB/s)", el, 64*1.048576/el.Seconds())
	// B pins what it fetched; the pin survives gc and B serves it back to A's peers.
	if err := b.client.Pin(ctx, res.Root, "replica"); err != nil {
		t.Fatal(err)
	}
	if gc, err := b.client.GC(ctx); err != nil || gc.Removed != 0 {
		t.Fatalf("gc on b: %+v %v", gc, err)
	}
	peers, err := b.client.Peers(ctx)
	if err != nil || len(peers) == 0 || peers[0].ID != a.info.PeerID {
		t.Fatalf("peers %+v %v", peers, err)
	}
}

func TestAPIClientMatchesNode(t *testing.T) {
	d := start(t, nil)
	c := d.client
	ctx := context.Background()
	dir := files.NewMapDirectory(map[string]files.Node{
		"a.txt": files.NewBytesFile([]byte("alpha")),
		"sub":   files.NewMapDirectory(map[string]files.Node{"b.bin": files.NewBytesFile(pattern(300<<10, 2))}),
	})
	var sent int64
	res, err := c.Add(ctx, dir, storage.AddOptions{Name: "ds", PinReason: "datanet 3 contribution 17", Progress: func(n int64) { sent += n }})
	if err != nil {
		t.Fatal(err)
	}
	if sent < 300<<10 || len(res.Entries) != 4 || res.Entries[3].Path != "ds" {
		t.Fatalf("add via API: sent %d, %+v", sent, res)
	}
	// Same root as adding directly to a node: the API is lossless.
	mem, _ := storage.NewMemoryNode(ctx, storage.DefaultConfig(), storage.OpenOptions{})
	defer mem.Close()
	direct, _ := mem.Add(ctx, files.NewMapDirectory(map[string]files.Node{
		"a.txt": files.NewBytesFile([]byte("alpha")),
		"sub":   files.NewMapDirectory(map[string]files.Node{"b.bin": files.NewBytesFile(pattern(300<<10, 2))}),
	}), storage.AddOptions{})
	if direct.RootStr != res.RootStr {
		t.Fatalf("API add %s != direct add %s", res.RootStr, direct.RootStr)
	}
	out := filepath.Join(t.TempDir(), "out")
	var fetched int64
	if err := c.Get(ctx, res.Root, out, func(n int64) { fetched += n }); err != nil {
		t.Fatal(err)
	}
	if fetched != 5+300<<10 {
		t.Fatalf("get progress reported %d bytes, want %d", fetched, 5+300<<10)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "sub", "b.bin")); !bytes.Equal(b, pattern(300<<10, 2)) {
		t.Fatal("get via API: wrong content")
	}
	st, err := c.Stat(ctx, res.Root)
	if err != nil || st.Type != "directory" {
		t.Fatalf("stat %+v %v", st, err)
	}
	pins, _ := c.Pins(ctx)
	if len(pins) != 1 || pins[0].Reasons[0] != "datanet 3 contribution 17" {
		t.Fatalf("pins %+v", pins)
	}
	var car bytes.Buffer
	if err := c.ExportCAR(ctx, res.Root, &car); err != nil {
		t.Fatal(err)
	}
	if err := c.Unpin(ctx, res.Root, ""); err != nil {
		t.Fatal(err)
	}
	if gc, _ := c.GC(ctx); gc.Removed != st.Blocks {
		t.Fatalf("gc removed %d of %d", gc.Removed, st.Blocks)
	}
	imp, err := c.ImportCAR(ctx, &car, "restored", false)
	if err != nil || len(imp.Pinned) != 1 {
		t.Fatalf("car import %+v %v", imp, err)
	}
	if v, err := c.Verify(ctx, false); err != nil || v.Checked != st.Blocks || len(v.Corrupt) != 0 {
		t.Fatalf("verify %+v %v", v, err)
	}
	// Errors keep their type across the API.
	missing, _ := storage.ParseCID("bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e")
	if err := c.Unpin(ctx, missing, ""); !errors.Is(err, storage.ErrNotPinned) {
		t.Fatalf("unpin unknown: %v", err)
	}
	if err := c.Connect(ctx, "/ip4/127.0.0.1/tcp/1"); err == nil || !strings.Contains(err.Error(), "/p2p/") {
		t.Fatalf("connect without peer id: %v", err)
	}
	// Discovery through <repo>/api, and the file goes away on shutdown.
	found, err := api.DiscoverClient(ctx, d.dir)
	if err != nil || found == nil || found.Base() != d.info.APIURL {
		t.Fatalf("discover: %v %v", found, err)
	}
	// While the daemon runs the repo is locked for direct use.
	if _, err := storage.Open(ctx, d.dir, storage.OpenOptions{}); !errors.Is(err, storage.ErrRepoLocked) {
		t.Fatalf("open while daemon runs: %v", err)
	}
	d.stop()
	if _, err := os.Stat(filepath.Join(d.dir, storage.APIFile)); !os.IsNotExist(err) {
		t.Fatal("api file left behind after shutdown")
	}
	n, err := storage.Open(ctx, d.dir, storage.OpenOptions{})
	if err != nil {
		t.Fatalf("repo not released after shutdown: %v", err)
	}
	defer n.Close()
	if pins, _ := n.Pins(ctx); len(pins) != 1 || pins[0].Reasons[0] != "restored" {
		t.Fatalf("pins after restart %+v", pins)
	}
}

func TestFetchFromUnconnectedNetworkTimesOut(t *testing.T) {
	d := start(t, func(c *storage.Config) { c.FetchTimeout = storage.Duration(400 * time.Millisecond) })
	missing, _ := storage.ParseCID("bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e")
	rc, err := d.client.Cat(context.Background(), missing)
	if err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	if !errors.Is(err, storage.ErrNotFound) || !strings.Contains(err.Error(), "no progress") {
		t.Fatalf("want a timeout error, got %v", err)
	}
}

func TestDHTFindsProviderThroughThirdPeer(t *testing.T) {
	dht := func(c *storage.Config) { c.Routing.DHT = "server"; c.FetchTimeout = storage.Duration(20 * time.Second) }
	hub := start(t, dht)
	a := start(t, dht)
	b := start(t, dht)
	ctx := context.Background()
	// a and b only know the hub; b must learn from the DHT that a provides.
	for _, r := range []*running{a, b} {
		if err := r.client.Connect(ctx, hub.info.SwarmAddrs[0]); err != nil {
			t.Fatal(err)
		}
	}
	res, err := a.client.Add(ctx, files.NewBytesFile([]byte("found through the DHT")), storage.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Provide synchronously for the test (Add provides in the background).
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// The hub enters a's routing table once identify has run; retry until then.
	for {
		err := a.node.Provide(pctx, res.Root)
		if err == nil {
			break
		}
		if pctx.Err() != nil {
			t.Fatalf("provide: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rc, err := b.client.Cat(ctx, res.Root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != "found through the DHT" {
		t.Fatalf("cat via DHT: %q %v", got, err)
	}
}

func newClient(url string) *api.Client { return api.NewClient(url) }

func connectedTo(ps []storage.PeerInfo, id string) bool {
	for _, p := range ps {
		if p.ID == id {
			return true
		}
	}
	return false
}

func TestBootstrapPeeringAndReprovide(t *testing.T) {
	dht := func(c *storage.Config) {
		c.Routing.DHT = "server"
		c.Routing.ReprovideInterval = storage.Duration(200 * time.Millisecond)
		c.FetchTimeout = storage.Duration(20 * time.Second)
	}
	hub := start(t, dht)
	// a and b only know the hub, from their config: no `peers connect`.
	boot := func(c *storage.Config) { dht(c); c.Bootstrap = []string{hub.info.SwarmAddrs[0]} }
	a, b := start(t, boot), start(t, boot)
	ctx := context.Background()
	for _, r := range []*running{a, b} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if ps, _ := r.client.Peers(ctx); connectedTo(ps, hub.info.PeerID) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never connected to its bootstrap peer", r.info.PeerID)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// A CAR import is pinned but not announced at import time; only the
	// reprovide loop puts a's provider record on the DHT.
	src, _ := storage.NewMemoryNode(ctx, storage.DefaultConfig(), storage.OpenOptions{})
	defer src.Close()
	res, _ := src.Add(ctx, files.NewBytesFile([]byte("announced by the reprovider")), storage.AddOptions{})
	var car bytes.Buffer
	if err := src.ExportCAR(ctx, res.Root, &car); err != nil {
		t.Fatal(err)
	}
	if _, err := a.client.ImportCAR(ctx, &car, "imported", false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		fctx, cancel := context.WithTimeout(ctx, time.Second)
		provs, _ := b.node.FindProviders(fctx, res.Root, 1)
		cancel()
		if len(provs) == 1 && provs[0].String() == a.info.PeerID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a never became a provider on the DHT: %v", provs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rc, err := b.client.Cat(ctx, res.Root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != "announced by the reprovider" {
		t.Fatalf("cat: %q %v", got, err)
	}
}

func TestRemoteStatAndCARExport(t *testing.T) {
	a, b := start(t, nil), start(t, nil)
	ctx := context.Background()
	data := pattern(3<<20+1, 5)
	res, err := a.client.Add(ctx, files.NewBytesFile(data), storage.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.client.Connect(ctx, a.info.SwarmAddrs[0]); err != nil {
		t.Fatal(err)
	}
	want, _ := a.client.Stat(ctx, res.Root)
	got, err := b.client.Stat(ctx, res.Root)
	if err != nil || got != want {
		t.Fatalf("remote stat %+v, local %+v, %v", got, want, err)
	}
	var fromA, fromB bytes.Buffer
	if err := a.client.ExportCAR(ctx, res.Root, &fromA); err != nil {
		t.Fatal(err)
	}
	if err := b.client.ExportCAR(ctx, res.Root, &fromB); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fromA.Bytes(), fromB.Bytes()) {
		t.Fatal("CAR exported by the fetching node differs from the source's")
	}
}

func TestFetchOverQUIC(t *testing.T) {
	a, b := start(t, nil), start(t, nil)
	ctx := context.Background()
	var quicAddr string
	for _, ad := range a.info.SwarmAddrs {
		if strings.Contains(ad, "/quic-v1/") {
			quicAddr = ad
		}
	}
	if quicAddr == "" {
		t.Fatalf("no QUIC listener: %v", a.info.SwarmAddrs)
	}
	data := pattern(2<<20, 8)
	res, err := a.client.Add(ctx, files.NewBytesFile(data), storage.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.client.Connect(ctx, quicAddr); err != nil {
		t.Fatal(err)
	}
	ps, _ := b.client.Peers(ctx)
	if len(ps) != 1 || !strings.Contains(ps[0].Addr, "quic-v1") {
		t.Fatalf("not connected over QUIC: %+v", ps)
	}
	rc, err := b.client.Cat(ctx, res.Root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("cat over QUIC: %d bytes, %v", len(got), err)
	}
}

func TestFetchIntoFullRepoFailsClearly(t *testing.T) {
	a := start(t, nil)
	b := start(t, func(c *storage.Config) { c.Datastore.StorageMax = 1 << 20 })
	ctx := context.Background()
	res, err := a.client.Add(ctx, files.NewBytesFile(pattern(3<<20, 1)), storage.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.client.Connect(ctx, a.info.SwarmAddrs[0]); err != nil {
		t.Fatal(err)
	}
	err = b.client.Pin(ctx, res.Root, "too big for b")
	if !errors.Is(err, storage.ErrRepoFull) || !strings.Contains(err.Error(), "StorageMax") {
		t.Fatalf("want ErrRepoFull, got %v", err)
	}
	if pins, _ := b.client.Pins(ctx); len(pins) != 0 {
		t.Fatalf("partial fetch pinned: %+v", pins)
	}
}

func TestOnlineNodeHealsCorruptBlockFromPeer(t *testing.T) {
	a, b := start(t, nil), start(t, nil)
	ctx := context.Background()
	data := pattern(600<<10, 21)
	res, err := a.client.Add(ctx, files.NewBytesFile(data), storage.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.client.Connect(ctx, a.info.SwarmAddrs[0]); err != nil {
		t.Fatal(err)
	}
	if err := b.client.Pin(ctx, res.Root, "replica"); err != nil {
		t.Fatal(err)
	}
	// Damage every block file of b's copy.
	filepath.WalkDir(filepath.Join(b.dir, storage.BlocksDir), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".data") {
			os.WriteFile(p, []byte("bit rot"), 0o600)
		}
		return nil
	})
	if v, _ := b.client.Verify(ctx, false); len(v.Corrupt) != v.Checked || v.Checked == 0 {
		t.Fatalf("damage not detected: %+v", v)
	}
	rc, err := b.client.Cat(ctx, res.Root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("cat on a damaged replica: %d bytes, %v", len(got), err)
	}
	if v, _ := b.client.Verify(ctx, false); len(v.Corrupt) != 0 {
		t.Fatalf("replica not healed: %+v", v)
	}
}

// TestStalledWantIsAskedAgain: b asks a for a block a does not have yet (a
// answers DONT_HAVE); a then gets the block without announcing it. bitswap
// alone would wait for its periodic search (a minute); the fetcher re-sends
// the stalled want list after a few seconds and completes.
func TestStalledWantIsAskedAgain(t *testing.T) {
	a := start(t, nil)
	b := start(t, func(c *storage.Config) { c.FetchTimeout = storage.Duration(40 * time.Second) })
	ctx := context.Background()
	if err := b.client.Connect(ctx, a.info.SwarmAddrs[0]); err != nil {
		t.Fatal(err)
	}
	data := []byte("arrives after the first want")
	c, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: 0x12, MhLength: -1}.Sum(data)
	blk, _ := blocks.NewBlockWithCid(data, c)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- b.client.Pin(ctx, c, "late block") }()
	time.Sleep(time.Second)
	// Straight into a's block store: no bitswap notification to b.
	if err := a.node.Blockstore().Put(ctx, blk); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("fetched after %s", time.Since(start))
	case <-time.After(30 * time.Second):
		t.Fatal("stalled want was not retried within 30s")
	}
}
