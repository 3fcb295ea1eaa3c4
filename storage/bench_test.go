package storage

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/ipfs/boxo/files"
)

var benchSizes = []int{1 << 20, 256 << 20}

// BenchmarkAddMemory: UnixFS import (CIDv1, raw leaves, 256 KiB, balanced)
// into an in-memory block store, pinning included.
func BenchmarkAddMemory(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			data := pattern(size, 1)
			b.SetBytes(int64(size))
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				n := memNode(b)
				b.StartTimer()
				if _, err := n.Add(context.Background(), files.NewBytesFile(data), AddOptions{PinReason: "bench"}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				n.Close()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkAddFlatfs: the same import into a flatfs repo on disk, with and
// without fsync per block file (Datastore.SyncWrites).
func BenchmarkAddFlatfs(b *testing.B) {
	for _, sync := range []bool{true, false} {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("sync=%v/%dMiB", sync, size>>20), func(b *testing.B) {
				data := pattern(size, 2)
				b.SetBytes(int64(size))
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					n, _ := repoNode(b, func(c *Config) { c.Datastore.SyncWrites = sync })
					b.StartTimer()
					if _, err := n.Add(context.Background(), files.NewBytesFile(data), AddOptions{PinReason: "bench"}); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					n.Close()
					b.StartTimer()
				}
			})
		}
	}
}

// BenchmarkCatFlatfs: reading a file back from a flatfs repo, every block
// re-hashed on read.
func BenchmarkCatFlatfs(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			n, _ := repoNode(b, func(c *Config) { c.Datastore.SyncWrites = false })
			res, err := n.Add(context.Background(), files.NewBytesFile(pattern(size, 3)), AddOptions{})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rc, err := n.Cat(context.Background(), res.Root)
				if err != nil {
					b.Fatal(err)
				}
				if k, err := io.Copy(io.Discard, rc); err != nil || k != int64(size) {
					b.Fatal(k, err)
				}
				rc.Close()
			}
		})
	}
}
