package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/boxo/files"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	carstorage "github.com/ipld/go-car/v2/storage"
)

func TestCARRoundTrip(t *testing.T) {
	src := memNode(t)
	ctx := context.Background()
	dir := files.NewMapDirectory(map[string]files.Node{
		"weights.bin": files.NewBytesFile(pattern(1<<20+5, 11)),
		"README":      files.NewBytesFile([]byte("lora adapter\n")),
		"dup":         files.NewBytesFile([]byte("lora adapter\n")), // same leaf twice
	})
	res, err := src.Add(ctx, dir, AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var car bytes.Buffer
	if err := src.ExportCAR(ctx, res.Root, &car); err != nil {
		t.Fatal(err)
	}
	st, _ := src.Stat(ctx, res.Root)
	// Every block once: the duplicate leaf is written a single time.
	var seen []cid.Cid
	roots, err := ReadCAR(bytes.NewReader(car.Bytes()), func(b blocks.Block) error { seen = append(seen, b.Cid()); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 1 || !roots[0].Equals(res.Root) || len(seen) != st.Blocks || !seen[0].Equals(res.Root) {
		t.Fatalf("roots %v, %d blocks (want %d, root first)", roots, len(seen), st.Blocks)
	}
	// Re-export is byte-identical (deterministic order).
	var again bytes.Buffer
	src.ExportCAR(ctx, res.Root, &again)
	if !bytes.Equal(car.Bytes(), again.Bytes()) {
		t.Fatal("CAR export is not deterministic")
	}

	dst, _ := repoNode(t, nil)
	imp, err := dst.ImportCAR(ctx, bytes.NewReader(car.Bytes()), "imported artifact", false)
	if err != nil {
		t.Fatal(err)
	}
	if imp.Blocks != st.Blocks || len(imp.Pinned) != 1 || imp.Pinned[0] != res.RootStr {
		t.Fatalf("import %+v", imp)
	}
	got := catAll(t, dst, mustEntry(t, dst, res, "weights.bin"))
	if !bytes.Equal(got, pattern(1<<20+5, 11)) {
		t.Fatal("imported file differs")
	}
	if gc, _ := dst.GC(ctx); gc.Removed != 0 {
		t.Fatal("imported roots were not pinned")
	}
}

func TestCARImportRejectsBadInput(t *testing.T) {
	src := memNode(t)
	ctx := context.Background()
	res, _ := src.Add(ctx, files.NewBytesFile(pattern(600<<10, 12)), AddOptions{})
	var car bytes.Buffer
	src.ExportCAR(ctx, res.Root, &car)
	good := car.Bytes()

	// A flipped byte in the last block's data: hash mismatch.
	bad := append([]byte(nil), good...)
	bad[len(bad)-10] ^= 1
	dst := memNode(t)
	if _, err := dst.ImportCAR(ctx, bytes.NewReader(bad), "", false); err == nil || !strings.Contains(err.Error(), "integrity") {
		t.Fatalf("tampered CAR: %v", err)
	}
	// A well-formed CAR that lacks some of the DAG's blocks: the blocks it
	// has are stored, the root is reported incomplete and is not pinned.
	var all []blocks.Block
	if _, err := ReadCAR(bytes.NewReader(good), func(b blocks.Block) error { all = append(all, b); return nil }); err != nil {
		t.Fatal(err)
	}
	var partial bytes.Buffer
	w, err := carstorage.NewWritable(&partial, []cid.Cid{res.Root}, carv2.WriteAsCarV1(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range all[:2] { // root and first leaf of three
		if err := w.Put(ctx, b.Cid().KeyString(), b.RawData()); err != nil {
			t.Fatal(err)
		}
	}
	imp, err := dst.ImportCAR(ctx, &partial, "", false)
	if err != nil || imp.Blocks != 2 || len(imp.Pinned) != 0 || len(imp.Incomplete) != 1 || imp.Incomplete[0] != res.RootStr {
		t.Fatalf("partial CAR: %+v %v", imp, err)
	}
	if pins, _ := dst.Pins(ctx); len(pins) != 0 {
		t.Fatalf("pins after bad imports: %+v", pins)
	}
	if _, err := dst.ImportCAR(ctx, strings.NewReader("not a car"), "", false); err == nil || !strings.Contains(err.Error(), "header") {
		t.Fatalf("garbage: %v", err)
	}
	// An oversized section length is refused before allocation.
	huge := append([]byte(nil), good[:headerLen(t, good)]...)
	huge = binary.AppendUvarint(huge, 1<<40)
	if _, err := dst.ImportCAR(ctx, bytes.NewReader(huge), "", false); err == nil {
		t.Fatal("oversized section accepted")
	}
}

func headerLen(t *testing.T, car []byte) int {
	l, n := binary.Uvarint(car)
	if n <= 0 {
		t.Fatal("bad header varint")
	}
	return n + int(l)
}

// FuzzReadCAR: arbitrary input never panics, and whatever ReadCAR accepts
// it has verified against its CID.
func FuzzReadCAR(f *testing.F) {
	n, err := NewMemoryNode(context.Background(), DefaultConfig(), OpenOptions{})
	if err != nil {
		f.Fatal(err)
	}
	defer n.Close()
	for i, size := range []int{0, 1, 300 << 10} {
		res, err := n.Add(context.Background(), files.NewBytesFile(pattern(size, byte(i))), AddOptions{NoPin: true})
		if err != nil {
			f.Fatal(err)
		}
		var car bytes.Buffer
		if err := n.ExportCAR(context.Background(), res.Root, &car); err != nil {
			f.Fatal(err)
		}
		f.Add(car.Bytes())
		if car.Len() > 64 {
			f.Add(car.Bytes()[:car.Len()/2])
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0xa1, 0x67, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x02})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := ReadCAR(bytes.NewReader(data), func(b blocks.Block) error {
			if verr := verifyBlock(b.Cid(), b.RawData()); verr != nil {
				return errors.New("unverified block passed: " + verr.Error())
			}
			return nil
		})
		if err != nil && strings.Contains(err.Error(), "unverified block passed") {
			t.Fatal(err)
		}
	})
}

// FuzzParseCID: no panic, and every accepted CID re-encodes and re-parses
// to itself.
func FuzzParseCID(f *testing.F) {
	for _, s := range []string{
		"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
		"bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354",
		"QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn",
		"/ipfs/bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e",
		"", "b", "z", "f01551220", "bafy/../x", "\x00\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCID(s)
		if err != nil {
			if c.Defined() {
				t.Fatal("error with a defined CID")
			}
			return
		}
		c2, err := ParseCID(c.String())
		if err != nil || !c2.Equals(c) {
			t.Fatalf("%q -> %s does not round-trip: %v", s, c, err)
		}
	})
}
