package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openledger/openledger/storage"
)

// TestAddKilledMidwayLeavesConsistentRepo kills (SIGKILL) an `ipfs add -`
// process in the middle of its input, then checks the repo: it opens (the
// lock died with the process), has no pin, verifies clean, and gc removes
// the partial blocks.
func TestAddKilledMidwayLeavesConsistentRepo(t *testing.T) {
	home := t.TempDir()
	mustRun(t, home, "", "init", "--loopback")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "OPENLEDGER_IPFS_HELPER=1", "OPENLEDGER_IPFS_HOME="+home,
		"OPENLEDGER_IPFS_ARGS=add --reason never-pinned -")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Feed 24 MiB (past the 8 MiB write batches), then kill without closing stdin.
	chunk := make([]byte, 1<<20)
	for i := 0; i < 24; i++ {
		for j := range chunk {
			chunk[j] = byte(i*131 + j*7 + j>>11)
		}
		if _, err := stdin.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until some blocks reached the store, bounded.
	blocks := filepath.Join(storage.RepoPath(home), storage.BlocksDir)
	deadline := time.Now().Add(20 * time.Second)
	for countData(blocks) < 8 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	stdin.Close()
	partial := countData(blocks)
	if partial == 0 {
		t.Fatal("no block reached the store before the kill; the fault was not exercised")
	}
	if out := mustRun(t, home, "", "pin", "ls"); out != "" {
		t.Fatalf("killed add left a pin: %s", out)
	}
	if out := mustRun(t, home, "", "repo", "verify"); !strings.Contains(out, " 0 corrupt") {
		t.Fatalf("verify after kill: %s", out)
	}
	out := mustRun(t, home, "", "gc")
	if !strings.Contains(out, "kept 0") || countData(blocks) != 0 {
		t.Fatalf("gc after kill: %s (%d block files left)", out, countData(blocks))
	}
	// The repo is fully usable afterwards.
	if c := strings.TrimSpace(mustRun(t, home, "after the crash", "add", "-q", "-")); mustRun(t, home, "", "cat", c) != "after the crash" {
		t.Fatal("repo unusable after the crash")
	}
}

func countData(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".data") {
			n++
		}
		return nil
	})
	return n
}
