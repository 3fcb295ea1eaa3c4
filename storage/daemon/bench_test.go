package daemon

import (
	"context"
	"fmt"
	"testing"

	"github.com/ipfs/boxo/files"

	"github.com/openledger/openledger/storage"
)

// BenchmarkBitswapFetch measures `pin add` of a file held by another daemon:
// bitswap over loopback TCP (TLS, yamux), every block hashed on arrival and
// written to the receiver's flatfs repo, then the pin flushed.
func BenchmarkBitswapFetch(b *testing.B) {
	for _, size := range []int{1 << 20, 64 << 20, 256 << 20} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			data := pattern(size, 3)
			b.SetBytes(int64(size))
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				a, c := start(b, nil), start(b, nil)
				ctx := context.Background()
				res, err := a.node.Add(ctx, files.NewBytesFile(data), storage.AddOptions{})
				if err != nil {
					b.Fatal(err)
				}
				if err := c.node.Connect(ctx, a.info.SwarmAddrs[0]); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := c.node.Pin(ctx, res.Root, "bench"); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				a.stop()
				c.stop()
				b.StartTimer()
			}
		})
	}
}
