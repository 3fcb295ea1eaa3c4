package attribution

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	chunk "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/openledger/openledger/attribution/record"
	"github.com/openledger/openledger/storage"
)

// FileArtifact returns the CID (computed with the storage package's import
// settings: CIDv1, raw leaves, its default chunk size and link width, so it
// equals the CID `openledgerd ipfs add` prints), sha256 and size of a
// local file. Nothing is stored.
func FileArtifact(path string) (record.Artifact, error) {
	f, err := os.Open(path)
	if err != nil {
		return record.Artifact{}, fmt.Errorf("attribution: %w", err)
	}
	defer f.Close()
	return ReaderArtifact(f)
}

// ReaderArtifact is FileArtifact for a stream.
func ReaderArtifact(r io.Reader) (record.Artifact, error) {
	cfg := storage.DefaultConfig().Import
	h := sha256.New()
	cr := &countReader{r: io.TeeReader(r, h)}
	params := helpers.DagBuilderParams{
		Maxlinks:   cfg.MaxLinks,
		RawLeaves:  true,
		CidBuilder: storage.CidBuilder,
		Dagserv:    discardDAG{},
	}
	db, err := params.New(chunk.NewSizeSplitter(cr, int64(cfg.ChunkSize)))
	if err != nil {
		return record.Artifact{}, fmt.Errorf("attribution: %w", err)
	}
	nd, err := balanced.Layout(db)
	if err != nil {
		return record.Artifact{}, fmt.Errorf("attribution: computing CID: %w", err)
	}
	return record.Artifact{Cid: nd.Cid().String(), Sha256: hex.EncodeToString(h.Sum(nil)), SizeBytes: cr.n}, nil
}

type countReader struct {
	r io.Reader
	n uint64
}

func (c *countReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += uint64(k)
	return k, err
}

// discardDAG accepts nodes and keeps nothing (the importer only adds).
type discardDAG struct{}

func (discardDAG) Get(context.Context, cid.Cid) (ipld.Node, error) { return nil, ipld.ErrNotFound{} }
func (discardDAG) GetMany(context.Context, []cid.Cid) <-chan *ipld.NodeOption {
	ch := make(chan *ipld.NodeOption)
	close(ch)
	return ch
}
func (discardDAG) Add(context.Context, ipld.Node) error        { return nil }
func (discardDAG) AddMany(context.Context, []ipld.Node) error  { return nil }
func (discardDAG) Remove(context.Context, cid.Cid) error       { return nil }
func (discardDAG) RemoveMany(context.Context, []cid.Cid) error { return nil }
