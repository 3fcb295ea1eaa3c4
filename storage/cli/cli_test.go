package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/openledger/openledger/storage"
)

// root mimics openledgerd's root command: a persistent --home flag.
func root(home string) *cobra.Command {
	r := &cobra.Command{Use: "openledgerd", SilenceErrors: true, SilenceUsage: true}
	r.PersistentFlags().String("home", home, "node home")
	r.AddCommand(NewIPFSCommand())
	return r
}

func run(t *testing.T, home string, stdin string, args ...string) (string, error) {
	t.Helper()
	return runCtx(context.Background(), home, stdin, args...)
}

func runCtx(ctx context.Context, home, stdin string, args ...string) (string, error) {
	r := root(home)
	var out, errb bytes.Buffer
	r.SetOut(&out)
	r.SetErr(&errb)
	r.SetIn(strings.NewReader(stdin))
	r.SetArgs(append([]string{"ipfs"}, args...))
	err := r.ExecuteContext(ctx)
	return out.String(), err
}

func mustRun(t *testing.T, home, stdin string, args ...string) string {
	t.Helper()
	out, err := run(t, home, stdin, args...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return out
}

func TestOfflineCommands(t *testing.T) {
	home := t.TempDir()
	if out := mustRun(t, home, "", "init", "--loopback"); !strings.Contains(out, "peer identity: 12D3Koo") {
		t.Fatalf("init: %s", out)
	}
	// stdin add with kubo's CID for "hello world".
	cidHello := strings.TrimSpace(mustRun(t, home, "hello world", "add", "-q", "--reason", "greeting", "-"))
	if cidHello != "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e" {
		t.Fatalf("stdin add: %q", cidHello)
	}
	if out := mustRun(t, home, "hello world", "add", "--sha256", "-"); !strings.Contains(out, "sha256 b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9") {
		t.Fatalf("add --sha256: %s", out)
	}
	if out := mustRun(t, home, "", "cat", cidHello); out != "hello world" {
		t.Fatalf("cat: %q", out)
	}
	src := filepath.Join(t.TempDir(), "dataset")
	os.MkdirAll(filepath.Join(src, "part"), 0o755)
	os.WriteFile(filepath.Join(src, "part", "rows.jsonl"), []byte(`{"q":"a"}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(src, "README"), []byte("dataset\n"), 0o644)
	out := mustRun(t, home, "", "add", "-r", "--reason", "datanet 3 contribution 17", src)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := strings.Fields(lines[len(lines)-1])
	if len(lines) != 4 || last[0] != "added" || last[2] != "dataset" {
		t.Fatalf("add -r output:\n%s", out)
	}
	dirCID := last[1]
	dest := filepath.Join(t.TempDir(), "copy")
	mustRun(t, home, "", "get", dirCID, "-o", dest)
	if b, _ := os.ReadFile(filepath.Join(dest, "part", "rows.jsonl")); string(b) != `{"q":"a"}`+"\n" {
		t.Fatalf("get: %q", b)
	}
	if out := mustRun(t, home, "", "pin", "ls"); !strings.Contains(out, "datanet 3 contribution 17") || !strings.Contains(out, "greeting") {
		t.Fatalf("pin ls: %s", out)
	}
	car := filepath.Join(t.TempDir(), "ds.car")
	mustRun(t, home, "", "car", "export", dirCID, "-o", car)
	mustRun(t, home, "", "pin", "rm", dirCID)
	if out := mustRun(t, home, "", "gc"); !strings.Contains(out, "removed 4 blocks") {
		t.Fatalf("gc: %s", out)
	}
	if out := mustRun(t, home, "", "car", "import", car, "--reason", "restore"); !strings.Contains(out, "pinned root "+dirCID) {
		t.Fatalf("car import: %s", out)
	}
	if out := mustRun(t, home, "", "stat", dirCID); !strings.Contains(out, `"type": "directory"`) {
		t.Fatalf("stat: %s", out)
	}
	if out := mustRun(t, home, "", "repo", "verify"); !strings.Contains(out, "0 corrupt") {
		t.Fatalf("verify: %s", out)
	}
	if out := mustRun(t, home, "", "id"); !strings.Contains(out, `"online": false`) {
		t.Fatalf("id: %s", out)
	}
}

func TestCommandErrors(t *testing.T) {
	home := t.TempDir()
	if _, err := run(t, home, "", "cat", "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"); err == nil || !strings.Contains(err.Error(), "ipfs init") {
		t.Fatalf("no repo: %v", err)
	}
	mustRun(t, home, "", "init", "--loopback")
	if _, err := run(t, home, "", "init"); err == nil || !strings.Contains(err.Error(), "already") {
		t.Fatalf("double init: %v", err)
	}
	dir := t.TempDir()
	unreadable := filepath.Join(dir, "secret")
	os.WriteFile(unreadable, []byte("x"), 0o000)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"add", filepath.Join(dir, "missing.bin")}, "no such file"},
		{[]string{"add", dir}, "use -r"},
		{[]string{"add"}, "expected 1 argument"},
		{[]string{"cat", "not-a-cid"}, "invalid CID"},
		{[]string{"cat", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"}, "offline"},
		{[]string{"get", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"}, "-o"},
		{[]string{"get", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", "-o", dir}, "already exists"},
		{[]string{"get", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", "-o", "/nonexistent/dir/out"}, "parent directory"},
		{[]string{"pin", "rm", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"}, "not pinned"},
		{[]string{"car", "import", filepath.Join(dir, "nope.car")}, "cannot read"},
		{[]string{"car", "export", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"}, "-o"},
		{[]string{"peers", "connect", "/ip4/127.0.0.1/tcp/1"}, "/p2p/"},
		{[]string{"peers", "ls"}, "offline"},
	} {
		_, err := run(t, home, "", tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: want error containing %q, got %v", tc.args, tc.want, err)
		}
	}
	if os.Geteuid() != 0 { // root reads any file, so this case only exists for other users
		if _, err := run(t, home, "", "add", unreadable); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("unreadable file: %v", err)
		}
	}
}

func TestCommandsThroughDaemon(t *testing.T) {
	home := t.TempDir()
	mustRun(t, home, "", "init", "--loopback", "--dht", "none")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := runCtx(ctx, home, "", "daemon"); done <- err }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon exit: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("daemon did not stop")
		}
	}()
	apiFile := filepath.Join(storage.RepoPath(home), storage.APIFile)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(apiFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("daemon did not write its api file")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The repo is locked by the daemon; commands must go through its API.
	c := strings.TrimSpace(mustRun(t, home, "via the daemon", "add", "-q", "-"))
	if out := mustRun(t, home, "", "cat", c); out != "via the daemon" {
		t.Fatalf("cat via daemon: %q", out)
	}
	if out := mustRun(t, home, "", "id"); !strings.Contains(out, `"online": true`) || !strings.Contains(out, "/ip4/127.0.0.1/") {
		t.Fatalf("id via daemon: %s", out)
	}
	if out := mustRun(t, home, "", "peers", "ls"); out != "" {
		t.Fatalf("peers ls: %q", out)
	}
	if _, err := run(t, home, "", "pin", "rm", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"); err == nil || !strings.Contains(err.Error(), "not pinned") {
		t.Fatalf("pin rm via daemon: %v", err)
	}
}
