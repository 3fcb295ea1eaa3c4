package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openledger/openledger/storage"
)

// TestMain lets the test binary act as `openledgerd ipfs …` when
// OPENLEDGER_IPFS_HELPER is set, so a real process can be signalled.
func TestMain(m *testing.M) {
	if os.Getenv("OPENLEDGER_IPFS_HELPER") == "1" {
		r := root(os.Getenv("OPENLEDGER_IPFS_HOME"))
		r.SetArgs(append([]string{"ipfs"}, strings.Fields(os.Getenv("OPENLEDGER_IPFS_ARGS"))...))
		if err := r.ExecuteContext(context.Background()); err != nil {
			os.Stderr.WriteString("error: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestDaemonStopsCleanlyOnSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			home := t.TempDir()
			mustRun(t, home, "", "init", "--loopback", "--dht", "none")
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "OPENLEDGER_IPFS_HELPER=1", "OPENLEDGER_IPFS_HOME="+home, "OPENLEDGER_IPFS_ARGS=daemon")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			apiFile := filepath.Join(storage.RepoPath(home), storage.APIFile)
			deadline := time.Now().Add(30 * time.Second)
			for {
				if _, err := os.Stat(apiFile); err == nil {
					break
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("daemon not ready: %s", stderr.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			// Data added through the daemon must survive the shutdown.
			c := strings.TrimSpace(mustRun(t, home, "persisted before ack", "add", "-q", "--reason", "sig", "-"))
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("daemon exit after %s: %v\n%s", sig, err, stderr.String())
				}
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("daemon ignored %s", sig)
			}
			if !strings.Contains(stdout.String(), "daemon is ready") || !strings.Contains(stderr.String(), "ipfs daemon stopped") {
				t.Fatalf("unexpected output:\n%s\n%s", stdout.String(), stderr.String())
			}
			if _, err := os.Stat(apiFile); !os.IsNotExist(err) {
				t.Fatal("api file left after shutdown")
			}
			if out := mustRun(t, home, "", "cat", c); out != "persisted before ack" {
				t.Fatalf("after restart: %q", out)
			}
			if out := mustRun(t, home, "", "pin", "ls"); !strings.Contains(out, `"sig"`) {
				t.Fatalf("pin lost: %s", out)
			}
		})
	}
}
