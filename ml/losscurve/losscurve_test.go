package losscurve

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestWritePNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "loss.png")
	if err := WritePNG(path, "test", []float64{5, 4, 3.5, 3.2}, 3.4); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) || len(b) < 1000 {
		t.Fatalf("not a PNG (%d bytes)", len(b))
	}
	if err := WritePNG(path, "x", nil, 0); err == nil {
		t.Fatal("empty losses accepted")
	}
}
