package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/boxo/files"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"

	"github.com/openledger/openledger/storage"
)

func newTestServer(t *testing.T) (*httptest.Server, *storage.Node) {
	t.Helper()
	n, err := storage.NewMemoryNode(context.Background(), storage.DefaultConfig(), storage.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	srv := httptest.NewServer(NewHandler(n))
	t.Cleanup(srv.Close)
	return srv, n
}

func TestRequestValidation(t *testing.T) {
	srv, _ := newTestServer(t)
	for _, tc := range []struct {
		method, path, ctype, origin string
		body                        string
		status                      int
		want                        string
	}{
		{"GET", "/api/v0/cat?arg=nope", "", "", "", 400, "invalid CID"},
		{"GET", "/api/v0/cat", "", "", "", 400, "empty"},
		{"POST", "/api/v0/add", "text/plain", "", "x", 400, "multipart"},
		{"POST", "/api/v0/add", "multipart/form-data; boundary=zzz", "", "garbage", 400, ""},
		{"GET", "/api/v0/add", "", "", "", 405, ""},
		{"POST", "/api/v0/gc", "", "http://evil.example", "", 403, "browser"},
		{"GET", "/api/v0/peers/ls", "", "", "", 503, "offline"},
		{"POST", "/api/v0/car/import", "", "", "not a car", 500, "header"},
		{"GET", "/api/v0/stat?arg=bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e", "", "", "", 404, "not_found"},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s %s: %d %s, want %d containing %q", tc.method, tc.path, resp.StatusCode, b, tc.status, tc.want)
		}
	}
}

func TestStreamErrorReachesClient(t *testing.T) {
	srv, n := newTestServer(t)
	c := NewClient(srv.URL)
	ctx := context.Background()
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(i * 13 / 7)
	}
	res, err := c.Add(ctx, files.NewBytesFile(data), storage.AddOptions{NoPin: true})
	if err != nil {
		t.Fatal(err)
	}
	// Delete a middle leaf: the stream starts, then fails; the client must
	// report the failure instead of returning a short file as success.
	nd, _ := n.DAG().Get(ctx, res.Root)
	if err := n.Blockstore().DeleteBlock(ctx, nd.Links()[len(nd.Links())-1].Cid); err != nil {
		t.Fatal(err)
	}
	rc, err := c.Cat(ctx, res.Root)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	rc.Close()
	if err == nil || !strings.Contains(err.Error(), "not") {
		t.Fatalf("truncated stream reported as success: %v", err)
	}
	if err := c.Unpin(ctx, res.Root, ""); !errors.Is(err, storage.ErrNotPinned) {
		t.Fatalf("typed error lost: %v", err)
	}
}

func TestGetThroughAPIRefusesTraversalNames(t *testing.T) {
	srv, n := newTestServer(t)
	ctx := context.Background()
	child, _ := n.Add(ctx, files.NewBytesFile([]byte("payload")), storage.AddOptions{NoPin: true})
	childNd, _ := n.DAG().Get(ctx, child.Root)
	dir, _ := uio.NewDirectory(n.DAG(), uio.WithCidBuilder(storage.CidBuilder))
	if err := dir.AddChild(ctx, "../escape", childNd); err != nil {
		t.Fatal(err)
	}
	nd, _ := dir.GetNode()
	n.DAG().Add(ctx, nd)
	base := t.TempDir()
	err := NewClient(srv.URL).Get(ctx, nd.Cid(), filepath.Join(base, "out"), nil)
	if err == nil {
		t.Fatal("a directory entry named ../escape was extracted")
	}
	if _, err := os.Stat(filepath.Join(base, "escape")); err == nil {
		t.Fatal("wrote outside the output directory")
	}
}
