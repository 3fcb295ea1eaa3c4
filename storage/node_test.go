package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/boxo/files"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
)

func catAll(t testing.TB, a API, c cid.Cid) []byte {
	t.Helper()
	rc, err := a.Cat(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAddCatRoundTripOnFlatfs(t *testing.T) {
	n, dir := repoNode(t, nil)
	data := pattern(3<<20+17, 1)
	res, err := n.Add(context.Background(), files.NewBytesFile(data), AddOptions{PinReason: "datanet 3 contribution 17"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(catAll(t, n, res.Root), data) {
		t.Fatal("cat returned different bytes")
	}
	// kubo's flatfs layout: blocks/<next-to-last two chars>/<base32 multihash>.data
	leaf := rawCID(data[:256<<10]) // first leaf, CIDv1 raw
	lc, _ := cid.Decode(leaf)
	key := strings.ToUpper(strings.TrimPrefix(cidMultihashKey(lc), "/"))
	shard := key[len(key)-3 : len(key)-1]
	if _, err := os.Stat(filepath.Join(dir, BlocksDir, shard, key+".data")); err != nil {
		t.Fatalf("leaf not stored at kubo's path: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, BlocksDir, "SHARDING")); err != nil || strings.TrimSpace(string(b)) != "/repo/flatfs/shard/v1/next-to-last/2" {
		t.Fatalf("SHARDING file %q %v", b, err)
	}
}

func TestPinReasonsAndGC(t *testing.T) {
	n, _ := repoNode(t, nil)
	ctx := context.Background()
	kept, err := n.Add(ctx, files.NewBytesFile(pattern(600<<10, 2)), AddOptions{PinReason: "model 2 version 5"})
	if err != nil {
		t.Fatal(err)
	}
	loose, err := n.Add(ctx, files.NewBytesFile(pattern(600<<10, 3)), AddOptions{NoPin: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Pin(ctx, kept.Root, "datanet 3 contribution 17"); err != nil {
		t.Fatal(err)
	}
	pins, err := n.Pins(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pins) != 1 || pins[0].Cid != kept.RootStr || strings.Join(pins[0].Reasons, "|") != "datanet 3 contribution 17|model 2 version 5" {
		t.Fatalf("pins %+v", pins)
	}
	gc, err := n.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// loose: 3 leaves + 1 root removed; kept: 3 leaves + 1 root stay.
	if gc.Removed != 4 || gc.Kept != 4 {
		t.Fatalf("gc %+v", gc)
	}
	if _, err := n.Cat(ctx, loose.Root); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unpinned data still readable after gc: %v", err)
	}
	// Removing one reason keeps the pin; removing the last one unpins.
	if err := n.Unpin(ctx, kept.Root, "model 2 version 5"); err != nil {
		t.Fatal(err)
	}
	if err := n.Unpin(ctx, kept.Root, "no such reason"); !errors.Is(err, ErrNotPinned) {
		t.Fatalf("want ErrNotPinned for unknown reason, got %v", err)
	}
	if gc, _ := n.GC(ctx); gc.Removed != 0 {
		t.Fatalf("gc removed pinned blocks: %+v", gc)
	}
	if err := n.Unpin(ctx, kept.Root, "datanet 3 contribution 17"); err != nil {
		t.Fatal(err)
	}
	if err := n.Unpin(ctx, kept.Root, ""); !errors.Is(err, ErrNotPinned) {
		t.Fatalf("double unpin: %v", err)
	}
	if gc, _ := n.GC(ctx); gc.Removed != 4 {
		t.Fatalf("gc after unpin %+v", gc)
	}
	if err := n.Pin(ctx, kept.Root, strings.Repeat("x", MaxPinReasonLen+1)); err == nil {
		t.Fatal("oversized reason accepted")
	}
}

// failingReader returns data then an error, like a disk or network failure
// in the middle of an upload.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	k := copy(p, f.data)
	f.data = f.data[k:]
	return k, nil
}

func TestInterruptedAddLeavesNoPinAndGCCleans(t *testing.T) {
	n, _ := repoNode(t, nil)
	ctx := context.Background()
	boom := errors.New("connection reset")
	// 20 MiB, so that some block batches are flushed before the failure.
	_, err := n.Add(ctx, files.NewReaderFile(&failingReader{data: pattern(20<<20, 4), err: boom}), AddOptions{PinReason: "x"})
	if !errors.Is(err, boom) {
		t.Fatalf("want the reader's error, got %v", err)
	}
	// Cancellation mid-add behaves the same.
	cctx, cancel := context.WithCancel(ctx)
	r := &cancelAfter{r: bytes.NewReader(pattern(4<<20, 5)), after: 1 << 20, cancel: cancel}
	if _, err := n.Add(cctx, files.NewReaderFile(r), AddOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	if pins, _ := n.Pins(ctx); len(pins) != 0 {
		t.Fatalf("interrupted add left pins: %+v", pins)
	}
	v, err := n.Verify(ctx, false)
	if err != nil || len(v.Corrupt) != 0 {
		t.Fatalf("repo inconsistent after interrupted adds: %+v %v", v, err)
	}
	if v.Checked == 0 {
		t.Fatal("expected partial blocks on disk before gc")
	}
	gc, err := n.GC(ctx)
	if err != nil || gc.Removed != v.Checked || gc.Kept != 0 {
		t.Fatalf("gc %+v %v (had %d blocks)", gc, err, v.Checked)
	}
}

type cancelAfter struct {
	r      io.Reader
	after  int
	read   int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.read += k
	if c.read >= c.after {
		c.cancel()
	}
	return k, err
}

func TestCorruptBlockDetectedAndNeverServed(t *testing.T) {
	n, dir := repoNode(t, nil)
	ctx := context.Background()
	data := pattern(300<<10, 6)
	res, err := n.Add(ctx, files.NewBytesFile(data), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lc, _ := cid.Decode(rawCID(data[:256<<10]))
	path := blockPath(dir, lc)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[100] ^= 0xff
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := n.Verify(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Corrupt) != 1 || v.Corrupt[0].Cid != lc.String() {
		t.Fatalf("verify %+v", v)
	}
	rc, err := n.Cat(ctx, res.Root)
	if err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	var ce *CorruptBlockError
	if !errors.As(err, &ce) {
		t.Fatalf("cat of corrupt data: want CorruptBlockError, got %v", err)
	}
	if _, err := n.Blockstore().Get(ctx, lc); !errors.As(err, &ce) {
		t.Fatalf("blockstore served a corrupt block: %v", err)
	}
	// repair deletes the bad block; cat then reports it missing.
	v, err = n.Verify(ctx, true)
	if err != nil || len(v.Corrupt) != 1 || !v.Corrupt[0].Removed {
		t.Fatalf("repair: %+v %v", v, err)
	}
	if v, _ := n.Verify(ctx, false); len(v.Corrupt) != 0 || v.Checked != 2 {
		t.Fatalf("after repair: %+v", v)
	}
	// Adds write through, so re-adding the data stores a good copy.
	if _, err := n.Add(ctx, files.NewBytesFile(data), AddOptions{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(catAll(t, n, res.Root), data) {
		t.Fatal("healed data differs")
	}
}

func TestReAddOverwritesCorruptBlock(t *testing.T) {
	n, dir := repoNode(t, nil)
	ctx := context.Background()
	data := pattern(300<<10, 16)
	res, _ := n.Add(ctx, files.NewBytesFile(data), AddOptions{})
	lc, _ := cid.Decode(rawCID(data[:256<<10]))
	os.WriteFile(blockPath(dir, lc), []byte("garbage"), 0o600)
	if v, _ := n.Verify(ctx, false); len(v.Corrupt) != 1 {
		t.Fatalf("corruption not seen: %+v", v)
	}
	if _, err := n.Add(ctx, files.NewBytesFile(data), AddOptions{}); err != nil {
		t.Fatal(err)
	}
	if v, _ := n.Verify(ctx, false); len(v.Corrupt) != 0 {
		t.Fatalf("re-add did not heal: %+v", v)
	}
	if !bytes.Equal(catAll(t, n, res.Root), data) {
		t.Fatal("healed data differs")
	}
}

func blockPath(dir string, c cid.Cid) string {
	key := strings.TrimPrefix(cidMultihashKey(c), "/")
	return filepath.Join(dir, BlocksDir, key[len(key)-3:len(key)-1], key+".data")
}

func TestRepoFullQuota(t *testing.T) {
	n, _ := repoNode(t, func(c *Config) { c.Datastore.StorageMax = 1 << 20 })
	ctx := context.Background()
	if _, err := n.Add(ctx, files.NewBytesFile(pattern(512<<10, 7)), AddOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := n.Add(ctx, files.NewBytesFile(pattern(2<<20, 8)), AddOptions{PinReason: "too big"})
	if !errors.Is(err, ErrRepoFull) || !strings.Contains(err.Error(), "StorageMax") {
		t.Fatalf("want ErrRepoFull naming the limit, got %v", err)
	}
	pins, _ := n.Pins(ctx)
	if len(pins) != 1 {
		t.Fatalf("failed add changed pins: %+v", pins)
	}
}

func TestUnwritableBlockStore(t *testing.T) {
	n, dir := repoNode(t, nil)
	ctx := context.Background()
	data := pattern(1000, 9)
	lc, _ := cid.Decode(rawCID(data))
	// Replace the shard directory the block goes to with a plain file: every
	// write there fails, whoever runs the test (root ignores permissions).
	shard := filepath.Dir(blockPath(dir, lc))
	os.RemoveAll(shard)
	if err := os.WriteFile(shard, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := n.Add(ctx, files.NewBytesFile(data), AddOptions{PinReason: "x"})
	if err == nil || !strings.Contains(err.Error(), "block") || !strings.Contains(err.Error(), "repo") {
		t.Fatalf("want a clear write error, got %v", err)
	}
	if pins, _ := n.Pins(ctx); len(pins) != 0 {
		t.Fatalf("failed add left a pin: %+v", pins)
	}
}

func TestRestartKeepsPinsAndBlocks(t *testing.T) {
	dir := t.TempDir() + "/ipfs"
	if err := Init(dir, nil); err != nil {
		t.Fatal(err)
	}
	if err := Init(dir, nil); err == nil || !strings.Contains(err.Error(), "already") {
		t.Fatalf("second init: %v", err)
	}
	ctx := context.Background()
	n, err := Open(ctx, dir, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id1 := n.PeerID()
	if _, err := Open(ctx, dir, OpenOptions{}); !errors.Is(err, ErrRepoLocked) {
		t.Fatalf("second open: want ErrRepoLocked, got %v", err)
	}
	data := pattern(1<<20, 10)
	res, err := n.Add(ctx, files.NewBytesFile(data), AddOptions{PinReason: "keep me"})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n2, err := Open(ctx, dir, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	if n2.PeerID() != id1 {
		t.Fatal("peer ID changed across restart")
	}
	pins, _ := n2.Pins(ctx)
	if len(pins) != 1 || pins[0].Cid != res.RootStr || pins[0].Reasons[0] != "keep me" {
		t.Fatalf("pins after restart %+v", pins)
	}
	if gc, _ := n2.GC(ctx); gc.Removed != 0 {
		t.Fatalf("gc after restart removed %d", gc.Removed)
	}
	if !bytes.Equal(catAll(t, n2, res.Root), data) {
		t.Fatal("data changed across restart")
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(context.Background(), t.TempDir(), OpenOptions{}); !errors.Is(err, ErrNoRepo) || !strings.Contains(err.Error(), "ipfs init") {
		t.Fatalf("want ErrNoRepo with a hint, got %v", err)
	}
	dir := t.TempDir()
	if err := Init(dir, nil); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, ConfigFile), []byte(`{"Gateway":{"MaxURLLenght":5}}`), 0o600)
	if _, err := Open(context.Background(), dir, OpenOptions{}); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Fatalf("want unknown-field config error, got %v", err)
	}
	os.WriteFile(filepath.Join(dir, ConfigFile), []byte(`{"Routing":{"DHT":"lan"}}`), 0o600)
	if _, err := Open(context.Background(), dir, OpenOptions{}); err == nil || !strings.Contains(err.Error(), "DHT") {
		t.Fatalf("want DHT mode error, got %v", err)
	}
}

func TestOfflineUnknownBlockAndBadInput(t *testing.T) {
	n := memNode(t)
	ctx := context.Background()
	missing, _ := cid.Decode(rawCID([]byte("never added")))
	for name, err := range map[string]error{
		"cat":  func() error { _, err := n.Cat(ctx, missing); return err }(),
		"stat": func() error { _, err := n.Stat(ctx, missing); return err }(),
		"pin":  n.Pin(ctx, missing, ""),
		"car":  n.ExportCAR(ctx, missing, io.Discard),
		"get":  n.Get(ctx, missing, filepath.Join(t.TempDir(), "out"), nil),
	} {
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "offline") {
			t.Errorf("%s: want offline not-found error, got %v", name, err)
		}
	}
	if err := n.Connect(ctx, "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"); !errors.Is(err, ErrOffline) {
		t.Fatalf("connect offline: %v", err)
	}
	res, _ := n.Add(ctx, files.NewMapDirectory(map[string]files.Node{"f": files.NewBytesFile([]byte("x"))}), AddOptions{})
	if _, err := n.Cat(ctx, res.Root); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Fatalf("cat of a directory: %v", err)
	}
	out := t.TempDir()
	if err := n.Get(ctx, res.Root, out, nil); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("get onto an existing path: %v", err)
	}
}

func TestOnlineUnknownBlockTimesOut(t *testing.T) {
	cfg := LoopbackConfig()
	cfg.Routing.DHT = "none"
	cfg.FetchTimeout = Duration(300 * time.Millisecond)
	n, err := NewMemoryNode(context.Background(), cfg, OpenOptions{Online: true})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	missing, _ := cid.Decode(rawCID([]byte("nobody has this")))
	start := time.Now()
	_, err = n.Cat(context.Background(), missing)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "no progress for 300ms") {
		t.Fatalf("want a timeout naming the limit, got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeout took %s", d)
	}
}

func TestParseCIDErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "empty",
		"not-a-cid":        "invalid CID",
		"/ipfs/bafy/a/b":   "paths are not accepted",
		"bafkreiinvalid!!": "invalid CID",
	} {
		if _, err := ParseCID(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: want %q, got %v", in, want, err)
		}
	}
	for _, ok := range []string{"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", "/ipfs/QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"} {
		if _, err := ParseCID(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

func TestAddDigestAndGetProgress(t *testing.T) {
	n, _ := repoNode(t, nil)
	ctx := context.Background()
	data := pattern(700<<10, 13)
	res, err := n.Add(ctx, files.NewBytesFile(data), AddOptions{SHA256: true, Name: "lora.safetensors"})
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	if res.SHA256 != hex.EncodeToString(want[:]) {
		t.Fatalf("digest %s", res.SHA256)
	}
	if len(res.Entries) != 1 || res.Entries[0].Path != "lora.safetensors" {
		t.Fatalf("entries %+v", res.Entries)
	}
	dirRes, _ := n.Add(ctx, files.NewMapDirectory(map[string]files.Node{"x": files.NewBytesFile(data)}), AddOptions{SHA256: true})
	if dirRes.SHA256 != "" {
		t.Fatal("digest reported for a directory")
	}
	var got int64
	out := filepath.Join(t.TempDir(), "out.bin")
	if err := n.Get(ctx, res.Root, out, func(k int64) { got += k }); err != nil {
		t.Fatal(err)
	}
	if got != int64(len(data)) {
		t.Fatalf("progress %d, want %d", got, len(data))
	}
	if b, _ := os.ReadFile(out); !bytes.Equal(b, data) {
		t.Fatal("get wrote different bytes")
	}
}

func TestPinRefusesIncompleteDAG(t *testing.T) {
	n, _ := repoNode(t, nil)
	ctx := context.Background()
	data := pattern(3<<18, 14) // three leaves
	res, err := n.Add(ctx, files.NewBytesFile(data), AddOptions{NoPin: true})
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := cid.Decode(rawCID(data[2<<18:]))
	if err := n.Blockstore().DeleteBlock(ctx, leaf); err != nil {
		t.Fatal(err)
	}
	if err := n.Pin(ctx, res.Root, "partial"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("pinning a DAG with a missing leaf: %v", err)
	}
	if pins, _ := n.Pins(ctx); len(pins) != 0 {
		t.Fatalf("partial DAG pinned: %+v", pins)
	}
}

func TestOpenInputErrors(t *testing.T) {
	dir := t.TempDir()
	if _, _, _, err := OpenInput(filepath.Join(dir, "nope"), false, false); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing: %v", err)
	}
	if _, _, _, err := OpenInput(dir, false, false); err == nil || !strings.Contains(err.Error(), "use -r") {
		t.Fatalf("dir without -r: %v", err)
	}
	if _, _, _, err := OpenInput("/dev/null", false, false); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("device: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "a"), []byte("abc"), 0o644)
	nd, name, size, err := OpenInput(filepath.Join(dir, "a"), false, false)
	if err != nil || name != "a" || size != 3 {
		t.Fatalf("file: %q %d %v", name, size, err)
	}
	nd.Close()
}

func TestSymlinksRoundTripAndUnsafeOnesRefused(t *testing.T) {
	n := memNode(t)
	ctx := context.Background()
	res, err := n.Add(ctx, files.NewMapDirectory(map[string]files.Node{
		"a.txt": files.NewBytesFile([]byte("target")),
		"link":  files.NewLinkFile("a.txt", nil),
	}), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := n.Stat(ctx, mustEntry(t, n, res, "link"))
	if st.Type != "symlink" {
		t.Fatalf("link stored as %s", st.Type)
	}
	out := filepath.Join(t.TempDir(), "out")
	if err := n.Get(ctx, res.Root, out, nil); err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(filepath.Join(out, "link")); err != nil || target != "a.txt" {
		t.Fatalf("symlink: %q %v", target, err)
	}
	evil, _ := n.Add(ctx, files.NewMapDirectory(map[string]files.Node{
		"escape": files.NewLinkFile("../../../etc/passwd", nil),
	}), AddOptions{})
	err = n.Get(ctx, evil.Root, filepath.Join(t.TempDir(), "evil"), nil)
	if err == nil || !strings.Contains(err.Error(), "outside") {
		t.Fatalf("unsafe symlink written: %v", err)
	}
}

func TestGetRefusesTraversalEntryNames(t *testing.T) {
	n := memNode(t)
	ctx := context.Background()
	child, err := n.Add(ctx, files.NewBytesFile([]byte("payload")), AddOptions{NoPin: true})
	if err != nil {
		t.Fatal(err)
	}
	childNd, _ := n.DAG().Get(ctx, child.Root)
	for _, name := range []string{"../escape", "a/b", ".."} {
		dir, err := uio.NewDirectory(n.DAG(), uio.WithCidBuilder(CidBuilder))
		if err != nil {
			t.Fatal(err)
		}
		if err := dir.AddChild(ctx, name, childNd); err != nil {
			t.Fatal(err)
		}
		nd, _ := dir.GetNode()
		if err := n.DAG().Add(ctx, nd); err != nil {
			t.Fatal(err)
		}
		base := t.TempDir()
		err = n.Get(ctx, nd.Cid(), filepath.Join(base, "out"), nil)
		if err == nil || !strings.Contains(err.Error(), "unsafe directory entry name") {
			t.Fatalf("%q: %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(base, "escape")); err == nil {
			t.Fatalf("%q: wrote outside the output directory", name)
		}
	}
}

// gatedReader yields first, then blocks until gate is closed, then rest.
type gatedReader struct {
	first, rest []byte
	gate        chan struct{}
	reached     chan struct{}
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if len(g.first) > 0 {
		k := copy(p, g.first)
		g.first = g.first[k:]
		return k, nil
	}
	if g.reached != nil {
		close(g.reached)
		g.reached = nil
	}
	<-g.gate
	if len(g.rest) == 0 {
		return 0, io.EOF
	}
	k := copy(p, g.rest)
	g.rest = g.rest[k:]
	return k, nil
}

func TestGCWaitsForRunningAdd(t *testing.T) {
	n, _ := repoNode(t, nil)
	ctx := context.Background()
	data := pattern(20<<20, 15)
	r := &gatedReader{first: data[:12<<20], rest: data[12<<20:], gate: make(chan struct{}), reached: make(chan struct{})}
	reached := r.reached
	addDone := make(chan AddResult, 1)
	go func() {
		res, err := n.Add(ctx, files.NewReaderFile(r), AddOptions{PinReason: "slow upload"})
		if err != nil {
			t.Error(err)
		}
		addDone <- res
	}()
	<-reached // the add has written its first batches and is waiting for input
	gcDone := make(chan GCResult, 1)
	go func() {
		res, err := n.GC(ctx)
		if err != nil {
			t.Error(err)
		}
		gcDone <- res
	}()
	select {
	case <-gcDone:
		t.Fatal("gc ran while an add was in progress")
	case <-time.After(300 * time.Millisecond):
	}
	close(r.gate)
	res := <-addDone
	if gc := <-gcDone; gc.Removed != 0 {
		t.Fatalf("gc removed %d blocks of the add", gc.Removed)
	}
	if !bytes.Equal(catAll(t, n, res.Root), data) {
		t.Fatal("data damaged by concurrent gc")
	}
}
