//go:build !unix

package spanindex

import (
	"fmt"
	"io"
	"os"
)

type mapping struct {
	data     []byte
	f        *os.File
	writable bool
}

// mmapFile reads the first size bytes of f into memory (no mmap on this
// platform); a writable mapping is written back by unmap.
func mmapFile(f *os.File, size int, writable bool) (*mapping, error) {
	b := make([]byte, size)
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, int64(size)), b); err != nil && !writable {
		return nil, fmt.Errorf("spanindex: read %s: %w", f.Name(), err)
	}
	return &mapping{data: b, f: f, writable: writable}, nil
}

func (m *mapping) unmap() error {
	if m == nil || !m.writable {
		return nil
	}
	m.writable = false
	_, err := m.f.WriteAt(m.data, 0)
	return err
}
