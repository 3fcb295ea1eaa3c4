package cli

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRealBinaryTwoDaemons runs the built openledgerd (OPENLEDGERD_BIN, set by
// `make test`): two daemons on loopback, an add on one, `peers connect` and
// `get` on the other, then SIGTERM to both.
func TestRealBinaryTwoDaemons(t *testing.T) {
	bin := os.Getenv("OPENLEDGERD_BIN")
	if bin == "" {
		t.Skip("OPENLEDGERD_BIN not set (make test sets it)")
	}
	run := func(home string, args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append(append([]string{"ipfs"}, args...), "--home", home)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	type daemon struct {
		cmd  *exec.Cmd
		addr string
	}
	startDaemon := func(home string) *daemon {
		t.Helper()
		run(home, "init", "--loopback", "--dht", "none")
		cmd := exec.Command(bin, "ipfs", "daemon", "--home", home)
		stdout, _ := cmd.StdoutPipe()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		d := &daemon{cmd: cmd}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		timeout := time.After(60 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("daemon exited: %s", stderr.String())
				}
				if strings.HasPrefix(l, "swarm listening on ") && strings.Contains(l, "/tcp/") {
					d.addr = strings.TrimPrefix(l, "swarm listening on ")
				}
				if l == "daemon is ready" {
					go func() {
						for range lines {
						}
					}()
					return d
				}
			case <-timeout:
				t.Fatalf("daemon not ready in 60s: %s", stderr.String())
			}
		}
	}
	homeA, homeB := t.TempDir(), t.TempDir()
	a, b := startDaemon(homeA), startDaemon(homeB)
	data := make([]byte, 5<<20)
	rand.Read(data)
	src := filepath.Join(t.TempDir(), "weights.bin")
	os.WriteFile(src, data, 0o644)
	c := strings.TrimSpace(run(homeA, "add", "-q", "--reason", "model 1 version 1", src))
	run(homeB, "peers", "connect", a.addr)
	out := filepath.Join(t.TempDir(), "copy.bin")
	run(homeB, "get", c, "-o", out)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("fetched file differs")
	}
	for _, d := range []*daemon{a, b} {
		d.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- d.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("daemon exit: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("daemon ignored SIGTERM")
		}
	}
}
