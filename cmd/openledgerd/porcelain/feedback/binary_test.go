package feedback_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/openledger/openledger/cmd/openledgerd/porcelain/feedback"
	"github.com/openledger/openledger/testutil/e2e"
)

// TestPreferBinary runs the real binary without a chain: `feedback prefer` with the
// prompt and the rejected output given writes the record into a fresh IPFS repo and
// prints an unsigned MsgSubmitFeedback whose record CID, digest and size match the
// record `ipfs cat` returns; `feedback rate` prints a rating-only msg.
func TestPreferBinary(t *testing.T) {
	bin := e2e.Binary(t)
	home := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append(args, "--home", home)...).Output()
		if err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				t.Fatalf("%v: %v\n%s", args, err, ee.Stderr)
			}
			t.Fatalf("%v: %v", args, err)
		}
		return string(out)
	}
	run("ipfs", "init")
	run("keys", "add", "alice", "--keyring-backend", "test")
	tx := []string{"--from", "alice", "--keyring-backend", "test", "--chain-id", e2e.ChainID, "--generate-only"}

	out := run(append([]string{"feedback", "prefer", "job:12", "--text", "saves nine", "--prompt", "A stitch in time",
		"--rejected", "saves time"}, tx...)...)
	msg := onlyMsg(t, out)
	want, err := feedback.Record("A stitch in time", "saves nine", "saves time", false)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(want)
	if msg["@type"] != "/openledger.models.v1.MsgSubmitFeedback" || msg["job_id"] != "12" || msg["rating"] != "FEEDBACK_RATING_DOWN" ||
		msg["record_sha256"] != hex.EncodeToString(sum[:]) || msg["record_size"] != strconv.Itoa(len(want)) {
		t.Fatalf("msg %v", msg)
	}
	cid, _ := msg["record_cid"].(string)
	if got := run("ipfs", "cat", cid); got != string(want) {
		t.Fatalf("ipfs cat %s = %q, want %q", cid, got, want)
	}
	if got := run("ipfs", "cat", msg["chosen_cid"].(string)); got != "saves nine" || msg["preferred_completion_cid"] != msg["chosen_cid"] {
		t.Fatalf("chosen %q, msg %v", got, msg)
	}
	if got := run("ipfs", "cat", msg["rejected_cid"].(string)); got != "saves time" {
		t.Fatalf("rejected %q", got)
	}

	rate := onlyMsg(t, run(append([]string{"feedback", "rate", "7", "+1"}, tx...)...))
	if rate["job_id"] != "7" || rate["rating"] != "FEEDBACK_RATING_UP" || rate["record_cid"] != "" {
		t.Fatalf("rate msg %v", rate)
	}
	// -1 is a rating, not a flag, wherever it stands.
	for _, args := range [][]string{{"rate", "7", "-1"}, {"rate", "-1", "7"}, {"rate", "7", "down"}} {
		down := onlyMsg(t, run(append(append([]string{"feedback"}, args...), tx...)...))
		if down["job_id"] != "7" || down["rating"] != "FEEDBACK_RATING_DOWN" {
			t.Fatalf("%v: msg %v", args, down)
		}
	}
	if err := exec.Command(bin, append([]string{"feedback", "rate", "7", "-1", "+1", "--home", home}, tx...)...).Run(); err == nil {
		t.Fatal("rate 7 -1 +1 was accepted")
	}
	// A session request without its settlement, receipt and proof is refused before signing.
	err = exec.Command(bin, append([]string{"feedback", "rate", "session:1:2", "+1", "--home", home}, tx...)...).Run()
	if err == nil {
		t.Fatal("a session request without --settlement/--receipt was accepted")
	}
}

func onlyMsg(t *testing.T, out string) map[string]any {
	t.Helper()
	var tx struct {
		Body struct {
			Messages []map[string]any `json:"messages"`
		} `json:"body"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &tx); err != nil || len(tx.Body.Messages) != 1 {
		t.Fatalf("not one unsigned tx: %v\n%s", err, out)
	}
	return tx.Body.Messages[0]
}
