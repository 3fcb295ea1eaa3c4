package spanindex

import (
	"syscall"
	"testing"
	"time"

	"github.com/openledger/openledger/ml/rng"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSAIS sorts 4M tokens drawn from a Zipf-like distribution over
// 1025 symbols with repeated phrases (text-like), reporting CPU time too
// (the machine may be shared).
func BenchmarkSAIS(b *testing.B) { benchSAIS(b, 4<<20) }

// BenchmarkSAISLarge is BenchmarkSAIS with 40 Mi tokens (arrays far larger
// than the caches, as for a 100 MB corpus).
func BenchmarkSAISLarge(b *testing.B) { benchSAIS(b, 40<<20) }

func benchSAIS(b *testing.B, n int) {
	r := rng.New(1)
	t := make([]int32, n)
	for i := 0; i < n; {
		if i > 1000 && r.Intn(4) == 0 { // copy a phrase from earlier
			src := r.Intn(i - 100)
			l := 5 + r.Intn(30)
			for k := 0; k < l && i < n; k++ {
				t[i] = t[src+k]
				i++
			}
			continue
		}
		x := r.Intn(1024)
		t[i] = int32(x * x / 1024)
		i++
	}
	sa := make([]int32, n)
	t16 := make([]uint16, n)
	for i, x := range t {
		t16[i] = uint16(x)
	}
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		sais(t16, sa, 1025)
	}
	c := cpuTime() - c0
	b.ReportMetric(float64(c.Nanoseconds())/float64(b.N)/float64(n), "cpu-ns/token")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "wall-ns/token")
}
