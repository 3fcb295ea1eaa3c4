package storage

import (
	"context"
	"testing"

	"github.com/ipfs/boxo/datastore/dshelp"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
)

func memNode(t testing.TB) *Node {
	t.Helper()
	n, err := NewMemoryNode(context.Background(), DefaultConfig(), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// repoNode initialises a repo in a temp dir and opens it offline.
func repoNode(t testing.TB, mut func(*Config)) (*Node, string) {
	t.Helper()
	dir := t.TempDir() + "/ipfs"
	cfg := LoopbackConfig()
	if mut != nil {
		mut(&cfg)
	}
	if err := Init(dir, &cfg); err != nil {
		t.Fatal(err)
	}
	n, err := Open(context.Background(), dir, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n, dir
}

func mustEntry(t testing.TB, n *Node, res AddResult, name string) cid.Cid {
	t.Helper()
	nd, err := n.DAG().Get(context.Background(), res.Root)
	if err != nil {
		t.Fatal(err)
	}
	d, err := uio.NewDirectoryFromNode(n.DAG(), nd)
	if err != nil {
		t.Fatal(err)
	}
	child, err := d.Find(context.Background(), name)
	if err != nil {
		t.Fatalf("find %s: %v", name, err)
	}
	return child.Cid()
}

func cidMultihashKey(c cid.Cid) string {
	return dshelp.MultihashToDsKey(c.Hash()).String()
}
