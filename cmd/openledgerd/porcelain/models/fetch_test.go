package models_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	cli "github.com/openledger/openledger/cmd/openledgerd/porcelain/models"
	"github.com/openledger/openledger/storage"
)

func TestIsVersionRef(t *testing.T) {
	for in, want := range map[string]bool{
		"1/1": true, "12/3": true, "0/1": false, "1/0": false, "1": false, "a/b": false, "1/2/3": false,
		"./1/1": false, "/tmp/run": false, "": false, "-1/2": false,
	} {
		require.Equal(t, want, cli.IsVersionRef(in), in)
	}
}

// TestFetchVerified fetches a file from a real (in-memory) IPFS node: the right
// digest and size are written in place, a wrong digest or size is refused with
// ErrDigestMismatch and leaves nothing behind, and a file already there with the
// right digest is kept without asking the node.
func TestFetchVerified(t *testing.T) {
	ctx := context.Background()
	n, err := storage.NewMemoryNode(ctx, storage.DefaultConfig(), storage.OpenOptions{})
	require.NoError(t, err)
	defer n.Close()
	body := bytes.Repeat([]byte("a checkpoint, say\n"), 100)
	res, err := n.AddFile(ctx, bytes.NewReader(body), "ckpt")
	require.NoError(t, err)
	sum := sha256.Sum256(body)
	sha := hex.EncodeToString(sum[:])
	dir := t.TempDir()

	path := filepath.Join(dir, "sub", "model")
	require.NoError(t, cli.FetchVerified(ctx, n, "checkpoint", res.RootStr, sha, int64(len(body)), path))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, body, got)
	// Unknown size (a manifest): the digest alone decides.
	require.NoError(t, cli.FetchVerified(ctx, n, "manifest", res.RootStr, sha, -1, filepath.Join(dir, "m")))

	for _, c := range []struct {
		name string
		sha  string
		size int64
	}{
		{"wrong sha256", hex.EncodeToString(make([]byte, 32)), int64(len(body))},
		{"wrong size", sha, int64(len(body)) - 1},
		{"wrong sha256, no size", hex.EncodeToString(make([]byte, 32)), -1},
	} {
		p := filepath.Join(dir, "bad")
		err := cli.FetchVerified(ctx, n, "checkpoint", res.RootStr, c.sha, c.size, p)
		require.ErrorIs(t, err, cli.ErrDigestMismatch, c.name)
		require.NoFileExists(t, p, c.name)
		require.NoFileExists(t, p+".part", c.name)
	}

	// A cached file with the right digest is kept: the node is not asked (the CID
	// given could not even be decoded).
	require.NoError(t, cli.FetchVerified(ctx, n, "checkpoint", "not-a-cid", sha, int64(len(body)), path))
	require.Error(t, cli.FetchVerified(ctx, n, "checkpoint", "not-a-cid", sha, int64(len(body)), filepath.Join(dir, "new")))
}
