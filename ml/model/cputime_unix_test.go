//go:build unix

package model

import "syscall"

// cpuSeconds is the process's user+system CPU time. Benchmarks report
// tokens per CPU-second beside tokens per wall-second, which stays
// meaningful when other processes compete for the cores.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}
