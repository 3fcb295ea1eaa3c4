package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/boxo/datastore/dshelp"
	"github.com/ipfs/boxo/files"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"

	"github.com/openledger/openledger/storage"
)

type fixture struct {
	srv  *httptest.Server
	node *storage.Node
	dir  storage.AddResult
	big  []byte
	repo string
}

func setup(t *testing.T, mut func(*storage.GatewayConfig)) *fixture {
	t.Helper()
	repo := t.TempDir() + "/ipfs"
	if err := storage.Init(repo, nil); err != nil {
		t.Fatal(err)
	}
	n, err := storage.Open(context.Background(), repo, storage.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	big := make([]byte, 700<<10)
	for i := range big {
		big[i] = byte(i * 7)
	}
	res, err := n.Add(context.Background(), files.NewMapDirectory(map[string]files.Node{
		"a.txt":       files.NewBytesFile([]byte("hello gateway\n")),
		"model.bin":   files.NewBytesFile(big),
		"index.json":  files.NewBytesFile([]byte(`{"k":1}`)),
		"sub":         files.NewMapDirectory(map[string]files.Node{"b.txt": files.NewBytesFile([]byte("nested"))}),
		"page.html":   files.NewBytesFile([]byte("<!doctype html><p>x</p>")),
		"image.png":   files.NewBytesFile(append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 64)...)),
		"weights.raw": files.NewBytesFile(big[:1000]),
	}), storage.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := storage.DefaultConfig().Gateway
	if mut != nil {
		mut(&cfg)
	}
	h, err := NewHandler(n.BlockService(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, node: n, dir: res, big: big, repo: repo}
}

func (f *fixture) get(t *testing.T, method, path string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestUnixFSPathsContentTypesAndRanges(t *testing.T) {
	f := setup(t, nil)
	root := f.dir.RootStr
	for _, tc := range []struct {
		path, ctype, body string
	}{
		{"/a.txt", "text/plain", "hello gateway\n"},
		{"/sub/b.txt", "text/plain", "nested"},
		{"/index.json", "application/json", `{"k":1}`},
		{"/page.html", "text/html", "<!doctype html><p>x</p>"},
		{"/image.png", "image/png", ""},
	} {
		resp, body := f.get(t, "GET", "/ipfs/"+root+tc.path, nil)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) {
			t.Fatalf("%s: %d %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if tc.body != "" && string(body) != tc.body {
			t.Fatalf("%s: body %q", tc.path, body)
		}
	}
	resp, body := f.get(t, "GET", "/ipfs/"+root+"/model.bin", nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, f.big) {
		t.Fatalf("model.bin: %d, %d bytes", resp.StatusCode, len(body))
	}
	// A range that spans the first two 256 KiB leaves.
	resp, body = f.get(t, "GET", "/ipfs/"+root+"/model.bin", map[string]string{"Range": "bytes=262000-262399"})
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, f.big[262000:262400]) {
		t.Fatalf("range: %d %q", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
	if cr := resp.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes 262000-262399/%d", len(f.big)) {
		t.Fatalf("Content-Range %q", cr)
	}
	resp, body = f.get(t, "GET", "/ipfs/"+root+"/", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "model.bin") {
		t.Fatalf("directory listing: %d", resp.StatusCode)
	}
	resp, _ = f.get(t, "HEAD", "/ipfs/"+root+"/a.txt", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != "14" {
		t.Fatalf("HEAD: %d %q", resp.StatusCode, resp.Header.Get("Content-Length"))
	}
	resp, _ = f.get(t, "GET", "/ipfs/"+root+"/missing.txt", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("missing path: %d", resp.StatusCode)
	}
}

func TestTrustlessRawAndCAR(t *testing.T) {
	f := setup(t, nil)
	root := f.dir.RootStr
	rootBlock, err := f.node.Blockstore().Get(context.Background(), f.dir.Root)
	if err != nil {
		t.Fatal(err)
	}
	for _, hdr := range []struct {
		q      string
		accept string
	}{{"?format=raw", ""}, {"", "application/vnd.ipld.raw"}} {
		resp, body := f.get(t, "GET", "/ipfs/"+root+hdr.q, map[string]string{"Accept": hdr.accept})
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.ipld.raw" || !bytes.Equal(body, rootBlock.RawData()) {
			t.Fatalf("raw %q/%q: %d %q", hdr.q, hdr.accept, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	for _, hdr := range []struct {
		q      string
		accept string
	}{{"?format=car", ""}, {"", "application/vnd.ipld.car"}} {
		resp, body := f.get(t, "GET", "/ipfs/"+root+hdr.q, map[string]string{"Accept": hdr.accept})
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/vnd.ipld.car") {
			t.Fatalf("car %q/%q: %d %q", hdr.q, hdr.accept, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		n := 0
		roots, err := storage.ReadCAR(bytes.NewReader(body), func(blocks.Block) error { n++; return nil })
		if err != nil || len(roots) != 1 || !roots[0].Equals(f.dir.Root) {
			t.Fatalf("car body: %v %v", roots, err)
		}
		st, _ := f.node.Stat(context.Background(), f.dir.Root)
		if n != st.Blocks {
			t.Fatalf("car has %d blocks, DAG has %d", n, st.Blocks)
		}
	}
	// A sub-path CAR carries the blocks needed to verify the path.
	resp, body := f.get(t, "GET", "/ipfs/"+root+"/model.bin?format=car", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("path car: %d", resp.StatusCode)
	}
	var got []cid.Cid
	storage.ReadCAR(bytes.NewReader(body), func(b blocks.Block) error { got = append(got, b.Cid()); return nil })
	if len(got) < 2 || !got[0].Equals(f.dir.Root) {
		t.Fatalf("path CAR must start at the root: %v", got)
	}
}

func TestGuards(t *testing.T) {
	f := setup(t, func(c *storage.GatewayConfig) { c.MaxURLLength = 200; c.MaxResponseSize = 100 << 10 })
	root := f.dir.RootStr
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"POST", "/ipfs/" + root, http.StatusMethodNotAllowed},
		{"PUT", "/ipfs/" + root + "/a.txt", http.StatusMethodNotAllowed},
		{"DELETE", "/ipfs/" + root, http.StatusMethodNotAllowed},
		{"GET", "/ipfs/" + root + "/../../etc/passwd", http.StatusBadRequest},
		{"GET", "/ipfs/" + root + "/%2e%2e/%2e%2e/etc/passwd", http.StatusBadRequest},
		{"GET", "/ipfs/" + root + "/sub/..%2f..%2fa.txt", http.StatusBadRequest},
		{"GET", "/ipfs/" + root + "/a.txt%00", http.StatusBadRequest},
		{"GET", "/ipfs/" + root + "/" + strings.Repeat("x", 300), http.StatusRequestURITooLong},
		{"GET", "/ipns/example.com", http.StatusNotImplemented},
		{"GET", "/etc/passwd", http.StatusNotFound},
		{"GET", "/ipfs/not-a-cid", http.StatusBadRequest},
		// The whole model is 700 KiB, above the 100 KiB response cap.
		{"GET", "/ipfs/" + root + "/model.bin", http.StatusGone},
		{"GET", "/ipfs/" + root + "/a.txt", http.StatusOK},
	} {
		resp, body := f.get(t, tc.method, tc.path, nil)
		if resp.StatusCode != tc.status {
			t.Errorf("%s %.60s: %d (%s), want %d", tc.method, tc.path, resp.StatusCode, strings.TrimSpace(string(body)), tc.status)
		}
	}
}

func TestOfflineMissingAndCorruptBlocks(t *testing.T) {
	f := setup(t, nil)
	missing, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: 0x12, MhLength: -1}.Sum([]byte("absent"))
	resp, _ := f.get(t, "GET", "/ipfs/"+missing.String(), nil)
	if resp.StatusCode < 400 {
		t.Fatalf("missing block served: %d", resp.StatusCode)
	}
	// Corrupt a.txt's block on disk: the gateway must not serve the bad bytes.
	a, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: 0x12, MhLength: -1}.Sum([]byte("hello gateway\n"))
	key := strings.TrimPrefix(dshelp.MultihashToDsKey(a.Hash()).String(), "/")
	path := f.repo + "/blocks/" + key[len(key)-3:len(key)-1] + "/" + key + ".data"
	if err := os.WriteFile(path, []byte("HELLO GATEWAY\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"/a.txt", "/a.txt?format=raw"} {
		resp, body := f.get(t, "GET", "/ipfs/"+f.dir.RootStr+q, nil)
		if resp.StatusCode == 200 || strings.Contains(string(body), "HELLO") {
			t.Fatalf("%s: corrupt block served: %d %q", q, resp.StatusCode, body)
		}
	}
}

func TestServerLimits(t *testing.T) {
	// Oversized headers, through the real http.Server built by NewServer.
	cfg := storage.DefaultConfig().Gateway
	cfg.MaxHeaderBytes = 4 << 10
	n, err := storage.NewMemoryNode(context.Background(), storage.DefaultConfig(), storage.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	h, _ := NewHandler(n.BlockService(), cfg)
	srv := NewServer(h, cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, srv, ln) }()
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/ipfs/bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 16<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("oversized headers: %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

func TestRetrievalTimeoutOnline(t *testing.T) {
	// An online node with no peers: a CID nobody has must end in 504 after
	// RetrievalTimeout instead of hanging.
	nc := storage.LoopbackConfig()
	nc.Routing.DHT = "none"
	n, err := storage.NewMemoryNode(context.Background(), nc, storage.OpenOptions{Online: true})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	cfg := nc.Gateway
	cfg.RetrievalTimeout = storage.Duration(300 * time.Millisecond)
	h, _ := NewHandler(n.BlockService(), cfg)
	srv := httptest.NewServer(h)
	defer srv.Close()
	missing, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: 0x12, MhLength: -1}.Sum([]byte("nobody has this"))
	start := time.Now()
	resp, err := http.Get(srv.URL + "/ipfs/" + missing.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("want 504, got %d", resp.StatusCode)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %s", d)
	}
}
