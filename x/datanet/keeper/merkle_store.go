package keeper

import (
	"context"
	"errors"

	"cosmossdk.io/collections"

	"github.com/openledger/openledger/x/datanet/types"
)

// nodeStore adapts the MerkleNodes collection to types.NodeStore for one datanet.
type nodeStore struct {
	ctx     context.Context
	k       Keeper
	datanet uint64
}

var _ types.NodeStore = nodeStore{}

func (s nodeStore) GetNode(level uint32, index uint64) ([]byte, error) {
	h, err := s.k.MerkleNodes.Get(s.ctx, collections.Join3(s.datanet, level, index))
	if err != nil {
		if isNotFound(err) {
			return nil, types.ErrInvalidProof.Wrapf("datanet %d: merkle node (%d, %d) missing", s.datanet, level, index)
		}
		return nil, err
	}
	return h, nil
}

func (s nodeStore) SetNode(level uint32, index uint64, hash []byte) error {
	return s.k.MerkleNodes.Set(s.ctx, collections.Join3(s.datanet, level, index), hash)
}

func (k Keeper) merkle(ctx context.Context, datanetID uint64) nodeStore {
	return nodeStore{ctx: ctx, k: k, datanet: datanetID}
}

func isNotFound(err error) bool { return errors.Is(err, collections.ErrNotFound) }

// leafHash returns the RFC 6962 leaf hash of a contribution.
func (k Keeper) leafHash(c types.Contribution) ([]byte, error) {
	return types.ContributionLeafHash(c, k.addressCodec)
}
