package e2e_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// checkGatewayFeedback runs on the localnet of TestGatewayLocalnetRealEngine
// once session 1 (the gateway's n requests) is settled: feedback on request 3
// (a plain chat request) with a preferred completion and on request 2 (a
// streamed completion) as a rating go through POST /v1/feedback; the gateway
// submits both from the requester key with the receipts' proofs; `query models
// feedback` shows them (the preference record on IPFS, contributed to the
// deployment's feedback datanet); a second rating is 409; then `openledgerd
// feedback rate session:1:4 +1` finds its receipt and proof in the gateway's
// store by itself.
func checkGatewayFeedback(t *testing.T, bin, home, url, requester string) {
	t.Helper()
	post := func(body string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Post(url+"/feedback", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return resp.StatusCode, m
	}
	const preferred = "The sea is calm and the fortune is kind."
	if st, m := post(`{"request":"session:1:3","rating":-1,"preferred":"` + preferred + `"}`); st != http.StatusAccepted || m["id"] != "fb-1-3" {
		t.Fatalf("POST /v1/feedback: %d %v", st, m)
	}
	if st, m := post(`{"request":"session:1:2","rating":1}`); st != http.StatusAccepted || m["id"] != "fb-1-2" {
		t.Fatalf("POST /v1/feedback: %d %v", st, m)
	}
	if st, m := post(`{"request":"session:1:2","rating":-1}`); st != http.StatusConflict {
		t.Fatalf("a second rating: %d %v", st, m)
	}
	if st, m := post(`{"request":"session:1:9999","rating":1}`); st != http.StatusNotFound {
		t.Fatalf("an unknown request: %d %v", st, m)
	}
	status := func(id string) map[string]any {
		t.Helper()
		resp, err := http.Get(url + "/feedback/" + id)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return m
	}
	for _, id := range []string{"fb-1-3", "fb-1-2"} {
		deadline := time.Now().Add(90 * time.Second)
		for {
			m := status(id)
			if m["status"] == "submitted" {
				if m["tx_hash"] == "" || m["settlement"] == nil {
					t.Fatalf("%s: %v", id, m)
				}
				break
			}
			if m["status"] == "refused" || time.Now().After(deadline) {
				t.Fatalf("%s not submitted: %v", id, m)
			}
			time.Sleep(time.Second)
		}
	}
	query := func(seq string) map[string]any {
		t.Helper()
		out, err := exec.Command(bin, "query", "models", "feedback", "--session-id", "1", "--request-seq", seq, "-o", "json", "--home", home).Output()
		if err != nil {
			t.Fatalf("query models feedback %s: %v", seq, err)
		}
		var r struct {
			Feedback map[string]any `json:"feedback"`
		}
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return r.Feedback
	}
	set := func(v any) bool { return v != nil && v != "" && v != "0" }
	fb := query("3")
	if fb["rater"] != requester || fb["rating"] != "FEEDBACK_RATING_DOWN" || !set(fb["record_cid"]) || !set(fb["chosen_cid"]) ||
		!set(fb["rejected_cid"]) || !set(fb["contribution_id"]) {
		t.Fatalf("feedback on request 3: %v", fb)
	}
	cat, err := exec.Command(bin, "ipfs", "cat", fb["chosen_cid"].(string), "--home", home).Output()
	if err != nil || string(cat) != preferred {
		t.Fatalf("chosen completion %q %v", cat, err)
	}
	record, err := exec.Command(bin, "ipfs", "cat", fb["record_cid"].(string), "--home", home).Output()
	if err != nil || !strings.Contains(string(record), `"chosen":"`+preferred+`"`) || !strings.Contains(string(record), `"messages"`) {
		t.Fatalf("preference record %q %v", record, err)
	}
	if fb := query("2"); fb["rater"] != requester || fb["rating"] != "FEEDBACK_RATING_UP" || set(fb["record_cid"]) {
		t.Fatalf("feedback on request 2: %v", fb)
	}

	// The porcelain: no --settlement, --receipt, --proof.
	out, err := exec.Command(bin, "feedback", "rate", "session:1:4", "+1", "--from", "requester", "--keyring-backend", "test",
		"--chain-id", "openledger-local-1", "--fees", "2000uopen", "-y", "-o", "json", "--home", home).CombinedOutput()
	if err != nil {
		t.Fatalf("feedback rate: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := exec.Command(bin, "query", "models", "feedback", "--session-id", "1", "--request-seq", "4", "-o", "json", "--home", home)
		if b, err := c.Output(); err == nil && strings.Contains(string(b), "FEEDBACK_RATING_UP") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("feedback rate session:1:4 did not land: %s", out)
		}
		time.Sleep(time.Second)
	}
}
