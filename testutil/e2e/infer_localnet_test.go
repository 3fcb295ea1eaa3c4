package e2e_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// checkInfer runs `openledgerd infer` against the running localnet (chain,
// provider daemon with the built-in engine): a one-off call from its own home
// (with carol's key, so it does not race the localnet gateway's requester
// sequence) that opens a session, streams the completion to stdout and prints
// a receipt whose output digest is the digest of stdout; a second call reuses
// the session (the same persisted state) over libp2p; then the
// errors: a missing deployment, an unknown alias, an account with no funds, a
// second process on the same home.
func checkInfer(t *testing.T, bin, localnetHome string) {
	t.Helper()
	checkModels(t)
	home := t.TempDir()
	pauperHome := t.TempDir() // its own sessions: a home's sessions are reused whoever --from is
	infer := func(keyringDir, from string, args ...string) (string, string, error) {
		h := home
		if from == "pauper" {
			h = pauperHome
		}
		c := exec.Command(bin, append([]string{"infer", "--home", h, "--keyring-dir", keyringDir, "--keyring-backend", "test",
			"--from", from, "--chain-id", "openledger-local-1", "--budget", "50000000uopen", "--alias", "demo=1"}, args...)...)
		var stdout, stderr bytes.Buffer
		c.Stdout, c.Stderr = &stdout, &stderr
		err := c.Run()
		return stdout.String(), stderr.String(), err
	}
	receiptRE := regexp.MustCompile(`receipt: provider (\S+) \((\S+)\), session (\d+), request (\d+): (\d+) prompt \+ (\d+) completion tokens, (\d+)uopen .* output sha256 ([0-9a-f]{64})`)
	for i, want := range []struct{ scheme, session, request string }{{"http://", "2", "1"}, {"libp2p://", "2", "2"}} {
		args := []string{"--deployment", "demo", "--max-tokens", "12", "--seed", "7", "The sea"}
		if i == 1 {
			// Over libp2p: the provider daemon's /openledger/inference/1.0.0 at
			// its registered multiaddrs, the same session.
			args = []string{"--deployment", "1", "--chat", "--max-tokens", "12", "--transport", "p2p", "Tell me a fortune"}
		}
		stdout, stderr, err := infer(localnetHome, "carol", args...)
		if err != nil {
			t.Fatalf("infer %d: %v\nstdout %q\nstderr %s", i, err, stdout, stderr)
		}
		if strings.Contains(stderr, "recovered") {
			t.Fatalf("infer %d: the previous call's receipt was not kept:\n%s", i, stderr)
		}
		m := receiptRE.FindStringSubmatch(stderr)
		if m == nil {
			t.Fatalf("infer %d: no receipt summary in stderr:\n%s", i, stderr)
		}
		text := strings.TrimSuffix(stdout, "\n") // the newline infer adds after a completion without one
		sum := sha256.Sum256([]byte(text))
		if sum2 := sha256.Sum256([]byte(stdout)); m[8] != hex.EncodeToString(sum[:]) && m[8] != hex.EncodeToString(sum2[:]) {
			t.Fatalf("infer %d: receipt digest %s is not the digest of stdout %q", i, m[8], stdout)
		}
		if !strings.HasPrefix(m[2], want.scheme) || m[3] != want.session || m[4] != want.request || m[6] == "0" || m[7] == "0" {
			t.Fatalf("infer %d: %s", i, m[0])
		}
		t.Logf("infer %d: %q — %s", i, stdout, m[0])
	}

	for _, tc := range []struct {
		name       string
		keyringDir string
		from       string
		args       []string
		want       string
	}{
		{"missing deployment", localnetHome, "carol", []string{"--deployment", "99", "x"}, "deployment 99 does not exist"},
		{"unknown alias", localnetHome, "carol", []string{"--deployment", "nosuch", "x"}, "neither a deployment id nor an --alias name"},
		{"no funds", pauperHome, "pauper", []string{"--deployment", "1", "x"}, "no funds"},
	} {
		if tc.from == "pauper" {
			if b, err := exec.Command(bin, "keys", "add", "pauper", "--keyring-backend", "test", "--keyring-dir", pauperHome, "--home", pauperHome).CombinedOutput(); err != nil {
				t.Fatalf("keys add: %v: %s", err, b)
			}
		}
		stdout, stderr, err := infer(tc.keyringDir, tc.from, tc.args...)
		if err == nil || !strings.Contains(stderr, tc.want) {
			t.Fatalf("%s: err %v, stderr %q (stdout %q), want %q", tc.name, err, stderr, stdout, tc.want)
		}
	}
	// The localnet gateway holds its home: infer refuses to sign its vouchers.
	c := exec.Command(bin, "infer", "--home", localnetHome, "--keyring-backend", "test", "--from", "requester",
		"--budget", "50000000uopen", "--deployment", "1", "x")
	if b, err := c.CombinedOutput(); err == nil || !strings.Contains(string(b), "another `openledgerd gateway` or `infer`") {
		t.Fatalf("infer on the gateway's home: %v: %s", err, b)
	}
}

// checkModels asks the localnet gateway for its models: the offered
// deployment by id and its alias.
func checkModels(t *testing.T) {
	t.Helper()
	resp, err := http.Get("http://127.0.0.1:8787/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			ID     string `json:"id"`
			Object string `json:"object"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || list.Object != "list" {
		t.Fatalf("GET /v1/models: %v %+v", err, list)
	}
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != "1,demo" {
		t.Fatalf("GET /v1/models lists %v, want the offered deployment 1 and its alias demo", ids)
	}
}
