package keeper

import (
	"bytes"
	"context"
	"errors"

	"cosmossdk.io/collections"
	collcodec "cosmossdk.io/collections/codec"
	"cosmossdk.io/collections/indexes"
)

// stableMulti is a Multi index that leaves its entry alone when an update keeps the
// reference key (an owner, a datanet, a contributor, an unchanged status), saving a
// delete and a rewrite of the same key on every such update.
type stableMulti[R, V any] struct {
	*indexes.Multi[R, uint64, V]
	refOf    func(uint64, V) (R, error)
	refCodec collcodec.KeyCodec[R]
}

func newStableMulti[R, V any](
	sb *collections.SchemaBuilder, prefix collections.Prefix, name string,
	refCodec collcodec.KeyCodec[R], refOf func(uint64, V) (R, error),
) stableMulti[R, V] {
	return stableMulti[R, V]{
		Multi:    indexes.NewMulti(sb, prefix, name, refCodec, collections.Uint64Key, refOf),
		refOf:    refOf,
		refCodec: refCodec,
	}
}

// Reference implements collections.Index.
func (s stableMulti[R, V]) Reference(ctx context.Context, pk uint64, newValue V, lazyOldValue func() (V, error)) error {
	old, err := lazyOldValue()
	if err == nil {
		same, err := s.sameRef(pk, old, newValue)
		if err != nil {
			return err
		}
		if same {
			return nil
		}
	}
	return s.Multi.Reference(ctx, pk, newValue, func() (V, error) { return old, err })
}

func (s stableMulti[R, V]) sameRef(pk uint64, a, b V) (bool, error) {
	ra, err := s.refOf(pk, a)
	if err != nil {
		return false, err
	}
	rb, err := s.refOf(pk, b)
	if err != nil {
		return false, err
	}
	ea, err := collections.EncodeKeyWithPrefix(nil, s.refCodec, ra)
	if err != nil {
		return false, err
	}
	eb, err := collections.EncodeKeyWithPrefix(nil, s.refCodec, rb)
	if err != nil {
		return false, err
	}
	return bytes.Equal(ea, eb), nil
}

// indexedMap is a Map with secondary indexes, like collections.IndexedMap, but it
// reads and decodes the old value once per Set (IndexedMap does it once per index),
// and its stableMulti indexes skip rewriting unchanged entries.
type indexedMap[V any, I interface {
	IndexesList() []collections.Index[uint64, V]
}] struct {
	collections.Map[uint64, V]
	Indexes I
}

func newIndexedMap[V any, I interface {
	IndexesList() []collections.Index[uint64, V]
}](m collections.Map[uint64, V], idx I) *indexedMap[V, I] {
	return &indexedMap[V, I]{Map: m, Indexes: idx}
}

// Set stores v under pk and updates every index.
func (m *indexedMap[V, I]) Set(ctx context.Context, pk uint64, v V) error {
	old, err := m.Map.Get(ctx, pk)
	if err != nil && !errors.Is(err, collections.ErrNotFound) {
		return err
	}
	oldValue := func() (V, error) { return old, err }
	for _, idx := range m.Indexes.IndexesList() {
		if err := idx.Reference(ctx, pk, v, oldValue); err != nil {
			return err
		}
	}
	return m.Map.Set(ctx, pk, v)
}
