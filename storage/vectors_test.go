package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/boxo/ipld/merkledag"
	ft "github.com/ipfs/boxo/ipld/unixfs"
)

// This file checks that imports give the CIDs kubo gives with
// `ipfs add --cid-version=1 --raw-leaves` (256 KiB chunks, balanced DAG,
// 174 links per node). kubo cannot be installed here, so every expected
// CID is obtained independently of boxo:
//
//   - published constants: the empty raw block, the empty UnixFS directory
//     and "hello world" (quoted in IPFS docs and gateway conformance tests);
//   - raw leaves: CIDv1 = 0x01 0x55 0x12 0x20 || sha256(content), multibase
//     base32 lower ("b"), computed with crypto/sha256 and encoding/base32;
//   - dag-pb nodes: hand-encoded below with the dag-pb canonical layout
//     (Links, field 2, before Data, field 1) and UnixFS Data (Type=1,
//     filesize=3, blocksizes=4 unpacked), then hashed the same way with
//     codec 0x70. The tree shapes follow the balanced layout: leaves are
//     grouped 174 per parent, a single chunk is its own root.

func rawCID(data []byte) string {
	d := sha256.Sum256(data)
	return cidString(0x55, d[:])
}

func pbCID(block []byte) string {
	d := sha256.Sum256(block)
	return cidString(0x70, d[:])
}

func cidString(codec byte, digest []byte) string {
	b := append([]byte{0x01, codec, 0x12, 0x20}, digest...)
	return "b" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

func cidBytes(codec byte, data []byte) []byte {
	d := sha256.Sum256(data)
	return append([]byte{0x01, codec, 0x12, 0x20}, d[:]...)
}

func uvarint(x uint64) []byte { return binary.AppendUvarint(nil, x) }

func field(num int, wire byte, payload []byte) []byte {
	out := uvarint(uint64(num<<3) | uint64(wire))
	if wire == 2 {
		out = append(out, uvarint(uint64(len(payload)))...)
	}
	return append(out, payload...)
}

type hlink struct {
	cid   []byte
	name  string
	tsize uint64
}

// pbNode hand-encodes a dag-pb node. Links always carry a Name field (kubo
// writes an empty name for file chunks), then Tsize.
func pbNode(links []hlink, data []byte) []byte {
	var out []byte
	for _, l := range links {
		var lb []byte
		lb = append(lb, field(1, 2, l.cid)...)
		lb = append(lb, field(2, 2, []byte(l.name))...)
		lb = append(lb, field(3, 0, uvarint(l.tsize))...)
		out = append(out, field(2, 2, lb)...)
	}
	return append(out, field(1, 2, data)...)
}

func unixfsFile(filesize uint64, blocksizes []uint64) []byte {
	out := field(1, 0, uvarint(2))
	out = append(out, field(3, 0, uvarint(filesize))...)
	for _, b := range blocksizes {
		out = append(out, field(4, 0, uvarint(b))...)
	}
	return out
}

var unixfsDir = field(1, 0, uvarint(1))

// expectedFileCID builds the balanced DAG by hand and returns the root CID
// string, the root block and its cumulative size.
func expectedFile(data []byte, chunk, width int) (string, []byte, uint64) {
	type sub struct {
		cid   []byte
		size  uint64 // content bytes
		tsize uint64 // cumulative block bytes
		block []byte
	}
	var level []sub
	for off := 0; off < len(data) || (off == 0 && len(data) == 0); off += chunk {
		end := min(off+chunk, len(data))
		c := data[off:end]
		level = append(level, sub{cid: cidBytes(0x55, c), size: uint64(len(c)), tsize: uint64(len(c)), block: c})
		if len(data) == 0 {
			break
		}
	}
	if len(level) == 1 {
		return cidString(0x55, sha256sum(level[0].block)), level[0].block, level[0].tsize
	}
	// Balanced layout fills depth-first: each parent takes up to width children.
	for len(level) > 1 {
		var next []sub
		for i := 0; i < len(level); i += width {
			kids := level[i:min(i+width, len(level))]
			var links []hlink
			var sizes []uint64
			var total, tsum uint64
			for _, k := range kids {
				links = append(links, hlink{cid: k.cid, tsize: k.tsize})
				sizes = append(sizes, k.size)
				total += k.size
				tsum += k.tsize
			}
			blk := pbNode(links, unixfsFile(total, sizes))
			next = append(next, sub{cid: cidBytes(0x70, blk), size: total, tsize: tsum + uint64(len(blk)), block: blk})
		}
		level = next
	}
	return pbCID(level[0].block), level[0].block, level[0].tsize
}

func sha256sum(b []byte) []byte { d := sha256.Sum256(b); return d[:] }

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

func addBytes(t testing.TB, n *Node, data []byte) AddResult {
	t.Helper()
	res, err := n.Add(context.Background(), files.NewBytesFile(data), AddOptions{NoPin: true})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestPublishedCIDs(t *testing.T) {
	n := memNode(t)
	// Empty raw block: sha256("") as CIDv1 raw — the CID every
	// `ipfs add --cid-version=1` of an empty file prints.
	if got := addBytes(t, n, nil).RootStr; got != "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku" {
		t.Fatalf("empty file: %s", got)
	}
	if got := addBytes(t, n, []byte("hello world")).RootStr; got != "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e" {
		t.Fatalf("hello world: %s", got)
	}
	// `echo "hello world" | ipfs add --cid-version=1` (with the newline).
	if got := addBytes(t, n, []byte("hello world\n")).RootStr; got != "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4" {
		t.Fatalf("hello world\\n: %s", got)
	}
	// The empty UnixFS directory as CIDv1 (kubo `ipfs add -r --cid-version=1` of an empty dir).
	res, err := n.Add(context.Background(), files.NewMapDirectory(nil), AddOptions{NoPin: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.RootStr != "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354" {
		t.Fatalf("empty dir: %s", res.RootStr)
	}
	if pbCID(pbNode(nil, unixfsDir)) != res.RootStr {
		t.Fatal("hand encoder disagrees with the published empty-directory CID")
	}
}

func TestFileCIDVectors(t *testing.T) {
	n := memNode(t)
	const chunk, width = 256 << 10, 174
	cases := []struct {
		name string
		size int
		want int // expected number of leaves, as a check on the shape
	}{
		{"0B", 0, 1},
		{"1B", 1, 1},
		{"one chunk", chunk, 1},
		{"one chunk + 1", chunk + 1, 2},
		{"two chunks", 2 * chunk, 2},
		{"174 chunks, full single level", width * chunk, width},
		{"175 chunks, two levels", width*chunk + 1, width + 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := pattern(tc.size, byte(tc.size))
			want, block, tsize := expectedFile(data, chunk, width)
			res := addBytes(t, n, data)
			if res.RootStr != want {
				t.Fatalf("size %d: got %s, hand-built %s", tc.size, res.RootStr, want)
			}
			if res.Size != uint64(tc.size) {
				t.Fatalf("reported size %d, want %d", res.Size, tc.size)
			}
			nd, err := n.DAG().Get(context.Background(), res.Root)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(nd.RawData(), block) {
				t.Fatal("root block differs from the hand-encoded block")
			}
			st, err := n.Stat(context.Background(), res.Root)
			if err != nil {
				t.Fatal(err)
			}
			if st.CumulativeSize != tsize || st.Size != uint64(tc.size) {
				t.Fatalf("stat %+v, want cumulative %d", st, tsize)
			}
			leaves := countLeaves(t, n, res)
			if leaves != tc.want {
				t.Fatalf("leaves %d, want %d", leaves, tc.want)
			}
		})
	}
}

func countLeaves(t *testing.T, n *Node, res AddResult) int {
	t.Helper()
	count := 0
	seen := map[string]bool{}
	var rec func(c string) error
	rec = func(c string) error {
		k, err := ParseCID(c)
		if err != nil {
			return err
		}
		nd, err := n.DAG().Get(context.Background(), k)
		if err != nil {
			return err
		}
		if len(nd.Links()) == 0 {
			if !seen[c] {
				count++
			}
			seen[c] = true
			return nil
		}
		for _, l := range nd.Links() {
			if err := rec(l.Cid.String()); err != nil {
				return err
			}
		}
		return nil
	}
	if err := rec(res.RootStr); err != nil {
		t.Fatal(err)
	}
	return count
}

// TestDirectoryCIDVectors hand-builds nested directories: links sorted by
// name, Tsize = cumulative size of the child, Data = UnixFS Directory.
func TestDirectoryCIDVectors(t *testing.T) {
	n := memNode(t)
	big := pattern(256<<10+10, 7)
	bigCID, _, bigT := expectedFile(big, 256<<10, 174)
	a := []byte("alpha\n")
	b := []byte("")
	inner := []hlink{
		{cid: cidBytes(0x55, b), name: "empty", tsize: 0},
		{cid: decodeB32(t, bigCID), name: "large.bin", tsize: bigT},
	}
	innerBlock := pbNode(inner, unixfsDir)
	innerT := uint64(len(innerBlock)) + bigT
	emptyDir := pbNode(nil, unixfsDir)
	outer := []hlink{
		{cid: cidBytes(0x55, a), name: "a.txt", tsize: uint64(len(a))},
		{cid: cidBytes(0x70, emptyDir), name: "empty-dir", tsize: uint64(len(emptyDir))},
		{cid: cidBytes(0x70, innerBlock), name: "sub", tsize: innerT},
	}
	sort.Slice(outer, func(i, j int) bool { return outer[i].name < outer[j].name })
	want := pbCID(pbNode(outer, unixfsDir))

	dir := files.NewMapDirectory(map[string]files.Node{
		"sub": files.NewMapDirectory(map[string]files.Node{
			"large.bin": files.NewBytesFile(big),
			"empty":     files.NewBytesFile(b),
		}),
		"a.txt":     files.NewBytesFile(a),
		"empty-dir": files.NewMapDirectory(nil),
		".hidden":   files.NewBytesFile([]byte("skipped like kubo without --hidden")),
	})
	res, err := n.Add(context.Background(), dir, AddOptions{NoPin: true, Name: "root"})
	if err != nil {
		t.Fatal(err)
	}
	if res.RootStr != want {
		t.Fatalf("nested dir: got %s, hand-built %s", res.RootStr, want)
	}
	var paths []string
	for _, e := range res.Entries {
		paths = append(paths, e.Path)
	}
	if got := strings.Join(paths, ","); got != "root/a.txt,root/empty-dir,root/sub/empty,root/sub/large.bin,root/sub,root" {
		t.Fatalf("entries %s", got)
	}
}

func decodeB32(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(s[1:]))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHAMTThreshold checks kubo's sharding rule: a directory becomes a HAMT
// shard when the sum over entries of len(name)+len(CID bytes) exceeds
// 256 KiB, and stays a basic directory at or below it.
func TestHAMTThreshold(t *testing.T) {
	n := memNode(t)
	const threshold = 256 << 10
	// Each entry: a 36-byte CIDv1 raw sha256 link + a 28-byte name = 64 bytes.
	per := 36 + 28
	atLimit := threshold / per // 4096 entries = exactly 262144 bytes
	for _, tc := range []struct {
		entries int
		want    string
	}{{atLimit, "directory"}, {atLimit + 1, "hamt-directory"}} {
		m := map[string]files.Node{}
		for i := range tc.entries {
			m[fmt.Sprintf("entry-%022d", i)] = files.NewBytesFile([]byte(fmt.Sprint(i)))
		}
		res, err := n.Add(context.Background(), files.NewMapDirectory(m), AddOptions{NoPin: true})
		if err != nil {
			t.Fatal(err)
		}
		st, err := n.Stat(context.Background(), res.Root)
		if err != nil {
			t.Fatal(err)
		}
		if st.Type != tc.want {
			t.Fatalf("%d entries: type %s, want %s", tc.entries, st.Type, tc.want)
		}
		if tc.want == "hamt-directory" {
			nd, _ := n.DAG().Get(context.Background(), res.Root)
			fsn, err := ft.FSNodeFromBytes(nd.(*merkledag.ProtoNode).Data())
			if err != nil || fsn.Fanout() != 256 {
				t.Fatalf("HAMT fanout %d (%v), want kubo's 256", fsn.Fanout(), err)
			}
		}
		// Every entry must still resolve through the directory.
		dr, err := n.Cat(context.Background(), mustEntry(t, n, res, "entry-0000000000000000000007"))
		if err != nil {
			t.Fatal(err)
		}
		got := new(bytes.Buffer)
		got.ReadFrom(dr)
		dr.Close()
		if got.String() != "7" {
			t.Fatalf("entry 7 reads %q", got)
		}
	}
}
