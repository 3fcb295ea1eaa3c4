package attribution

import (
	"bytes"
	"context"
	"testing"

	"github.com/openledger/openledger/ml/rng"
	"github.com/openledger/openledger/storage"
)

// The CID FileArtifact computes offline is the one the storage node gives.
func TestArtifactCIDMatchesStorage(t *testing.T) {
	ctx := context.Background()
	n, err := storage.NewMemoryNode(ctx, storage.DefaultConfig(), storage.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	r := rng.New(1)
	for _, size := range []int{0, 1, 1000, 256 << 10, 3<<20 + 17} {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(r.Uint64())
		}
		res, err := n.AddFile(ctx, bytes.NewReader(b), "test")
		if err != nil {
			t.Fatal(err)
		}
		a, err := ReaderArtifact(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if a.Cid != res.RootStr || a.SizeBytes != uint64(size) {
			t.Fatalf("size %d: cid %s, storage %s", size, a.Cid, res.RootStr)
		}
	}
}
