package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ipfs/boxo/files"
)

// OpenInput checks a local path and opens it for Add: a regular file, or a
// directory when recursive is set (dot-files skipped unless hidden). It
// returns the node, its base name (for AddOptions.Name) and its total size
// in bytes (-1 when unknown). The caller closes the node.
func OpenInput(path string, recursive, hidden bool) (files.Node, string, int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, "", 0, fmt.Errorf("cannot add %s: no such file or directory", path)
		}
		return nil, "", 0, fmt.Errorf("cannot add %s: %w", path, err)
	}
	if st.IsDir() && !recursive {
		return nil, "", 0, fmt.Errorf("%s is a directory; use -r to add it recursively", path)
	}
	if st.Mode().IsRegular() {
		f, err := os.Open(path)
		if err != nil {
			return nil, "", 0, fmt.Errorf("cannot read %s: %w", path, err)
		}
		f.Close()
	} else if !st.IsDir() {
		return nil, "", 0, fmt.Errorf("cannot add %s: not a regular file or directory (%s)", path, st.Mode().Type())
	}
	nd, err := files.NewSerialFile(path, hidden, st)
	if err != nil {
		return nil, "", 0, fmt.Errorf("cannot read %s: %w", path, err)
	}
	size, err := nd.Size()
	if err != nil {
		size = -1
	}
	return nd, filepath.Base(filepath.Clean(path)), size, nil
}
