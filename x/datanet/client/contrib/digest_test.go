package contrib

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func hexSum(b string) string {
	s := sha256.Sum256([]byte(b))
	return hex.EncodeToString(s[:])
}

func TestDescribeFile(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, body, mediaType string
		records               uint64
	}{
		{"a.txt", "one\ntwo\nthree\n", "text/plain", 3},
		{"b.txt", "one\ntwo", "text/plain", 2},
		{"c.jsonl", "{\"a\":1}\n{\"a\":2}\n", "application/jsonl", 2},
		{"d.bin", "\x00\x01\x02\x03", "application/octet-stream", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			write(t, p, tc.body)
			c, err := Describe(p, false)
			if err != nil {
				t.Fatal(err)
			}
			if c.SHA256 != hexSum(tc.body) || c.Size != uint64(len(tc.body)) || c.Records != tc.records || c.MediaType != tc.mediaType || c.Files != 1 {
				t.Fatalf("got %+v", c)
			}
		})
	}
}

func TestDescribeDirectory(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "b.txt"), "bee\n")
	write(t, filepath.Join(dir, "a", "z.txt"), "zed\nzed\n")
	write(t, filepath.Join(dir, ".hidden"), "secret\n")
	c, err := Describe(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	// The listing `sha256sum` would print for the files in byte order of their paths.
	listing := fmt.Sprintf("%s  a/z.txt\n%s  b.txt\n", hexSum("zed\nzed\n"), hexSum("bee\n"))
	if c.SHA256 != hexSum(listing) || c.Size != 12 || c.Records != 3 || c.Files != 2 || c.MediaType != DirectoryMediaType {
		t.Fatalf("got %+v", c)
	}
	withHidden, err := Describe(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if withHidden.Files != 3 || withHidden.SHA256 == c.SHA256 {
		t.Fatalf("hidden files not included: %+v", withHidden)
	}
}

func TestDescribeErrors(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "empty.txt"), "")
	if err := os.Mkdir(filepath.Join(dir, "nothing"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "missing"), filepath.Join(dir, "empty.txt"), filepath.Join(dir, "nothing")} {
		if _, err := Describe(p, false); err == nil {
			t.Errorf("%s: want an error", p)
		}
	}
}
