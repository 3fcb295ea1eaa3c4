package storage

import (
	"context"
	"io"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/go-cid"
)

// API is what the `ipfs` commands, the contribution porcelain and the
// provider daemon call. *Node implements it directly on an open repo;
// storage/api.Client implements it over a running daemon's local HTTP API.
type API interface {
	// Add imports a file, directory or stream as UnixFS with the repo's
	// import settings (kubo-compatible CIDv1 by default) and, unless
	// opts.NoPin, pins the root recursively with opts.PinReason.
	Add(ctx context.Context, nd files.Node, opts AddOptions) (AddResult, error)
	// Cat streams the bytes of the UnixFS file at c.
	Cat(ctx context.Context, c cid.Cid) (io.ReadCloser, error)
	// Get writes the UnixFS file or directory at c to dest on the local
	// filesystem (dest must not exist).
	Get(ctx context.Context, c cid.Cid, dest string, progress func(n int64)) error
	// Stat describes the DAG at c.
	Stat(ctx context.Context, c cid.Cid) (Stat, error)

	// Pin pins c recursively (fetching what is missing when online) and
	// records reason. A CID may carry several reasons; it stays pinned
	// until the last one is removed.
	Pin(ctx context.Context, c cid.Cid, reason string) error
	// Unpin removes reason from c ("" removes every reason); the pin goes
	// when no reason is left. Unpinning a CID that is not pinned is an error.
	Unpin(ctx context.Context, c cid.Cid, reason string) error
	// Pins lists recursive pins with their reasons, sorted by CID.
	Pins(ctx context.Context) ([]PinInfo, error)
	// GC deletes every block not reachable from a pin.
	GC(ctx context.Context) (GCResult, error)
	// Verify re-hashes every block in the store. With repair, corrupt
	// blocks are deleted so that a later add, fetch or CAR import can store
	// good copies (pins keep referring to them by CID).
	Verify(ctx context.Context, repair bool) (VerifyResult, error)

	// ExportCAR writes the DAG at c as a CAR v1 (depth-first, each block once).
	ExportCAR(ctx context.Context, c cid.Cid, w io.Writer) error
	// ImportCAR reads a CAR v1 or v2, verifies every block against its CID,
	// stores the blocks and pins the roots with reason (unless noPin).
	ImportCAR(ctx context.Context, r io.Reader, reason string, noPin bool) (CARImportResult, error)

	// ID describes this node.
	ID(ctx context.Context) (Identity, error)
	// Connect dials a peer given as /ip4/…/p2p/<id> and keeps it connected.
	Connect(ctx context.Context, addr string) error
	// Peers lists connected peers.
	Peers(ctx context.Context) ([]PeerInfo, error)
}

// AddOptions modify one Add.
type AddOptions struct {
	// NoPin leaves the result unpinned (gc may delete it).
	NoPin bool
	// PinReason is recorded with the pin, e.g. "datanet 3 contribution 17".
	PinReason string
	// Name is the display name of the top-level entry in AddResult.Entries
	// (e.g. the base name of the added path); "" uses the root CID.
	Name string
	// Hidden includes dot-files when adding a directory (kubo: --hidden).
	Hidden bool
	// Progress, if set, is called with the number of bytes just read.
	Progress func(n int64)
	// SHA256 also computes the sha256 of the content of a single-file add
	// (the digest the chain records next to the CID); ignored for directories.
	SHA256 bool
}

// AddedEntry is one file or directory imported by Add.
type AddedEntry struct {
	Path string `json:"path"`
	Cid  string `json:"cid"`
	Size uint64 `json:"size"` // content bytes (files) or DAG size (directories)
}

// AddResult is the outcome of Add. Root is the CID of the top-level node.
type AddResult struct {
	Root    cid.Cid      `json:"-"`
	RootStr string       `json:"root"`
	Size    uint64       `json:"size"` // bytes of file content imported
	Entries []AddedEntry `json:"entries"`
	Pinned  bool         `json:"pinned"`
	// SHA256 is the hex sha256 of the file content when AddOptions.SHA256
	// was set and a single file was added.
	SHA256 string `json:"sha256,omitempty"`
}

// Stat describes a DAG root.
type Stat struct {
	Cid            string `json:"cid"`
	Codec          string `json:"codec"`           // "dag-pb", "raw", …
	Type           string `json:"type"`            // "file", "directory", "hamt-directory", "symlink", "raw", "other"
	Size           uint64 `json:"size"`            // file content size (0 for directories)
	BlockSize      int    `json:"block_size"`      // size of the root block
	CumulativeSize uint64 `json:"cumulative_size"` // sum of all block sizes in the DAG
	Blocks         int    `json:"blocks"`          // number of distinct blocks
	Links          int    `json:"links"`           // links of the root node
}

// PinInfo is one recursive pin.
type PinInfo struct {
	Cid     string   `json:"cid"`
	Reasons []string `json:"reasons"`
}

// GCResult reports a garbage collection.
type GCResult struct {
	Removed    int    `json:"removed"`
	FreedBytes uint64 `json:"freed_bytes"`
	Kept       int    `json:"kept"`
}

// CorruptBlock is a block whose bytes do not hash to its key.
type CorruptBlock struct {
	Key   string `json:"key"` // flatfs key (base32 multihash)
	Cid   string `json:"cid"` // the multihash as a raw CIDv1
	Error string `json:"error"`
	// Removed is true when repair deleted the block.
	Removed bool `json:"removed,omitempty"`
}

// VerifyResult reports a repo verification.
type VerifyResult struct {
	Checked int            `json:"checked"`
	Corrupt []CorruptBlock `json:"corrupt"`
}

// CARImportResult reports a CAR import.
type CARImportResult struct {
	Roots  []string `json:"roots"`
	Blocks int      `json:"blocks"`
	Bytes  uint64   `json:"bytes"`
	Pinned []string `json:"pinned"`
	// Incomplete lists roots that were not pinned because blocks they
	// link to are missing from the CAR and the repo.
	Incomplete []string `json:"incomplete,omitempty"`
}

// Identity describes the node.
type Identity struct {
	PeerID       string   `json:"peer_id"`
	Addrs        []string `json:"addrs"`
	AgentVersion string   `json:"agent_version"`
	Online       bool     `json:"online"`
}

// PeerInfo is one connected peer.
type PeerInfo struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
}

var _ API = (*Node)(nil)
