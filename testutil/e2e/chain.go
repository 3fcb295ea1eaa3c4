// Package e2e runs the real openledgerd binary against a real single-validator
// chain in a temporary home, on free loopback ports, driven through the CLI with
// JSON output. Every process it starts is stopped by t.Cleanup.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// ChainID of every test chain.
	ChainID = "openledger-local-1"
	// Denom is the base denom.
	Denom = "uopen"
	// DefaultFees pays for one ordinary tx at the default minimum gas price.
	DefaultFees = "2000uopen"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// Binary returns the openledgerd binary to test: $OPENLEDGERD_BIN when set (the
// Makefile builds it once), else one built once per test process into one shared
// place, <tmp>/openledgerd-e2e-bin/openledgerd (built beside it, then renamed over
// it: test processes running at once each see a whole binary, and no run leaves a
// 200 MB copy behind).
func Binary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("OPENLEDGERD_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("OPENLEDGERD_BIN=%s: %v", bin, err)
		}
		return bin
	}
	buildOnce.Do(func() {
		dir := filepath.Join(os.TempDir(), "openledgerd-e2e-bin")
		if buildErr = os.MkdirAll(dir, 0o755); buildErr != nil {
			return
		}
		tmp := filepath.Join(dir, fmt.Sprintf("openledgerd.%d", os.Getpid()))
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-o", tmp, "./cmd/openledgerd")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			_ = os.Remove(tmp)
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		builtBin = filepath.Join(dir, "openledgerd")
		buildErr = os.Rename(tmp, builtBin)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// Chain is a running single-validator chain.
type Chain struct {
	t       testing.TB
	Bin     string
	Home    string
	RPCPort int
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
}

// Account names funded in genesis.
var Accounts = []string{"alice", "bob", "carol"}

// StartChain initialises a chain in a temp home with funded keys alice, bob and
// carol, starts it with 200 ms blocks and waits for the first block.
func StartChain(t testing.TB) *Chain {
	t.Helper()
	return StartChainWithGenesis(t, nil)
}

// StartChainWithGenesis is StartChain with edit applied to the genesis app_state
// (module name → its decoded JSON, numbers as json.Number) after the gentxs are
// collected and before the node starts; tests use it to set module params.
func StartChainWithGenesis(t testing.TB, edit func(appState map[string]any)) *Chain {
	t.Helper()
	c := &Chain{t: t, Bin: Binary(t), Home: t.TempDir(), done: make(chan struct{})}
	ports := freePorts(t, 4)
	c.RPCPort = ports[0]

	c.mustRun("init", "e2e", "--chain-id", ChainID)
	for _, k := range Accounts {
		c.mustRun("keys", "add", k, "--keyring-backend", "test", "--output", "json")
		c.mustRun("genesis", "add-genesis-account", k, "1000000000000"+Denom, "--keyring-backend", "test")
	}
	c.mustRun("genesis", "gentx", "alice", "100000000000"+Denom, "--chain-id", ChainID, "--keyring-backend", "test")
	c.mustRun("genesis", "collect-gentxs")
	if edit != nil {
		editGenesis(t, filepath.Join(c.Home, "config", "genesis.json"), edit)
	}

	cfg := filepath.Join(c.Home, "config", "config.toml")
	editFile(t, cfg, map[string]string{
		`(?m)^timeout_commit = .*$`:             `timeout_commit = "200ms"`,
		`(?m)^timeout_propose = .*$`:            `timeout_propose = "1s"`,
		`(?m)^laddr = "tcp://127.0.0.1:26657"$`: fmt.Sprintf(`laddr = "tcp://127.0.0.1:%d"`, ports[0]),
		`(?m)^laddr = "tcp://0.0.0.0:26656"$`:   fmt.Sprintf(`laddr = "tcp://127.0.0.1:%d"`, ports[1]),
		`(?m)^pprof_laddr = .*$`:                `pprof_laddr = ""`,
		`(?m)^proxy_app = .*$`:                  fmt.Sprintf(`proxy_app = "tcp://127.0.0.1:%d"`, ports[3]),
	})
	app := filepath.Join(c.Home, "config", "app.toml")
	editFile(t, app, map[string]string{
		`(?m)^address = "localhost:9090"$`: fmt.Sprintf(`address = "127.0.0.1:%d"`, ports[2]),
	})

	c.logPath = filepath.Join(c.Home, "node.log")
	logFile, err := os.Create(c.logPath)
	if err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(c.Bin, "start", "--home", c.Home)
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = c.cmd.Wait()
		logFile.Close()
		close(c.done)
	}()
	t.Cleanup(c.Stop)
	c.WaitForHeight(2, 60*time.Second)
	return c
}

// Stop terminates the node (SIGTERM, then SIGKILL after 10 s).
func (c *Chain) Stop() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	}
}

// Log returns the tail of the node log, for failure messages.
func (c *Chain) Log() string {
	bz, _ := os.ReadFile(c.logPath)
	if len(bz) > 4000 {
		bz = bz[len(bz)-4000:]
	}
	return string(bz)
}

// Run runs the binary with --home and returns stdout; stderr joins the error.
func (c *Chain) Run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Bin, append(args, "--home", c.Home)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("openledgerd %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

func (c *Chain) mustRun(args ...string) string {
	c.t.Helper()
	out, err := c.Run(args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c *Chain) node() string { return fmt.Sprintf("tcp://127.0.0.1:%d", c.RPCPort) }

// Query runs `query ARGS... -o json` against the node and decodes the JSON into out.
func (c *Chain) Query(out any, args ...string) error {
	stdout, err := c.Run(append(append([]string{"query"}, args...), "--node", c.node(), "--output", "json")...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(stdout), out); err != nil {
		return fmt.Errorf("query %v: decode %q: %w", args, stdout, err)
	}
	return nil
}

// MustQuery is Query that fails the test on error.
func (c *Chain) MustQuery(out any, args ...string) {
	c.t.Helper()
	if err := c.Query(out, args...); err != nil {
		c.t.Fatalf("%v\nnode log:\n%s", err, c.Log())
	}
}

// TxResult is the part of a tx result the tests read.
type TxResult struct {
	TxHash string `json:"txhash"`
	Code   int    `json:"code"`
	RawLog string `json:"raw_log"`
	Height string `json:"height"`
	Events []struct {
		Type       string `json:"type"`
		Attributes []struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"attributes"`
	} `json:"events"`
}

// Attr returns the first value of an event attribute, with JSON quotes removed.
func (r TxResult) Attr(eventType, key string) string {
	for _, e := range r.Events {
		if e.Type != eventType {
			continue
		}
		for _, a := range e.Attributes {
			if a.Key == key {
				return strings.Trim(a.Value, `"`)
			}
		}
	}
	return ""
}

// Tx signs and broadcasts `tx ARGS...` from a key, waits until it is in a block,
// and returns the delivered result. A CheckTx or DeliverTx failure is an error
// carrying the chain's log.
func (c *Chain) Tx(from string, args ...string) (TxResult, error) {
	full := append([]string{"tx"}, args...)
	full = append(full, "--from", from, "--keyring-backend", "test", "--chain-id", ChainID,
		"--node", c.node(), "--fees", DefaultFees, "--gas", "400000", "--yes", "--output", "json")
	stdout, err := c.Run(full...)
	if err != nil {
		return TxResult{}, err
	}
	var res TxResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		return res, fmt.Errorf("tx %v: decode %q: %w", args, stdout, err)
	}
	if res.Code != 0 {
		return res, fmt.Errorf("tx %v rejected in CheckTx (code %d): %s", args, res.Code, res.RawLog)
	}
	return c.WaitTx(res.TxHash)
}

// MustTx is Tx that fails the test on error.
func (c *Chain) MustTx(from string, args ...string) TxResult {
	c.t.Helper()
	res, err := c.Tx(from, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return res
}

// WaitTx polls for a tx by hash until it is in a block (30 s at most).
func (c *Chain) WaitTx(hash string) (TxResult, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var res TxResult
		err := c.Query(&res, "tx", hash)
		if err == nil {
			if res.Code != 0 {
				return res, fmt.Errorf("tx %s failed (code %d): %s", hash, res.Code, res.RawLog)
			}
			return res, nil
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("tx %s not in a block after 30s: %v", hash, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Address returns the bech32 address of a test key.
func (c *Chain) Address(name string) string {
	c.t.Helper()
	return strings.TrimSpace(c.mustRun("keys", "show", name, "-a", "--keyring-backend", "test"))
}

// Height returns the latest block height.
func (c *Chain) Height() (int64, error) {
	out, err := c.Run("status", "--node", c.node())
	if err != nil {
		return 0, err
	}
	var st struct {
		SyncInfo struct {
			LatestBlockHeight string `json:"latest_block_height"`
		} `json:"sync_info"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return 0, fmt.Errorf("status: %w: %s", err, out)
	}
	return strconv.ParseInt(st.SyncInfo.LatestBlockHeight, 10, 64)
}

// WaitForHeight waits until the chain reaches height h.
func (c *Chain) WaitForHeight(h int64, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, err := c.Height()
		if err == nil && got >= h {
			return
		}
		select {
		case <-c.done:
			c.t.Fatalf("node exited before height %d\n%s", h, c.Log())
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("height %d not reached in %s (last %d, err %v)\n%s", h, timeout, got, err, c.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func editFile(t testing.TB, path string, repl map[string]string) {
	t.Helper()
	bz, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(bz)
	for pattern, with := range repl {
		re := regexp.MustCompile(pattern)
		if !re.MatchString(s) {
			t.Fatalf("%s: no line matches %s", path, pattern)
		}
		s = re.ReplaceAllString(s, with)
	}
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// editGenesis applies edit to the app_state of a genesis file.
func editGenesis(t testing.TB, path string, edit func(appState map[string]any)) {
	t.Helper()
	bz, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var gen map[string]any
	dec := json.NewDecoder(bytes.NewReader(bz))
	dec.UseNumber()
	if err := dec.Decode(&gen); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	appState, ok := gen["app_state"].(map[string]any)
	if !ok {
		t.Fatalf("%s: no app_state object", path)
	}
	edit(appState)
	out, err := json.MarshalIndent(gen, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// freePorts reserves n distinct free loopback TCP ports.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}
