package e2e_test

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openledger/openledger/testutil/e2e"
)

// TestDemoLocalnet runs what a newcomer runs: scripts/localnet.sh (a fresh chain,
// its IPFS node, the demo model built from a dataset version of the corpus and
// deployed, a provider daemon serving it), then `openledgerd demo` against it.
// The demo fails unless the job finalises with a receipt, the receipt's
// attribution record fetched from IPFS recomputes byte for byte under
// `attribution verify`, and each claim pays exactly what was pending; the test
// checks its output says so. The localnet uses its fixed loopback ports, so the
// test skips when one is taken (a localnet already running).
func TestDemoLocalnet(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts the localnet")
	}
	for _, port := range []string{"26657", "9090", "5101", "7101", "4101"} {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 200*time.Millisecond); err == nil {
			c.Close()
			t.Skipf("127.0.0.1:%s is in use (a localnet running?): the localnet needs its fixed ports", port)
		}
	}
	bin := e2e.Binary(t)
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	home := filepath.Join(t.TempDir(), "localnet")
	var out bytes.Buffer
	cmd := exec.Command(filepath.Join(root, "scripts", "localnet.sh"))
	cmd.Env = append(os.Environ(), "BIN="+bin, "LOCALNET_HOME="+home, "DEMO_CACHE="+filepath.Join(t.TempDir(), "cache"))
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGINT) // the script stops its children
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			for _, f := range []string{"setup.log", "provider.log"} {
				bz, _ := os.ReadFile(filepath.Join(home, f))
				if len(bz) > 6000 {
					bz = bz[len(bz)-6000:]
				}
				t.Logf("%s:\n%s", f, bz)
			}
		}
	})
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(out.String(), "Next: make demo") {
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("localnet.sh exited (%v):\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the localnet was not up in 3 minutes:\n%s", out.String())
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("localnet up in %s", time.Since(start).Round(time.Second))
	for _, want := range []string{"datanet 1 is DATANET_STATUS_READY", "deployment 1 ACTIVE", "Provider      operator open1"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("localnet output lacks %q:\n%s", want, out.String())
		}
	}

	demo := exec.Command(bin, "demo", "--home", home)
	demoOut, err := demo.CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, demoOut)
	}
	s := string(demoOut)
	t.Logf("demo output:\n%s", s)
	for _, want := range []string{
		"won by the provider daemon", "FINALIZED: the requester paid", "recomputes byte for byte", "went from prompt to paid contributors",
	} {
		if !strings.Contains(s, want) {
			t.Fatalf("demo output lacks %q", want)
		}
	}
	claims := regexp.MustCompile(`→ (\w+) received (\d+)uopen \(pending was (\d+)uopen\)`).FindAllStringSubmatch(s, -1)
	if len(claims) == 0 {
		t.Fatal("no claim paid")
	}
	for _, c := range claims {
		if c[2] != c[3] {
			t.Fatalf("%s's claim paid %s, pending was %s", c[1], c[2], c[3])
		}
	}
	stop()
	t.Logf("done in %s", time.Since(start).Round(time.Second))
}
