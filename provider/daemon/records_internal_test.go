package daemon

import (
	"context"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/openledger/openledger/storage"
)

// TestRecordsUnpin: the sessions' records adapter unpins a batch record with
// the reason Add pinned it under and no other; unpinning it again, or a CID
// that does not parse, is done.
func TestRecordsUnpin(t *testing.T) {
	ctx := context.Background()
	n, err := storage.NewMemoryNode(ctx, storage.DefaultConfig(), storage.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	r := ipfsRecords{node: n}
	pins := func() map[string][]string {
		t.Helper()
		ps, err := n.Pins(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]string{}
		for _, p := range ps {
			out[p.Cid] = p.Reasons
		}
		return out
	}
	kept, err := r.Add(ctx, []byte("batch record of session 1"))
	if err != nil {
		t.Fatal(err)
	}
	shared, err := r.Add(ctx, []byte("batch record of session 2"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := cid.Decode(shared)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Pin(ctx, c, "operator pin"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{shared, shared, "not a cid"} {
		if err := r.Unpin(ctx, s); err != nil {
			t.Fatalf("unpin %q: %v", s, err)
		}
	}
	got := pins()
	if !slices.Equal(got[kept], []string{recordPinReason}) || !slices.Equal(got[shared], []string{"operator pin"}) {
		t.Fatalf("pins after unpinning %s: %v", shared, got)
	}
	if err := r.Unpin(ctx, kept); err != nil {
		t.Fatal(err)
	}
	if _, ok := pins()[kept]; ok {
		t.Fatalf("%s still pinned", kept)
	}
}
