package daemon

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

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
			var cpu time.Duration
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
				c0 := cpuTime()
				if err := c.node.Pin(ctx, res.Root, "bench"); err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime() - c0
				b.StopTimer()
				a.stop()
				c.stop()
				b.StartTimer()
			}
			reportCPURate(b, int64(size)*int64(b.N), cpu)
		})
	}
}

// cpuTime is the CPU time (user + system, all threads) used by this process
// so far. Benchmarks report bytes per CPU-second next to wall-clock MB/s:
// on a shared machine the wall-clock rate falls with other load, the CPU
// rate much less.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPURate(b *testing.B, bytes int64, cpu time.Duration) {
	if cpu > 0 {
		b.ReportMetric(float64(bytes)/1e6/cpu.Seconds(), "MB/cpu-s")
	}
}
