package storage

import (
	"context"
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"

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
			var cpu time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				n := memNode(b)
				b.StartTimer()
				c0 := cpuTime()
				if _, err := n.Add(context.Background(), files.NewBytesFile(data), AddOptions{PinReason: "bench"}); err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime() - c0
				b.StopTimer()
				n.Close()
				b.StartTimer()
			}
			reportCPURate(b, int64(size)*int64(b.N), cpu)
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
				var cpu time.Duration
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					n, _ := repoNode(b, func(c *Config) { c.Datastore.SyncWrites = sync })
					b.StartTimer()
					c0 := cpuTime()
					if _, err := n.Add(context.Background(), files.NewBytesFile(data), AddOptions{PinReason: "bench"}); err != nil {
						b.Fatal(err)
					}
					cpu += cpuTime() - c0
					b.StopTimer()
					n.Close()
					b.StartTimer()
				}
				reportCPURate(b, int64(size)*int64(b.N), cpu)
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
			c0 := cpuTime()
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
			reportCPURate(b, int64(size)*int64(b.N), cpuTime()-c0)
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
