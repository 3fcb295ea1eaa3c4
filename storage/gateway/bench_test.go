package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/boxo/files"

	"github.com/openledger/openledger/storage"
)

// BenchmarkGateway: GET /ipfs/<cid> of a UnixFS file (deserialized) and of
// its CAR (?format=car), served from a flatfs repo over loopback HTTP.
func BenchmarkGateway(b *testing.B) {
	for _, size := range []int{1 << 20, 256 << 20} {
		repo := b.TempDir() + "/ipfs"
		cfg := storage.DefaultConfig()
		cfg.Datastore.SyncWrites = false
		if err := storage.Init(repo, &cfg); err != nil {
			b.Fatal(err)
		}
		n, err := storage.Open(context.Background(), repo, storage.OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		data := make([]byte, size) // pseudo-random: no two chunks alike
		x := uint32(1)
		for i := range data {
			x = x*1664525 + 1013904223
			data[i] = byte(x >> 24)
		}
		res, err := n.Add(context.Background(), files.NewBytesFile(data), storage.AddOptions{})
		if err != nil {
			b.Fatal(err)
		}
		h, err := NewHandler(n.BlockService(), cfg.Gateway)
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(h)
		for _, q := range []string{"", "?format=car"} {
			name := "file"
			if q != "" {
				name = "car"
			}
			b.Run(fmt.Sprintf("%s/%dMiB", name, size>>20), func(b *testing.B) {
				b.SetBytes(int64(size))
				c0 := cpuTime()
				for i := 0; i < b.N; i++ {
					resp, err := http.Get(srv.URL + "/ipfs/" + res.RootStr + q)
					if err != nil {
						b.Fatal(err)
					}
					k, err := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != 200 || k < int64(size) {
						b.Fatal(resp.StatusCode, k, err)
					}
				}
				reportCPURate(b, int64(size)*int64(b.N), cpuTime()-c0)
			})
		}
		srv.Close()
		n.Close()
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
