package e2e

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// LocalnetPorts are the fixed loopback ports scripts/localnet.sh listens on
// (CometBFT RPC, gRPC, the IPFS API, the provider's status, its libp2p port,
// its OpenAI API and the gateway).
var LocalnetPorts = []string{"26657", "9090", "5101", "7101", "4101", "8088", "8787"}

// LocalnetOptions tune StartLocalnet.
type LocalnetOptions struct {
	// FreshModel trains the demo model in a temp cache instead of reusing
	// build/cache/demo (what a newcomer's first run does).
	FreshModel bool
	// Logs are the files of the localnet home printed (their tail) when the
	// test fails; default setup.log and provider.log.
	Logs []string
	// Timeout for the localnet to be up; default 5 minutes.
	Timeout time.Duration
}

// Localnet is scripts/localnet.sh — what `make localnet` runs — in a temp home.
type Localnet struct {
	Bin  string // the openledgerd binary it runs
	Home string // its home (.localnet for `make localnet`)
	out  *lockedBuffer
	stop func()
}

// Output is everything the script printed so far.
func (l *Localnet) Output() string { return l.out.String() }

// Stop stops the script and its children (idempotent; also at cleanup).
func (l *Localnet) Stop() { l.stop() }

// StartLocalnet runs scripts/localnet.sh in a temp home and returns once it
// printed its "Next: make demo" line. The localnet uses fixed loopback ports:
// the test skips when one is taken (a localnet already running).
func StartLocalnet(t *testing.T, o LocalnetOptions) *Localnet {
	t.Helper()
	for _, port := range LocalnetPorts {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 200*time.Millisecond); err == nil {
			c.Close()
			t.Skipf("127.0.0.1:%s is in use (a localnet running?): the localnet needs its fixed ports", port)
		}
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.Logs == nil {
		o.Logs = []string{"setup.log", "provider.log"}
	}
	bin := Binary(t)
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	cache := filepath.Join(root, "build", "cache", "demo")
	if o.FreshModel {
		cache = filepath.Join(t.TempDir(), "cache")
	}
	l := &Localnet{Bin: bin, Home: filepath.Join(t.TempDir(), "localnet"), out: &lockedBuffer{}}
	cmd := exec.Command(filepath.Join(root, "scripts", "localnet.sh"))
	cmd.Env = append(os.Environ(), "BIN="+bin, "LOCALNET_HOME="+l.Home, "DEMO_CACHE="+cache)
	cmd.Stdout, cmd.Stderr = l.out, l.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var once sync.Once
	l.stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGINT) // the script stops its children
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-done
			}
		})
	}
	t.Cleanup(func() {
		l.stop()
		if t.Failed() {
			for _, f := range o.Logs {
				bz, _ := os.ReadFile(filepath.Join(l.Home, f))
				if len(bz) > 6000 {
					bz = bz[len(bz)-6000:]
				}
				t.Logf("%s:\n%s", f, bz)
			}
		}
	})
	deadline := time.Now().Add(o.Timeout)
	for !strings.Contains(l.Output(), "Next: make demo") {
		select {
		case err := <-done:
			once.Do(func() {}) // exited: nothing to stop
			t.Fatalf("localnet.sh exited (%v):\n%s", err, l.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the localnet was not up in %s:\n%s", o.Timeout, l.Output())
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("localnet up in %s", time.Since(start).Round(time.Second))
	return l
}

// lockedBuffer is the script's output, written by the exec copier while the
// test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
