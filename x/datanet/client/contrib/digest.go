// Package contrib computes what a contribution declares on chain — SHA-256, size,
// record count and media type — from a local file or directory, the way anyone
// can recompute it with standard tools.
package contrib

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// DirectoryMediaType is the media type declared for directory contributions.
const DirectoryMediaType = "inode/directory"

// Content describes a file or directory as a contribution declares it.
type Content struct {
	// SHA256 is lowercase hex. For a file: the SHA-256 of its bytes. For a directory:
	// the SHA-256 of its listing, one line per regular file in byte order of the
	// slash-separated relative path, "<sha256 of the file>  <relative path>\n" — the
	// output of `find . -type f | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum`.
	SHA256 string
	// Size is the total number of content bytes.
	Size uint64
	// Records counts newline-terminated lines (plus a final unterminated one) of
	// text files, and 1 for every other file.
	Records uint64
	// MediaType is the detected IANA media type (DirectoryMediaType for directories).
	MediaType string
	// Files is the number of regular files.
	Files int
}

// Describe reads path (a regular file or a directory; hidden entries are included
// only when hidden is set) and returns its Content.
func Describe(path string, hidden bool) (Content, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Content{}, fmt.Errorf("%s: no such file or directory", path)
		}
		return Content{}, err
	}
	if st.Mode().IsRegular() {
		d, err := describeFile(path)
		if err != nil {
			return Content{}, err
		}
		if d.size == 0 {
			return Content{}, fmt.Errorf("%s is empty; a contribution needs at least one byte", path)
		}
		return Content{SHA256: hex.EncodeToString(d.sum), Size: d.size, Records: d.records, MediaType: d.mediaType, Files: 1}, nil
	}
	if !st.IsDir() {
		return Content{}, fmt.Errorf("%s is neither a regular file nor a directory", path)
	}
	var rels []string
	err = filepath.WalkDir(path, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != path && !hidden && strings.HasPrefix(e.Name(), ".") {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if e.Type().IsRegular() {
			rel, err := filepath.Rel(path, p)
			if err != nil {
				return err
			}
			rels = append(rels, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return Content{}, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(rels) == 0 {
		return Content{}, fmt.Errorf("%s holds no files", path)
	}
	sort.Strings(rels)
	listing := sha256.New()
	c := Content{MediaType: DirectoryMediaType, Files: len(rels)}
	for _, rel := range rels {
		d, err := describeFile(filepath.Join(path, filepath.FromSlash(rel)))
		if err != nil {
			return Content{}, err
		}
		fmt.Fprintf(listing, "%x  %s\n", d.sum, rel)
		c.Size += d.size
		c.Records += d.records
	}
	if c.Size == 0 {
		return Content{}, fmt.Errorf("%s holds only empty files", path)
	}
	c.SHA256 = hex.EncodeToString(listing.Sum(nil))
	return c, nil
}

type fileDigest struct {
	sum       []byte
	size      uint64
	records   uint64
	mediaType string
}

func describeFile(path string) (fileDigest, error) {
	f, err := os.Open(path)
	if err != nil {
		return fileDigest{}, fmt.Errorf("cannot read %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	r := bufio.NewReaderSize(f, 1<<20)
	head, _ := r.Peek(512)
	mediaType := detect(path, head)
	text := isText(mediaType)
	var d fileDigest
	buf := make([]byte, 1<<20)
	var last byte = '\n'
	for {
		n, err := r.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			d.size += uint64(n)
			if text {
				d.records += uint64(bytes.Count(buf[:n], []byte{'\n'}))
			}
			last = buf[n-1]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fileDigest{}, fmt.Errorf("cannot read %s: %w", path, err)
		}
	}
	switch {
	case !text:
		d.records = 1
	case last != '\n':
		d.records++ // a final line without a newline
	}
	if d.size == 0 {
		d.records = 0
	}
	d.sum, d.mediaType = h.Sum(nil), mediaType
	return d, nil
}

// isText reports whether records of this media type are lines.
func isText(mediaType string) bool {
	switch mediaType {
	case "application/json", "application/jsonl", "application/x-ndjson", "application/csv", "application/xml":
		return true
	}
	return strings.HasPrefix(mediaType, "text/")
}

// detect picks the media type from the extension, else from the content.
func detect(path string, head []byte) string {
	if t := mime.TypeByExtension(filepath.Ext(path)); t != "" {
		if mt, _, err := mime.ParseMediaType(t); err == nil {
			return mt
		}
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jsonl", ".ndjson":
		return "application/jsonl"
	case ".md":
		return "text/markdown"
	case ".csv":
		return "text/csv"
	}
	mt, _, _ := mime.ParseMediaType(http.DetectContentType(head))
	return mt
}
