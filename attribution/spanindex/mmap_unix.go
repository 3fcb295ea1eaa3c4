//go:build unix

package spanindex

import (
	"fmt"
	"os"
	"syscall"
)

type mapping struct {
	data   []byte
	mapped bool
}

// mmapFile maps the first size bytes of f (read-only unless writable).
func mmapFile(f *os.File, size int, writable bool) (*mapping, error) {
	if size == 0 {
		return &mapping{}, nil
	}
	prot := syscall.PROT_READ
	if writable {
		prot |= syscall.PROT_WRITE
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, size, prot, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("spanindex: mmap %s: %w", f.Name(), err)
	}
	return &mapping{data: b, mapped: true}, nil
}

func (m *mapping) unmap() error {
	if m == nil || !m.mapped {
		return nil
	}
	m.mapped = false
	return syscall.Munmap(m.data)
}
