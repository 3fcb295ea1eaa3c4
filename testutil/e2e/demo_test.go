package e2e_test

import (
	"os/exec"
	"regexp"
	"strings"
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
	start := time.Now()
	ln := e2e.StartLocalnet(t, e2e.LocalnetOptions{FreshModel: true, Timeout: 3 * time.Minute})
	bin, home, stop := ln.Bin, ln.Home, ln.Stop
	for _, want := range []string{"datanet 1 is DATANET_STATUS_READY", "deployment 1 ACTIVE", "Provider      operator open1"} {
		if !strings.Contains(ln.Output(), want) {
			t.Fatalf("localnet output lacks %q:\n%s", want, ln.Output())
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
