package storage

import (
	"context"
	"sync"

	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// writeBatch buffers imported nodes and writes them in batches on up to
// two background writers, so hashing and disk writes overlap. Unlike
// ipld.Batch it can always be drained: Wait returns only when no write is
// in flight, so a failed add never leaves writes running behind it.
type writeBatch struct {
	ipld.DAGService
	ctx      context.Context
	buf      []ipld.Node
	size     int
	sem      chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	err      error
	inflight map[*[]ipld.Node]struct{} // batches being written, for Get
	maxSize  int
}

func newWriteBatch(ctx context.Context, dag ipld.DAGService) *writeBatch {
	return &writeBatch{DAGService: dag, ctx: ctx, sem: make(chan struct{}, 2), maxSize: 8 << 20,
		inflight: map[*[]ipld.Node]struct{}{}}
}

func (b *writeBatch) failed() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

func (b *writeBatch) Add(ctx context.Context, nd ipld.Node) error {
	return b.AddMany(ctx, []ipld.Node{nd})
}

func (b *writeBatch) AddMany(_ context.Context, nds []ipld.Node) error {
	if err := b.failed(); err != nil {
		return err
	}
	for _, nd := range nds {
		b.buf = append(b.buf, nd)
		b.size += len(nd.RawData())
	}
	if b.size >= b.maxSize {
		b.flush()
	}
	return nil
}

func (b *writeBatch) flush() {
	if len(b.buf) == 0 {
		return
	}
	nodes := b.buf
	b.buf, b.size = nil, 0
	b.mu.Lock()
	b.inflight[&nodes] = struct{}{}
	b.mu.Unlock()
	b.sem <- struct{}{}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer func() { <-b.sem }()
		err := b.DAGService.AddMany(b.ctx, nodes)
		b.mu.Lock()
		delete(b.inflight, &nodes)
		if err != nil && b.err == nil {
			b.err = err
		}
		b.mu.Unlock()
	}()
}

// Commit writes what is buffered and waits for every write.
func (b *writeBatch) Commit() error {
	b.flush()
	b.wg.Wait()
	return b.failed()
}

// Wait drops what is buffered and waits for writes in flight.
func (b *writeBatch) Wait() {
	b.buf, b.size = nil, 0
	b.wg.Wait()
}

// Get also finds nodes still buffered or being written.
func (b *writeBatch) Get(ctx context.Context, c cid.Cid) (ipld.Node, error) {
	for _, nd := range b.buf {
		if nd.Cid().Equals(c) {
			return nd, nil
		}
	}
	b.mu.Lock()
	for nodes := range b.inflight {
		for _, nd := range *nodes {
			if nd.Cid().Equals(c) {
				b.mu.Unlock()
				return nd, nil
			}
		}
	}
	b.mu.Unlock()
	return b.DAGService.Get(ctx, c)
}
