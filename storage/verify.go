package storage

import (
	"context"
	"fmt"

	"github.com/ipfs/boxo/datastore/dshelp"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	mh "github.com/multiformats/go-multihash"
)

// Verify implements API: it reads every block file straight from the
// datastore and re-hashes it with the hash function named in its key.
func (n *Node) Verify(ctx context.Context, repair bool) (VerifyResult, error) {
	res, err := n.blocks.Query(ctx, query.Query{})
	if err != nil {
		return VerifyResult{}, err
	}
	defer res.Close()
	out := VerifyResult{Corrupt: []CorruptBlock{}}
	for e := range res.Next() {
		if e.Error != nil {
			return out, fmt.Errorf("reading block store: %w", e.Error)
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		out.Checked++
		if cb := checkEntry(e.Key, e.Value); cb != nil {
			if repair {
				if err := n.blocks.Delete(ctx, ds.NewKey(e.Key)); err != nil {
					return out, fmt.Errorf("removing corrupt block %s: %w", e.Key, err)
				}
				cb.Removed = true
			}
			out.Corrupt = append(out.Corrupt, *cb)
		}
	}
	return out, nil
}

func checkEntry(key string, value []byte) *CorruptBlock {
	k := ds.NewKey(key)
	hash, err := dshelp.DsKeyToMultihash(k)
	if err != nil {
		return &CorruptBlock{Key: k.String(), Error: "key is not a multihash: " + err.Error()}
	}
	dec, err := mh.Decode(hash)
	if err != nil {
		return &CorruptBlock{Key: k.String(), Error: "key is not a multihash: " + err.Error()}
	}
	c := cid.NewCidV1(cid.Raw, hash)
	got, err := mh.Sum(value, dec.Code, dec.Length)
	if err != nil {
		return &CorruptBlock{Key: k.String(), Cid: c.String(), Error: "cannot hash: " + err.Error()}
	}
	if string(got) != string(hash) {
		return &CorruptBlock{Key: k.String(), Cid: c.String(), Error: "content does not match its hash"}
	}
	return nil
}
