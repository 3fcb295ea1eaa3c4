package e2e_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/openledger/openledger/testutil/e2e"
)

// TestContributePorcelain: one command adds a file to the built-in IPFS node, pins it,
// and submits it to a datanet with the right CID, digest, size and record count.
func TestContributePorcelain(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts a chain")
	}
	c := e2e.StartChain(t)
	if _, err := c.Run("ipfs", "init"); err != nil {
		t.Fatal(err)
	}
	c.MustTx("alice", "datanet", "create", "Proverbs", "CC0-1.0", "--min-contributions", "1")

	body := "Actions speak louder than words.\nBetter late than never.\nEasy come, easy go.\n"
	file := filepath.Join(t.TempDir(), "proverbs.txt")
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	res := c.MustTx("bob", "datanet", "contribute", "1", file)
	if id := res.Attr("openledger.datanet.v1.EventContributionSubmitted", "contribution_id"); id != "1" {
		t.Fatalf("contribution id %q", id)
	}
	var got struct {
		Contribution struct {
			Cid         string `json:"cid"`
			Sha256      string `json:"sha256"`
			SizeBytes   string `json:"size_bytes"`
			RecordCount string `json:"record_count"`
			MediaType   string `json:"media_type"`
		} `json:"contribution"`
	}
	c.MustQuery(&got, "datanet", "contribution", "1")
	sum := sha256.Sum256([]byte(body))
	ct := got.Contribution
	if ct.Sha256 != hex.EncodeToString(sum[:]) || ct.SizeBytes != strconv.Itoa(len(body)) || ct.RecordCount != "3" || ct.MediaType != "text/plain" {
		t.Fatalf("contribution: %+v", ct)
	}
	// The CID names exactly these bytes on the local node, pinned with the datanet reason.
	cat, err := c.Run("ipfs", "cat", ct.Cid)
	if err != nil || cat != body {
		t.Fatalf("ipfs cat %s: %v %q", ct.Cid, err, cat)
	}
	pins, err := c.Run("ipfs", "pin", "ls")
	if err != nil || !strings.Contains(pins, ct.Cid) || !strings.Contains(pins, "datanet 1 sha256:"+ct.Sha256) {
		t.Fatalf("pin ls: %v\n%s", err, pins)
	}

	// A directory is one contribution: its files' bytes, one record per line.
	dir := filepath.Join(t.TempDir(), "more")
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("Haste makes waste.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "b.txt"), []byte("No pain, no gain.\nTime is money.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.MustTx("carol", "datanet", "contribute", "1", dir)
	c.MustQuery(&got, "datanet", "contribution", "2")
	if ct := got.Contribution; ct.MediaType != "inode/directory" || ct.SizeBytes != "52" || ct.RecordCount != "3" ||
		!strings.HasPrefix(ct.Cid, "bafy") {
		t.Fatalf("directory contribution: %+v", ct)
	}

	// Bad input is refused before anything is added or sent.
	if _, err := c.Tx("bob", "datanet", "contribute", "1", filepath.Join(t.TempDir(), "missing.txt")); err == nil ||
		!strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := c.Tx("bob", "datanet", "contribute", "7", file); err == nil || !strings.Contains(err.Error(), "datanet 7") {
		t.Fatalf("unknown datanet: %v", err)
	}
}
