package verify_test

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openledger/openledger/testutil/e2e"
)

// TestVerifyReceiptOnLocalnet: the localnet (scripts/localnet.sh: a fresh
// chain, its IPFS node, the demo model trained from a dataset version with its
// span index, deployed, and a provider daemon serving it), `openledgerd demo`
// takes a job to FINALIZED through the daemon, then `openledgerd verify
// receipt` re-executes it from the chain's and IPFS's data alone: every claim
// holds, in text and JSON, exit 0. The localnet uses fixed loopback ports: the
// test skips when one is taken.
func TestVerifyReceiptOnLocalnet(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts the localnet")
	}
	ln := e2e.StartLocalnet(t, e2e.LocalnetOptions{FreshModel: true, Timeout: 4 * time.Minute, Logs: []string{"provider.log"}})
	bin, home := ln.Bin, ln.Home

	demoOut, err := exec.Command(bin, "demo", "--home", home).CombinedOutput()
	if err != nil || !strings.Contains(string(demoOut), "FINALIZED: the requester paid") {
		t.Fatalf("demo: %v\n%s", err, demoOut)
	}
	m := regexp.MustCompile(`→ job (\d+) `).FindStringSubmatch(string(demoOut))
	if m == nil {
		t.Fatalf("no job id in the demo's output:\n%s", demoOut)
	}
	job := m[1]

	text, err := exec.Command(bin, "verify", "receipt", job, "--home", home).CombinedOutput()
	t.Logf("verify receipt %s:\n%s", job, text)
	if err != nil {
		t.Fatalf("verify receipt %s: %v", job, err)
	}
	for _, want := range []string{"checked by re-execution", "output       ok", "attribution  ok", "usage        ok",
		"re-execution gives the same bytes", "the recomputed record is the one on IPFS", "Every claim holds."} {
		if !strings.Contains(string(text), want) {
			t.Fatalf("verify output lacks %q", want)
		}
	}

	js, err := exec.Command(bin, "verify", "receipt", job, "--home", home, "--output", "json").Output()
	if err != nil {
		t.Fatalf("verify receipt --output json: %v", err)
	}
	var v struct {
		OK         bool   `json:"ok"`
		Mismatch   bool   `json:"mismatch"`
		Method     string `json:"method"`
		JobStatus  string `json:"job_status"`
		Recomputed struct {
			OutputSHA256     string `json:"output_sha256"`
			CompletionTokens uint64 `json:"completion_tokens"`
		} `json:"recomputed"`
	}
	if err := json.Unmarshal(js, &v); err != nil {
		t.Fatalf("%v\n%s", err, js)
	}
	if !v.OK || v.Mismatch || v.Method != "re-execution" || v.JobStatus != "JOB_STATUS_FINALIZED" ||
		len(v.Recomputed.OutputSHA256) != 64 || v.Recomputed.CompletionTokens == 0 {
		t.Fatalf("json verdict: %s", js)
	}

	// A job without a receipt is refused with its status.
	if out, err := exec.Command(bin, "verify", "receipt", "999", "--home", home).CombinedOutput(); err == nil {
		t.Fatalf("verify of a missing job succeeded:\n%s", out)
	}
}
